"""BFCL v4 through the eval harness: an oracle scores 100% where gold exists, damage costs exactly
what it should, BFCL's aggregates match hand computation, and the report holds the summary table."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("bfcl_eval", reason="BFCL v4 comes from the bfcl-eval package (scripts/install.sh installs it)")

from rlkit.eval import GREEDY, evaluate, load_eval_data, write_report  # noqa: E402
from rlkit.eval.records import ExampleRecord  # noqa: E402
from rlkit.eval.report import bfcl_aggregates, bfcl_record_ok, bfcl_summary  # noqa: E402
from tests.oracle import OracleRollout, Perturbation  # noqa: E402

SPEC = "bfcl:simple_python,parallel,irrelevance,live_relevance,multi_turn_base"


@pytest.fixture(scope="module")
def data():
    return load_eval_data(SPEC, limit=6)


def run(data, perturbation=None):
    oracle = OracleRollout.for_examples(data.examples, data.episodes, perturbation)
    result = evaluate(oracle, data.examples, [GREEDY], max_tokens=512, episodes=data.episodes, env_factory=data.env_factory)
    return result, bfcl_summary(result, max_steps_per_turn=4)[GREEDY.name]


def test_bfcl_spec_loads_examples_per_category_and_episodes(data):
    assert data.kind == "bfcl" and data.source == SPEC
    by_source = {}
    for example in data.examples:
        by_source.setdefault(example.source, []).append(example.kind)
    assert {k: len(v) for k, v in by_source.items()} == {"simple_python": 6, "parallel": 6, "irrelevance": 6, "live_relevance": 6}
    assert set(by_source["live_relevance"]) == {"reply"} and set(by_source["irrelevance"]) == {"call"}
    assert [e.episode_id for e in data.episodes] == [f"multi_turn_base_{i}" for i in range(6)]
    assert all(turn.steps[-1].reply == "" for e in data.episodes for turn in e.turns)


def test_oracle_scores_every_category_with_gold_at_100_percent(data):
    result, summary = run(data)
    categories = {name: row["accuracy"] for name, row in summary["categories"].items()}
    # live_relevance has no gold: the oracle replies without a call, which BFCL scores as wrong.
    assert categories == {"simple_python": 1.0, "parallel": 1.0, "irrelevance": 1.0, "live_relevance": 0.0,
                          "multi_turn_base": 1.0}
    assert summary["multi_turn_verdicts"] == {"ok": 6}
    episodes = result.metrics[GREEDY.name]["episodes"]
    assert episodes["final_state_match_rate"] == 1.0 and episodes["success_rate"] == 1.0


def test_damaged_calls_fail_the_multi_turn_check(data):
    _, summary = run(data, Perturbation("wrong_value", period=1))
    assert summary["categories"]["multi_turn_base"]["accuracy"] == 0.0
    assert summary["categories"]["simple_python"]["accuracy"] == 0.0
    assert summary["categories"]["irrelevance"]["accuracy"] == 1.0  # nothing to damage in "no call"
    assert set(summary["multi_turn_verdicts"]) <= {"multi_turn:instance_state_mismatch",
                                                    "multi_turn:execution_response_mismatch"}


def test_report_holds_the_bfcl_table(data, tmp_path):
    result, _ = run(data)
    result.meta["bfcl"] = bfcl_summary(result, max_steps_per_turn=4)
    paths = write_report(result, tmp_path)
    text = paths["markdown"].read_text()
    assert "## BFCL summary" in text and "| multi_turn_base | 6 | 100.0% |" in text
    assert "| **irrelevance detection** * | 6 | 100.0% |" in text
    saved = json.loads(paths["json"].read_text())
    assert saved["meta"]["bfcl"][GREEDY.name]["categories"]["parallel"]["n"] == 6


def test_bfcl_verdicts_for_irrelevance_and_relevance():
    def record(source, calls, error=None, ok=None):
        return ExampleRecord("x", "s", "call", "", "stop", 1, calls=calls, parse_error=error, ok=ok, source=source)

    call = [{"name": "f", "arguments": {}}]
    assert bfcl_record_ok(record("irrelevance", []))
    assert bfcl_record_ok(record("live_irrelevance", call, error="unterminated"))  # undecodable = no call
    assert not bfcl_record_ok(record("irrelevance", call))
    assert bfcl_record_ok(record("live_relevance", call))
    assert not bfcl_record_ok(record("live_relevance", call, error="unterminated"))
    assert not bfcl_record_ok(record("simple_python", call, ok=False)) and bfcl_record_ok(record("multiple", call, ok=True))


def test_aggregates_follow_bfcl_by_hand():
    def cat(accuracy, n):
        return {"n": n, "accuracy": accuracy}

    out = bfcl_aggregates({"simple_python": cat(0.5, 2), "simple_java": cat(1.0, 1), "multiple": cat(0.0, 4),
                           "live_simple": cat(1.0, 1), "live_multiple": cat(0.0, 3), "irrelevance": cat(1.0, 2),
                           "live_irrelevance": cat(0.5, 2), "multi_turn_base": cat(0.25, 4)})
    assert out["simple (AST)"] == {"n": 3, "accuracy": 0.75, "complete": False}  # unweighted mean, js missing
    assert out["non-live (AST)"]["accuracy"] == pytest.approx(0.375)  # mean(simple, multiple)
    assert out["live (AST)"]["accuracy"] == pytest.approx(0.25)  # weighted by rows: (1*1 + 0*3) / 4
    assert out["irrelevance detection"] == {"n": 4, "accuracy": 0.75, "complete": True}
    assert "relevance detection" not in out
    # BFCL's weights 10/10/10/30 over the groups present.
    assert out["overall"]["accuracy"] == pytest.approx((0.375 * 10 + 0.25 * 10 + 0.75 * 10 + 0.25 * 30) / 60)
