"""Request plans (deterministic, balanced over tools), the teacher prompt, and the report's counts."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from rlkit.synth.conversation import Conversation, parse_teacher_reply
from rlkit.synth.prompts import Diversity, build_messages, plan_requests, teacher_format
from rlkit.synth.reasons import Drop
from rlkit.synth.report import Outcome, render_markdown, summarize
from rlkit.toolcall import ToolCall

TOOLS = ["a", "b", "c"]


def test_plans_are_deterministic_and_balanced_over_tools():
    diversity = Diversity(personas=["p1", "p2"], turn_weights=[0.5, 0.5], examples_per_prompt=2)
    seed_tools = ["a", "a", "b", "x", "x"]
    plans = plan_requests(9, TOOLS, seed_tools, diversity=diversity, seed=3)
    assert [p.to_dict() for p in plans] == [p.to_dict() for p in plan_requests(9, TOOLS, seed_tools, diversity, 3)]
    assert Counter(p.target_tool for p in plans) == {"a": 3, "b": 3, "c": 3}
    assert {p.user_turns for p in plans} <= {1, 2}
    assert all(len(set(p.seed_examples)) == 2 and max(p.seed_examples) < 5 for p in plans)
    # The first example shown is a seed of the target tool whenever one exists (none for "c").
    assert all(seed_tools[p.seed_examples[0]] == p.target_tool for p in plans if p.target_tool != "c")
    assert [p.request_id for p in plans] == list(range(9))


def test_off_domain_share_one_sends_every_request_to_the_off_domain_tool():
    plans = plan_requests(4, TOOLS, ["a", "b"], Diversity(off_domain_share=1.0, off_domain_tool="c"), seed=0)
    assert all(p.off_domain and p.target_tool == "c" for p in plans)


@pytest.mark.parametrize(
    "bad", [Diversity(turn_weights=[]), Diversity(off_domain_share=1.5), Diversity(off_domain_share=0.1, off_domain_tool="zzz")]
)
def test_bad_diversity_settings_are_refused(bad):
    with pytest.raises(ValueError, match="diversity"):
        plan_requests(2, TOOLS, ["a"], bad, seed=0)


def test_prompt_shows_seeds_in_the_reply_format_which_round_trips_through_the_parser():
    seed = Conversation(
        [
            {"role": "user", "content": "move money"},
            {"role": "assistant", "content": "", "tool_calls": [ToolCall("a", {}).to_openai()]},
            {"role": "user", "content": "ten dollars"},
        ],
        ToolCall("a", {"amount": 10}),
    )
    shown = json.dumps(teacher_format(seed))
    assert parse_teacher_reply(shown, max_user_turns=2, max_turn_chars=100) == seed
    plan = plan_requests(1, ["b"], ["a"], Diversity(examples_per_prompt=1, noise=["ASR errors"]), seed=0)[0]
    messages = build_messages(plan, "Bank helper.", [{"name": "b"}], [seed])
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "Bank helper." in messages[0]["content"] and '"name": "b"' in messages[0]["content"]
    assert shown in messages[1]["content"] and "next_call must be a call to b" in messages[1]["content"]
    assert "ASR errors" in messages[1]["content"]


def test_summary_funnel_and_per_tool_counts_are_hand_computed():
    outcomes = [
        Outcome(0, "a", "a"),
        Outcome(1, "a", None, Drop("malformed_json", "x")),
        Outcome(2, "b", "a", Drop("near_duplicate", "overlap 0.9")),
        Outcome(3, "b", None, Drop("teacher_timeout", "slow")),
        Outcome(4, "c", "zzz", Drop("unknown_tool", "zzz | bad")),
    ]
    summary = summarize(outcomes)
    assert summary["kept"] == 1 and summary["requests"] == 5
    funnel = {row["stage"]: (row["in"], row["dropped"], row["out"]) for row in summary["funnel"]}
    assert funnel["teacher"] == (5, 1, 4) and funnel["parse"] == (4, 1, 3)
    assert funnel["schema"] == (3, 1, 2) and funnel["dedup"] == (2, 1, 1) and funnel["jury"] == (1, 0, 1)
    assert summary["drops"] == {"teacher_timeout": 1, "malformed_json": 1, "unknown_tool": 1, "near_duplicate": 1}
    assert summary["tools"]["a"] == {"requested": 2, "written": 2, "kept": 1, "dropped": 1}
    assert summary["tools"]["zzz"] == {"written": 1, "dropped": 1}
    markdown = render_markdown(outcomes, "Report", ["teacher: t"])
    assert "| unknown_tool | schema | 1 | #4: zzz \\| bad |" in markdown
    assert "- requests: 5, kept: 1 (20.0%)" in markdown


def test_unknown_drop_reason_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown drop reason"):
        Drop("because")
