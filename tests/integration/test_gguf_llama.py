"""`rlkit export gguf` on a Llama checkpoint (`smollm2-135m`, LFM2 format grafted): llama.cpp's greedy tokens are HF's.

A pretrained model has logit margins large enough that an F32 export must reproduce HF's greedy
tokens exactly; a wrong q/k permutation or tensor mapping changes them within a few tokens.
"""

from __future__ import annotations

import pytest

from rlkit.export import export_gguf
from rlkit.rollout.base import ChatPrompt, SamplingParams
from rlkit.smollm2 import SmolLM2NotInstalled, smollm2_gguf_path

pytestmark = pytest.mark.integration
llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install -e '.[gguf]')")

TOOLS = [{"type": "function", "function": {
    "name": "set_lights", "description": "Switch the lights of one room on or off.",
    "parameters": {"type": "object", "properties": {"room": {"type": "string"}, "state": {"type": "string", "enum": ["on", "off"]}},
                   "required": ["room", "state"]}}}]
PROMPTS = [
    ChatPrompt([{"role": "user", "content": "Write one sentence about the sea."}]),
    ChatPrompt([{"role": "system", "content": "You control a smart home."},
                {"role": "user", "content": "lights off in the bedroom"}], TOOLS),
    ChatPrompt([{"role": "user", "content": "What is 12 plus 30? Answer with the number."}]),
]


@pytest.fixture(scope="module")
def smollm2_dir():
    from rlkit.model import resolve_model_path

    try:
        smollm2_gguf_path()
    except SmolLM2NotInstalled as error:
        pytest.skip(str(error))
    return resolve_model_path("smollm2-135m")


def test_llama_gguf_logits_equal_hf_on_a_small_llama(tmp_path):
    """Teacher-forced logits of a small random Llama: llama.cpp's equal HF's (sharp attention, so q/k order matters)."""
    import numpy as np
    import torch

    from rlkit.chat_format import ensure_chat_format
    from rlkit.export.gguf_llama import permute_qk
    from tests.chatml import chatml_tokenizer, small_llama

    tokenizer = chatml_tokenizer()
    model, tokenizer = ensure_chat_format(small_llama(len(tokenizer)), tokenizer, "auto", "small")
    with torch.no_grad():  # random q/k are small: attention would be uniform whatever the row order
        for name, param in model.named_parameters():
            if "q_proj" in name or "k_proj" in name:
                param.mul_(8)
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    ids = tokenizer("turn the kitchen lights on<|tool_call_start|>", add_special_tokens=False).input_ids
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0].numpy()
    llm = llama_cpp.Llama(str(export_gguf(tmp_path / "m", tmp_path / "m.gguf", "f32")), logits_all=True, n_ctx=64,
                          n_threads=1, verbose=False)
    llm.eval(ids)
    got = np.array(llm.scores[: len(ids)])
    assert np.abs(got - expected).max() < 2e-3 * np.abs(expected).max()
    # The same weights without the q/k reordering are far off: the check can fail.
    q = model.model.layers[0].self_attn.q_proj.weight.detach().numpy()
    assert not np.allclose(permute_qk(q, model.config.num_attention_heads), q)


@pytest.mark.slow  # HF generate + llama.cpp on the 135M model: 225 s measured on 2 shared cores
def test_llama_gguf_greedy_tokens_equal_hf(smollm2_dir, tmp_path):
    import gguf

    from rlkit.model import load_model_and_tokenizer
    from rlkit.rollout.hf import HFRollout
    from rlkit.rollout.llamacpp import LlamaCppRollout

    path = export_gguf(smollm2_dir, tmp_path / "smollm2-f32.gguf", "f32")
    reader = gguf.GGUFReader(str(path))
    assert bytes(reader.fields["general.architecture"].parts[-1]).decode() == "llama"
    assert "output.weight" not in {t.name for t in reader.tensors}  # tied: llama.cpp reuses token_embd

    params = SamplingParams.greedy(max_tokens=24)
    model, tokenizer = load_model_and_tokenizer(smollm2_dir)
    expected = HFRollout(model.eval(), tokenizer).generate(PROMPTS, params)
    got = LlamaCppRollout(path, None, n_threads=2).generate(PROMPTS, params)  # prompts rendered by the GGUF's template
    for prompt, want, have in zip(PROMPTS, expected, got):
        assert have[0].token_ids == want[0].token_ids, (prompt.messages[-1], want[0].text, have[0].text)
    assert len({tuple(group[0].token_ids) for group in expected}) == len(PROMPTS)  # three different answers


def test_a_llama_with_scaled_rope_is_refused_by_name(smollm2_dir, tmp_path):
    import json
    import shutil

    folder = tmp_path / "scaled"
    shutil.copytree(smollm2_dir, folder, ignore=shutil.ignore_patterns("*.safetensors"))
    config = json.loads((folder / "config.json").read_text())
    config["rope_parameters"] = {"rope_type": "llama3", "rope_theta": 1e5, "factor": 8.0}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"rope_type 'llama3' is not supported"):
        export_gguf(folder, tmp_path / "x.gguf", "f16")
