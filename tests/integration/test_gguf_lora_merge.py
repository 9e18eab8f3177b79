"""`rlkit export merge`: the merged plain checkpoint computes the adapter model's logits."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from rlkit.export.cli import main as rlkit_main
from rlkit.train.lora import LoraSettings, peft_config

pytestmark = pytest.mark.integration


def test_merged_model_logits_equal_the_adapter_model(tiny_model_dir, tmp_path):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = get_peft_model(base, peft_config(LoraSettings(enabled=True, r=4, alpha=8), base))
    # LoRA's B starts at zero (a no-op adapter); give it weights so merging has something to fold in.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.05)
    model.eval()
    adapter = tmp_path / "adapter"
    model.save_pretrained(adapter)
    tokenizer.save_pretrained(adapter)
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_model_dir)

    merged_dir = tmp_path / "merged"
    assert rlkit_main(["export", "merge", "--adapter", str(adapter), "--out", str(merged_dir)]) == 0

    with safe_open(str(merged_dir / "model.safetensors"), "pt") as handle:
        assert not [k for k in handle.keys() if "lora" in k]
    merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=torch.float32).eval()
    plain = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    ids = tokenizer(["turn on the kitchen light", "what is my balance today"], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model(**ids).logits
        got = merged(**ids).logits
        before = plain(**ids).logits
    assert (expected - before).abs().max() > 1e-3  # the adapter changes the outputs...
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)  # ...and the merged model keeps the change
    assert json.loads((merged_dir / "config.json").read_text())["conv_dim"] == 128  # vLLM's fields (save_merged)


def test_merge_names_a_folder_without_adapter_config(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        rlkit_main(["export", "merge", "--adapter", str(tmp_path), "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    assert f"rlkit: error: {tmp_path / 'adapter_config.json'}: not found" in capsys.readouterr().err
