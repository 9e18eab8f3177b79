"""The accelerate/DeepSpeed launch configs load with accelerate's own parser and say what they promise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DistributedType

REPO = Path(__file__).resolve().parents[2]
ACCELERATE = REPO / "launch" / "accelerate"

EXPECTED = {
    "single_gpu.yaml": (DistributedType.NO, 1),
    "multi_gpu.yaml": (DistributedType.MULTI_GPU, 8),
    "deepspeed_zero2.yaml": (DistributedType.DEEPSPEED, 8),
    "deepspeed_zero3.yaml": (DistributedType.DEEPSPEED, 8),
    "fsdp.yaml": (DistributedType.FSDP, 8),
    "cpu_2proc.yaml": (DistributedType.MULTI_GPU, 2),
}


def test_every_config_is_listed_here():
    assert sorted(p.name for p in ACCELERATE.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_loads_with_accelerate(name):
    config = load_config_from_file(str(ACCELERATE / name))
    distributed_type, processes = EXPECTED[name]
    assert config.distributed_type == distributed_type
    assert config.num_processes == processes
    assert config.num_machines == 1
    first_line = (ACCELERATE / name).read_text().splitlines()[0]
    assert first_line.startswith(f"# accelerate launch --config_file launch/accelerate/{name} ")


@pytest.mark.parametrize("name,stage", [("deepspeed_zero2.yaml", 2), ("deepspeed_zero3.yaml", 3)])
def test_deepspeed_configs_point_at_json_of_their_stage(name, stage):
    raw = yaml.safe_load((ACCELERATE / name).read_text())
    json_path = REPO / raw["deepspeed_config"]["deepspeed_config_file"]
    ds = json.loads(json_path.read_text())
    assert ds["zero_optimization"]["stage"] == stage
    # Batch sizes come from the recipe's TrainingArguments, never from a second place.
    assert ds["train_micro_batch_size_per_gpu"] == "auto"
    assert ds["gradient_accumulation_steps"] == "auto"
    assert raw["deepspeed_config"]["zero3_init_flag"] is (stage == 3)


def test_fsdp_wraps_lfm2_decoder_layers():
    import transformers.models.lfm2.modeling_lfm2 as lfm2

    raw = yaml.safe_load((ACCELERATE / "fsdp.yaml").read_text())
    layer_cls = raw["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"]
    assert hasattr(lfm2, layer_cls)


def test_cpu_config_does_not_set_use_cpu():
    # use_cpu makes every process think it runs alone (see the comment in the file).
    assert yaml.safe_load((ACCELERATE / "cpu_2proc.yaml").read_text())["use_cpu"] is False
