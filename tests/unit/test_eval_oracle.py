"""Every loader scores 100% with an oracle backend; perturbed answers lose exactly what they predict."""

from __future__ import annotations

from collections import Counter

import pytest

from rlkit.eval import GREEDY, GenerationSetting, evaluate
from tests.oracle import BREAK_SYNTAX, TEXT_LOOP, OracleRollout, Perturbation
from rlkit.eval.sources import load_env_split, load_eval_data

ENVS = ("smart_home", "banking", "shell")
SETTING = [GREEDY]


def run(data, perturbation=None, episodes=True, max_tokens=512):
    oracle = OracleRollout.for_examples(data.examples, data.episodes if episodes else (), perturbation)
    result = evaluate(oracle, data.examples, SETTING, max_tokens=max_tokens,
                      episodes=data.episodes if episodes else None, env_factory=data.env_factory)
    return oracle, result, result.metrics[GREEDY.name]


@pytest.fixture(scope="module", params=ENVS)
def env_data(request):
    return load_env_split(request.param, split="test", n_episodes=8, seed=3)


def test_oracle_scores_100_percent_on_env_split(env_data):
    _, result, m = run(env_data)
    assert m["calls"]["n"] > 8 and m["calls"]["equivalence"] == 1.0
    assert m["calls"]["parse_error_rate"] == 0.0 and m["generation"]["loop_rate"] == 0.0
    assert m["replies"]["n"] > 0 and m["replies"]["facts_recall"] == 1.0
    episodes = m["episodes"]
    assert episodes["n"] == 8 and episodes["success_rate"] == 1.0 and episodes["final_state_match_rate"] == 1.0
    assert all(row["accuracy"] == 1.0 for row in episodes["accuracy_by_turn_own_history"].values())
    assert all(row["accuracy"] == 1.0 for row in m["accuracy_by_turn_correct_history"].values())
    assert result.summary_line() == f"tool-call equivalence: 100.0% (n={m['calls']['n']})"


@pytest.mark.parametrize("kind", ["wrong_name", "extra_argument", "drop_call", "wrong_value", BREAK_SYNTAX])
def test_perturbed_answers_lose_exactly_the_predicted_examples(env_data, kind):
    oracle, result, m = run(env_data, Perturbation(kind, period=3, offset=1), episodes=False)
    predicted = [p for p in oracle.predicted if p.kind == "call"]
    wrong = Counter(p.reason for p in predicted if p.reason != "ok")
    assert sum(wrong.values()) > 0, "the perturbation never applied"
    assert m["calls"]["correct"] == len(predicted) - sum(wrong.values())
    assert Counter(m["calls"]["reasons"]) == wrong
    assert m["calls"]["parse_errors"] == (sum(wrong.values()) if kind == BREAK_SYNTAX else 0)
    # Each record carries the checker's reason, in prompt order.
    assert [r.reason for r in result.records if r.kind == "call"] == [p.reason for p in predicted]


def test_text_loops_are_counted_in_loop_rate(env_data):
    oracle, result, m = run(env_data, Perturbation(TEXT_LOOP, period=4), episodes=False, max_tokens=64)
    looped = [p.looped for p in oracle.predicted]
    assert m["generation"]["loops"] == sum(looped) > 0
    assert [r.looped for r in result.records] == looped
    assert all(r.finish_reason == "length" for r, hit in zip(result.records, looped) if hit)


def test_own_history_episodes_fail_on_every_damaged_turn(env_data):
    # Every answer damaged: every call turn played on own history is wrong, so no episode succeeds.
    _, result, m = run(env_data, Perturbation("wrong_name", period=1))
    turns = [t for e in result.episodes for t in e.turns]
    assert turns and all(not t.ok for t in turns if t.expected)
    assert m["episodes"]["success_rate"] == 0.0
    # The correct-history examples are damaged too, and scored independently of the episodes.
    assert m["calls"]["equivalence"] == 0.0


def test_own_history_partial_damage_compounds_into_episode_success():
    data = load_env_split("smart_home", split="test", n_episodes=10, seed=1)
    oracle = OracleRollout.for_examples(data.examples, data.episodes, Perturbation("wrong_name", period=5))
    result = evaluate(oracle, [], SETTING, max_tokens=256, episodes=data.episodes, env_factory=data.env_factory)
    damaged = sum(1 for p in oracle.predicted if p.reason != "ok")
    wrong_turns = [t for e in result.episodes for t in e.turns if not t.ok]
    # smart_home turns make one call step each, so each damaged call costs exactly one turn.
    assert len(wrong_turns) == damaged > 0
    assert all(t.reason == "wrong_function" for t in wrong_turns)
    failed = sum(1 for e in result.episodes if not e.success)
    assert 0 < failed <= damaged


def test_settings_are_scored_separately(env_data):
    settings = [GenerationSetting("a", temperature=0.0), GenerationSetting("b", temperature=1.0)]
    oracle = OracleRollout.for_examples(env_data.examples, (), Perturbation("wrong_name", period=2, offset=len(env_data.examples)))
    result = evaluate(oracle, env_data.examples, settings, max_tokens=256)
    # The damage starts with the second setting's prompts, so only that setting loses examples.
    assert result.metrics["a"]["calls"]["equivalence"] == 1.0
    assert result.metrics["b"]["calls"]["equivalence"] < 1.0
    with pytest.raises(ValueError, match="unique"):
        evaluate(oracle, env_data.examples, [settings[0], settings[0]])


@pytest.mark.parametrize("category", ["simple_python", "multiple", "parallel", "parallel_multiple"])
def test_oracle_on_bfcl_fails_only_self_contradicting_gold(category):
    pytest.importorskip("bfcl_eval", reason="BFCL v4 comes from the bfcl-eval package (scripts/install.sh installs it)")
    data = load_eval_data(f"bfcl:{category}")
    assert data.kind == "bfcl" and len(data.examples) == 200 + 200 * (category == "simple_python")
    _, result, m = run(data, episodes=False, max_tokens=4096)
    # BFCL's gold contradicts its own schema in two rows (see the toolcall audit); nothing else fails.
    contradictions = {"parallel_multiple": {"unexpected_argument": 2}}
    assert m["calls"]["reasons"] == contradictions.get(category, {})
    assert m["calls"]["correct"] == m["calls"]["n"] - sum(contradictions.get(category, {}).values())


def test_oracle_on_bfcl_with_explicit_answers_and_limit(tmp_path):
    pytest.importorskip("bfcl_eval", reason="BFCL v4 comes from the bfcl-eval package (scripts/install.sh installs it)")
    from rlkit.envs.bfcl_multi_turn import bfcl_data_root

    root = bfcl_data_root()
    lonely = tmp_path / "BFCL_v4_parallel.json"
    lonely.write_text((root / "BFCL_v4_parallel.json").read_text())
    with pytest.raises(FileNotFoundError, match="--answers"):
        load_eval_data(str(lonely))
    data = load_eval_data(str(lonely), answers=str(root / "possible_answer" / "BFCL_v4_parallel.json"), limit=25)
    oracle, result, m = run(data, Perturbation("drop_call", period=2), episodes=False, max_tokens=4096)
    assert m["calls"]["n"] == 25 and m["calls"]["correct"] == 12
    assert m["calls"]["reasons"] == {"wrong_count": 13}


def test_oracle_on_distil_banking(shared_data):
    data = load_eval_data(str(shared_data / "banking" / "train.jsonl"), str(shared_data / "banking" / "job_description.json"))
    assert data.kind == "distil" and len(data.examples) == 77
    _, result, m = run(data, episodes=False)
    assert result.summary_line() == "tool-call equivalence: 100.0% (n=77)"
    assert sum(v["n"] for v in m["calls"]["per_tool"].values()) == 77
    _, _, damaged = run(data, Perturbation("extra_argument", period=7), episodes=False)
    assert damaged["calls"]["correct"] == 77 - 11 and damaged["calls"]["reasons"] == {"unexpected_argument": 11}


def test_loader_errors_name_the_problem(shared_data, tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a file nor an env name"):
        load_eval_data("no_such_env")
    with pytest.raises(ValueError, match="--tools"):
        load_eval_data(str(shared_data / "banking" / "train.jsonl"))
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"prompt": "x"}\n')
    with pytest.raises(ValueError, match="odd.jsonl: first row has keys"):
        load_eval_data(str(odd))


class SameCallEveryTime:
    """A scripted engine that answers every prompt with one fixed call (a model stuck in a call loop)."""

    def __init__(self):
        from rlkit.rollout.base import RolloutStats

        self.stats = RolloutStats()
        self.prompts = 0

    def generate(self, prompts, params):
        from rlkit.rollout.base import Completion
        from rlkit.toolcall import ToolCall, render_calls

        self.prompts += len(prompts)
        text = render_calls([ToolCall("get_device_status", {"device_type": "all"})])
        return [[Completion(text, [1, 2, 3, 4], "stop")] for _ in prompts]


def test_own_history_cuts_turns_at_max_steps_and_flags_repeated_calls():
    data = load_env_split("smart_home", split="test", n_episodes=4, seed=5)
    engine = SameCallEveryTime()
    result = evaluate(engine, [], SETTING, max_tokens=32, episodes=data.episodes, env_factory=data.env_factory,
                      max_steps_per_turn=3)
    turns = [t for e in result.episodes for t in e.turns]
    assert len(turns) == sum(len(e.turns) for e in data.episodes)
    assert engine.prompts == 3 * len(turns)  # every turn ran to the step limit
    assert all(t.steps == 3 and len(t.calls) == 3 and not t.ok and t.reason == "wrong_count" for t in turns)
    assert all(t.looped for t in turns)  # three identical calls in a row: a repeated-tool-call loop
    m = result.metrics[GREEDY.name]["episodes"]
    assert m["success_rate"] == 0.0 and m["turn_loop_rate"] == 1.0
