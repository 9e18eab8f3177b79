"""`smollm2-135m`: converted byte-identically from the wheel's GGUF, grafted with the LFM2 format, LoRA-trainable.

The first test to ask for the model converts it into the rlkit cache (35-85 s measured on 2 shared
cores); later ones load it in about a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from rlkit.chat_format import probe_chat_format, probe_conversation, tool_format_token_ids
from rlkit.smollm2 import SmolLM2NotInstalled, SmolLM2Recipe, convert_smollm2, smollm2_gguf_path
from rlkit.train.checkpoint import file_sha256

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gguf_path() -> Path:
    try:
        return smollm2_gguf_path()
    except SmolLM2NotInstalled as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def smollm2_dir(gguf_path) -> Path:
    from rlkit.model import resolve_model_path

    return Path(resolve_model_path("smollm2-135m"))


def tensors(folder: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        return {key: f.get_tensor(key) for key in f.keys()}


def test_conversion_is_byte_identical_on_a_rebuild(smollm2_dir, gguf_path, tmp_path):  # one conversion: 35-70 s
    again = convert_smollm2(gguf_path, tmp_path / "again", SmolLM2Recipe())
    files = sorted(p.name for p in smollm2_dir.iterdir())
    assert files == sorted(p.name for p in again.iterdir())
    assert "model.safetensors" in files
    differing = [name for name in files if file_sha256(again / name) != file_sha256(smollm2_dir / name)]
    assert differing == []


def test_the_folder_is_a_plain_llama_holding_the_ggufs_weights(smollm2_dir, gguf_path):
    import gguf

    config = json.loads((smollm2_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and config["vocab_size"] == 49216  # 49,152 + 11 LFM2 tokens, padded to 64
    assert "quantization_config" not in config  # else transformers would take the folder for a GGUF again
    embedding = tensors(smollm2_dir)["model.embed_tokens.weight"]
    reader = gguf.GGUFReader(str(gguf_path))
    source = next(t for t in reader.tensors if t.name == "token_embd.weight")
    dequantized = torch.from_numpy(gguf.quants.dequantize(source.data, source.tensor_type).copy()).reshape(49152, 576)
    torch.testing.assert_close(embedding[:49152], dequantized, rtol=0, atol=0)
    torch.testing.assert_close(embedding[49152:], dequantized.mean(dim=0).expand(64, -1))  # grafted rows start at the mean


def test_probe_fails_on_smollm2s_own_template_and_passes_on_the_grafted_folder(smollm2_dir, gguf_path):
    from transformers import AutoTokenizer

    own = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    assert probe_chat_format(own) == ["drops the assistant's tool calls"]
    grafted = AutoTokenizer.from_pretrained(smollm2_dir)
    assert probe_chat_format(grafted) == []
    text = grafted.apply_chat_template(probe_conversation(), tokenize=False)
    assert text.startswith("<|endoftext|><|im_start|>system\n")  # no doubled <|im_start|> BOS
    assert [grafted.convert_ids_to_tokens(i) for i in tool_format_token_ids(grafted)][2] == "<|tool_call_start|>"
    assert grafted.bos_token_id == 0 and grafted.eos_token == "<|im_end|>" and grafted.pad_token == "<|pad|>"


def test_native_chat_format_accepts_the_grafted_folder(smollm2_dir):
    from rlkit.model import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer("smollm2-135m", chat_format="native")
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer) == 49216


@pytest.mark.slow  # two LoRA steps of the 135M model through the recipe: 55-150 s measured on 2 shared cores
def test_lora_sft_steps_move_the_adapters_and_the_tool_token_rows(smollm2_dir, tmp_path):
    from rlkit.config import load_config
    from tests.recipes import load_recipe

    recipe = load_recipe("sft")
    config = load_config(recipe.SFTRecipeConfig, REPO / "recipes" / "configs" / "sft.yaml", [
        "model=smollm2-135m", f"output_dir={tmp_path}", "data.kind=next_call", "data.num_rows=2",
        "train.max_steps=2", "train.batch_size=1", "train.learning_rate=1e-3", "train.warmup_steps=0",
        "train.report_to=none", "train.num_threads=2", "lora.enabled=true", "lora.r=4", "lora.alpha=8",
    ])
    model_dir = recipe.main(config)

    base, trained = tensors(smollm2_dir), tensors(model_dir)
    assert base.keys() == trained.keys()
    changed = {key for key in base if not torch.equal(base[key], trained[key])}
    projections = [k for k in base if k.endswith(("q_proj.weight", "v_proj.weight", "down_proj.weight"))]
    assert set(projections) <= changed  # the merged adapters moved every adapted projection
    assert not any("norm" in key for key in changed)  # and nothing LoRA does not train
    rows_before, rows_after = base["model.embed_tokens.weight"], trained["model.embed_tokens.weight"]
    moved = (rows_after != rows_before).any(dim=1).nonzero().flatten().tolist()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    markers = dict(zip(tokenizer.convert_ids_to_tokens(tool_format_token_ids(tokenizer)), tool_format_token_ids(tokenizer)))
    # Exactly the tool-format rows train; the call markers are in every next-call target, so they moved.
    assert set(moved) <= set(markers.values())
    assert {markers["<|tool_call_start|>"], markers["<|tool_call_end|>"], markers["<|tool_list_start|>"]} <= set(moved)
