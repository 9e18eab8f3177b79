"""Anti-loop DPO with two processes on CPU against one process with the same global batch.

The pair builder and the jury must run once per prompt across processes: only the main process
samples and judges (the others load its saved pairs), so the log has one "round 0 pairs" line, the
audit one record per prompt, and both runs train on identical pairs. DPO steps then match the
single-process run within the tolerance stated in test_multiprocess_sft.py (same reasoning: same
data, same global batch, gradients averaged across processes; only summation order differs).
The chosen-NLL term is off here: TRL takes its token mean per process, so with two processes it
weights each process's tokens equally rather than each token, a real (small) difference from one
process that this comparison would flag.
"""

from __future__ import annotations

import json

import pytest

from launch_runs import load_weights, max_abs_diff, run_recipe

pytestmark = pytest.mark.integration
PROMPTS = 8


def _dpo_args(model_dir, out, per_device_batch: int) -> list[str]:
    return [
        f"model={model_dir}", "rounds=1", f"data.num_rows={PROMPTS}", "sampling.k=2", "sampling.max_tokens=24",
        "jury.llm_judges=[]", f"jury.cache_dir={out}/judge-cache", "train.steps_per_round=3",
        f"train.batch_size={per_device_batch}", "train.learning_rate=1e-3", "train.logging_steps=1",
        "train.num_threads=1", "train.sft_weight=0", "rollout_batch_size=16", f"output_dir={out}",
    ]


def _audit(out) -> list[dict]:
    return [json.loads(line) for line in (out / "round_0" / "pairs" / "audit.jsonl").read_text().splitlines()]


def test_two_process_dpo_judges_each_prompt_once_and_matches_one_process(tmp_path, tiny_model_dir):
    single, double = tmp_path / "one", tmp_path / "two"
    run_recipe("recipes/dpo_antiloop.py", _dpo_args(tiny_model_dir, single, 2))
    done = run_recipe("recipes/dpo_antiloop.py", _dpo_args(tiny_model_dir, double, 1),
                      accelerate_config="launch/accelerate/cpu_2proc.yaml")
    log = done.stdout + done.stderr
    assert log.count("round 0 pairs:") == 1, "pairs were built by more than one process"

    audit = _audit(double)
    assert len(audit) == PROMPTS and len({r["task_id"] for r in audit}) == PROMPTS  # none lost, none twice
    report = json.loads((double / "round_0" / "pairs" / "report.json").read_text())
    assert report["prompts"] == PROMPTS and report["pairs"] + sum(report["skipped"].values()) == PROMPTS
    assert report["pairs"] >= 2, "too few pairs for the training comparison to mean anything"
    assert audit == _audit(single)  # same seeds, same pairs in both runs

    one, two, init = load_weights(single / "model"), load_weights(double / "model"), load_weights(tiny_model_dir)
    update = max_abs_diff(one, init)
    assert update > 1e-4, "DPO did not move the weights"
    assert max_abs_diff(one, two) <= max(1e-3, 0.05 * update)
