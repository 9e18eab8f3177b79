"""Pair selection: best vs worst, doom loops always lose, no-clear-winner prompts skipped and counted.

The rollouts come from a replay engine (fixed completions per prompt) so that each case is known by
construction; the real HF engine is exercised in tests/integration/test_pairs_hf.py.
"""

from __future__ import annotations

import json

import pytest

from rlkit.jury import Jury, default_rule_judges
from rlkit.dpo.pairs import PairSettings, build_pairs
from rlkit.rollout.base import Completion, RolloutStats

from tests.lights_task import ANSWER, RIGHT, TOOLS, WRONG


def ok(text: str) -> Completion:
    return Completion(text, [11, 12, 13, 7], "stop")


def loop(text: str = "on on on") -> Completion:
    # Cut off by the token limit with a period-3 tail: a doom loop for rlkit.loops.detect_loop.
    return Completion(text, [5, 6, 7, 8] + [21, 22, 23] * 20, "length")


class ReplayEngine:
    """A RolloutEngine that returns fixed sampled/greedy completions per prompt (by user text)."""

    def __init__(self, script: dict[str, tuple[list[Completion], Completion]]):
        self.script = script
        self.stats = RolloutStats()
        self.calls = []

    def generate(self, prompts, params):
        self.calls.append(params)
        out = []
        for prompt in prompts:
            sampled, greedy = self.script[prompt.messages[-1]["content"]]
            out.append([greedy] if params.temperature == 0 else sampled[: params.n])
        return out


def _row(user: str) -> dict:
    return {"messages": [{"role": "user", "content": user}], "tools": TOOLS, "answer": ANSWER, "task_id": user, "facts": "[]"}


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_best_vs_worst_and_loops_lose(tokenizer):
    engine = ReplayEngine({
        "mixed": ([loop(RIGHT + " " + RIGHT), ok(RIGHT), ok(WRONG), ok(RIGHT)], ok(WRONG)),
        "all same": ([ok(RIGHT)] * 4, ok(RIGHT)),
        "all loops": ([loop()] * 4, loop()),
    })
    build = build_pairs([_row("mixed"), _row("all same"), _row("all loops")], engine, Jury(default_rule_judges()),
                        tokenizer, PairSettings(k=4, temperature=0.8, max_tokens=64))
    # Sampled call with n=K at the configured temperature, then one greedy call.
    assert [(p.n, p.temperature) for p in engine.calls] == [(4, 0.8), (1, 0.0)]
    report = build.report.as_dict()
    assert report["prompts"] == 3 and report["pairs"] == 1
    assert report["skipped"] == {"no_clear_winner": 2}
    assert report["candidates"] == 15 and report["candidate_loop_rate"] == pytest.approx(6 / 15)
    pair = build.pairs[0]
    assert pair["task_id"] == "mixed"
    # The looping candidate scores the right call by the tool judge, but the veto puts it last.
    assert (pair["chosen_index"], pair["rejected_index"]) == (1, 0)
    assert pair["chosen_loop"] is False and pair["rejected_loop"] is True
    assert pair["chosen"] == RIGHT + "<|im_end|>"
    assert not pair["rejected"].endswith("<|im_end|>")  # it never stopped
    assert pair["prompt"].startswith("<|startoftext|>") and pair["prompt"].endswith("<|im_start|>assistant\n")
    assert "set_lights" in pair["prompt"]  # tool list rendered into the system turn
    candidates = json.loads(pair["candidates"])
    assert [c["origin"] for c in candidates] == ["sampled"] * 4 + ["greedy"]
    assert [c["loop"] for c in candidates] == [True, False, False, False, False]
    assert {v["judge"] for v in json.loads(pair["votes"])} == {"loop_veto", "addresses_judge", "toolcall", "length"}
    # Every prompt is in the audit, skipped ones with their reason.
    assert [a["status"] for a in build.audit] == ["ok", "no_clear_winner", "no_clear_winner"]


def test_no_pairs_gives_an_empty_dataset_with_trl_columns(tokenizer):
    engine = ReplayEngine({"same": ([ok(RIGHT)] * 2, ok(RIGHT))})
    build = build_pairs([_row("same")], engine, Jury(default_rule_judges()), tokenizer, PairSettings(k=2))
    assert len(build.pairs) == 0
    assert {"prompt", "chosen", "rejected"} <= set(build.pairs.column_names)


def test_min_chosen_score_skips_prompts_whose_best_is_still_wrong(tokenizer):
    # Best of "only wrong calls" is a valid-but-wrong call, beating a loop: a pair by default,
    # skipped (and counted) when the winner must be flawless.
    engine = ReplayEngine({
        "only wrong": ([ok(WRONG), loop()], ok(WRONG)),
        "one right": ([ok(RIGHT), ok(WRONG)], ok(WRONG)),
    })
    rows = [_row("only wrong"), _row("one right")]
    lenient = build_pairs(rows, engine, Jury(default_rule_judges()), tokenizer, PairSettings(k=2))
    strict = build_pairs(rows, engine, Jury(default_rule_judges()), tokenizer, PairSettings(k=2, min_chosen_score=1.0))
    assert lenient.report.pairs == 2
    assert strict.report.pairs == 1 and strict.report.skipped == {"chosen_below_min_score": 1}
    assert strict.pairs["task_id"] == ["one right"]
    assert [a["status"] for a in strict.audit] == ["chosen_below_min_score", "ok"]
