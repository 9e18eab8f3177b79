"""A real offline wandb run: config, name and metrics are recorded; fake keys from the environment,
the config and the command line appear in none of the files wandb writes."""

from __future__ import annotations

import sys

import pytest

from rlkit.train.tracking import REDACTED, TrackingSettings, finish_run, log_metrics, start_run

pytestmark = pytest.mark.integration

ENV_KEY = "sk-envFAKE0000111122223333"
CONFIG_KEY = "cfgFAKE-4444555566667777"
ARGV_KEY = "argvFAKE-888899990000aaaa"
WANDB_KEY = "f" * 40


def test_offline_run_logs_config_and_metrics_but_no_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("WANDB_API_KEY", WANDB_KEY)
    monkeypatch.setattr(sys, "argv", ["recipes/dpo_antiloop.py", f"jury.api_key={ARGV_KEY}", "train.max_steps=2"])
    config = {"model": "tiny-lfm2", "jury": {"api_key": CONFIG_KEY, "base_url": "http://127.0.0.1:1/v1"},
              "comment": f"copied {ENV_KEY}"}
    out = tmp_path / "dpo-run"
    run = start_run(TrackingSettings(), config, out)
    assert run.name == "dpo-run"
    assert run.config["jury"]["api_key"] == REDACTED
    assert run.config["comment"] == f"copied {REDACTED}"
    log_metrics(run, {"loop_rate": 0.25, "tool_call_accuracy": 0.5, "jury_agreement": 1.0, "skipped": "n/a"}, step=1, prefix="eval/")
    finish_run(run)
    assert sys.argv[1] == f"jury.api_key={ARGV_KEY}"  # the process's own argv is restored

    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files), "offline run file missing"
    everything = b"".join(p.read_bytes() for p in files)
    assert b"eval/loop_rate" in everything and b"eval/jury_agreement" in everything
    assert b"eval/skipped" not in everything  # non-scalars are not metrics
    for secret in (ENV_KEY, CONFIG_KEY, ARGV_KEY, WANDB_KEY):
        assert secret.encode() not in everything, f"{secret} leaked into {out}"
    assert f"jury.api_key={REDACTED}".encode() in everything  # the command line is kept, redacted
