"""The pipeline's per-stage table and the eval summaries behind it, on hand-made metrics."""

from __future__ import annotations

from rlkit.pipeline.eval import merge_summaries
from rlkit.pipeline.report import StageRow, pipeline_table

CALLS = {"equivalence": 0.5, "equivalence_ci": [0.2366, 0.7634], "calls": 10, "parse_error_rate": 0.1,
         "loop_rate": 0.0, "mean_length": 20.0, "reply_loop_rate": None, "reply_loop_ci": None, "replies": 0}
REPLIES = {"equivalence": None, "equivalence_ci": None, "calls": 0, "parse_error_rate": None,
           "loop_rate": 0.5, "mean_length": 100.0, "reply_loop_rate": 0.5, "reply_loop_ci": [0.1, 0.9], "replies": 30}


def test_a_setting_in_both_runs_merges_calls_and_replies():
    merged = merge_summaries(CALLS, REPLIES)
    assert merged["equivalence"] == 0.5 and merged["calls"] == 10 and merged["replies"] == 30
    assert merged["reply_loop_rate"] == 0.5
    # over all 40 completions: (0·10 + 0.5·30)/40 loops, (20·10 + 100·30)/40 tokens
    assert merged["loop_rate"] == 0.375 and merged["mean_length"] == 80.0
    assert merge_summaries(None, REPLIES) is REPLIES


def test_reply_loops_with_intervals_and_no_empty_columns():
    rows = [StageRow("base", "m", {"greedy": merge_summaries(CALLS, REPLIES), "temperature_1.0": REPLIES}, 0.0, eval_seconds=90.0),
            StageRow("sft", "m2", {"greedy": merge_summaries(CALLS, REPLIES), "temperature_1.0": REPLIES}, 120.0, eval_seconds=30.0)]
    table = pipeline_table(rows, loop_on="replies").splitlines()
    assert table[0] == ("| stage | equivalence (greedy) | free-text loop rate (greedy) | free-text loop rate (temperature_1.0) "
                        "| mean length (tokens) | calls scored | replies scored | train wall time | eval wall time |")
    assert table[3] == "| sft | 50.0% [23.7–76.3] | 50.0% [10.0–90.0] | 50.0% [10.0–90.0] | 80.0 | 10 | 30 | 2.0 min | 0.5 min |"
