"""Acceptance: every BFCL v3 gold answer survives render -> parse -> check, except the rows whose
gold contradicts its own schema (judged wrong for the right reason); perturbations are judged
wrong; reordered parallel calls stay correct. The same audit writes benchmarks/results/rewards.md."""

from collections import defaultdict

import pytest

from rlkit.data import BFCL_CATEGORIES, bfcl_files, load_bfcl
from rlkit.toolcall import MISSING_REQUIRED, UNEXPECTED_ARGUMENT, WRONG_FUNCTION, expected_from_answer, load_tools
from rlkit.toolcall.perturb import PERTURBATIONS, audit_expected

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def outcomes(shared_data):
    by_variant = defaultdict(list)  # variant -> [(category, id, outcome)]
    rows = 0
    for category in BFCL_CATEGORIES:
        for row in load_bfcl(bfcl_files(category, shared_data / "bfcl_v3")[0]):
            rows += 1
            for outcome in audit_expected(expected_from_answer(row["answer"]), row["tools"]):
                by_variant[outcome.variant].append((category, row["id"], outcome, row))
    assert rows == 1000
    return by_variant


def failures(outcomes, variant):
    return {row_id: outcome.verdict.reason for _, row_id, outcome, _ in outcomes[variant] if not outcome.verdict.ok}


def test_gold_answers_pass_except_schema_contradictions(outcomes):
    assert len(outcomes["gold_given"]) == 1000
    assert failures(outcomes, "gold_given") == {
        "simple_363": WRONG_FUNCTION,  # names a function the schema does not define
        "parallel_multiple_12": UNEXPECTED_ARGUMENT,  # passes 'permeability', not in the schema
        "parallel_multiple_26": UNEXPECTED_ARGUMENT,  # passes 'type', not in the schema
    }
    # The contradiction is really in the data: the checker's reason matches the schema.
    for _, row_id, outcome, row in outcomes["gold_given"]:
        if row_id == "simple_363":
            assert "find_closest" not in load_tools(row["tools"])


def test_first_acceptable_rendering_also_meets_bfcl_rules(outcomes):
    # Rendering the *first* acceptable value omits arguments whose first option is "" — simple_200
    # marks a schema-required argument as omittable, which BFCL's checker rejects too.
    assert failures(outcomes, "gold_first") == {
        "simple_200": MISSING_REQUIRED,
        "simple_363": WRONG_FUNCTION,
        "parallel_multiple_26": UNEXPECTED_ARGUMENT,
    }


def test_every_applicable_perturbation_is_judged_wrong_for_its_reason(outcomes):
    kinds = [kind for kind in PERTURBATIONS if kind != "reorder"]
    assert len(kinds) >= 6
    for kind in kinds:
        applied = outcomes[kind]
        assert len(applied) >= 250, kind  # applies broadly, not on a handful of rows
        assert all(not outcome.verdict.ok for *_, outcome, _ in applied), kind
        wrong_reason = [(row_id, outcome.verdict.reason) for _, row_id, outcome, _ in applied if not outcome.as_intended]
        assert wrong_reason == [], (kind, wrong_reason[:5])
    for kind in ("wrong_name", "drop_required", "extra_argument", "wrong_type", "drop_call", "duplicate_call"):
        assert len(outcomes[kind]) == 997, kind  # every row whose gold passes
    assert len(outcomes["wrong_value"]) >= 990


def test_reordered_parallel_calls_stay_correct(outcomes):
    assert len(outcomes["reorder_best"]) == 398
    assert all(outcome.verdict.ok for *_, outcome, _ in outcomes["reorder_best"])
    # BFCL's greedy pairing rejects a reordering only when one gold call accepts another's values.
    rejected = [(row_id, row) for _, row_id, outcome, row in outcomes["reorder"] if not outcome.verdict.ok]
    assert [row_id for row_id, _ in rejected] == ["parallel_178"]
    for _, row in rejected:
        expected = expected_from_answer(row["answer"])
        first_options = expected[0].arguments["company_name"]
        assert len(first_options) > 1 and any(option in e.arguments["company_name"] for e in expected[1:] for option in first_options)


def test_committed_results_table_matches_this_checker():
    from pathlib import Path

    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "rewards.md"
    text = results.read_text()
    assert "| gold_given | 399/400 | 200/200 | 200/200 | 198/200 | 997/1000 |" in text
    for row_id in ("simple_363", "parallel_multiple_12", "parallel_multiple_26"):
        assert f"| {row_id} | gold_given |" in text
