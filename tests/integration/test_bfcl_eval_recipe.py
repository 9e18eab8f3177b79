"""The eval recipe on BFCL v4 with the tiny model: `--data bfcl:...` prints the BFCL table, then the summary line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def test_bfcl_spec_runs_and_prints_the_bfcl_table(tiny_model_dir, tmp_path):
    pytest.importorskip("bfcl_eval", reason="BFCL v4 comes from the bfcl-eval package (scripts/install.sh installs it)")
    out = tmp_path / "bfcl"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "recipes/eval.py", "--data", "bfcl:simple_python,live_irrelevance,live_relevance,multi_turn_base",
         "--model", "tiny-lfm2", "--output", str(out), "limit=2", "max_tokens=16", "max_steps_per_turn=2"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("tool-call equivalence: ")
    table = lines.index("## BFCL summary")
    rows = {line.split(" | ")[0].strip("| *"): line for line in lines[table:] if line.startswith("| ")}
    assert {"simple_python", "live_irrelevance", "live_relevance", "multi_turn_base", "overall", "simple (AST)"} <= set(rows)
    assert rows["simple_python"].startswith("| simple_python | 2 |")
    results = json.loads((out / "results.json").read_text())
    summary = results["meta"]["bfcl"]["lfm2_recommended"]
    assert summary["categories"]["multi_turn_base"]["n"] == 2
    assert sum(summary["multi_turn_verdicts"].values()) == 2
    assert set(summary["aggregates"]) >= {"simple (AST)", "irrelevance detection", "relevance detection", "multi-turn", "overall"}
    assert "## BFCL summary" in (out / "summary.md").read_text()
    assert len(results["episodes"]) == 4  # 2 rows x 2 settings, played on the model's own history
