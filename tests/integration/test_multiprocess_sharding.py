"""Per-prompt work spread over two CPU processes: every item handled exactly once, results in order."""

from __future__ import annotations

import json

import pytest

from launch_runs import run_recipe

pytestmark = pytest.mark.integration


def test_run_sharded_two_processes_each_item_once(tmp_path):
    out = tmp_path / "shards.json"
    run_recipe("tests/integration/launch_shard_probe.py", [str(out)], accelerate_config="launch/accelerate/cpu_2proc.yaml")
    seen = json.loads(out.read_text())
    assert seen["world"] == 2
    assert [r["item"] for r in seen["results"]] == list(range(11))  # none lost, none twice, in order
    assert [r["square"] for r in seen["results"]] == [i * i for i in range(11)]
    assert [r["rank"] for r in seen["results"]] == [0] * 6 + [1] * 5  # shard_bounds(11, r, 2)
