"""The tool-call reward on the real banking (distil-format) data: gold is 1.0, perturbations less."""

import json

from rlkit.rewards import tool_call_reward
from rlkit.toolcall import ToolCall, expected_from_answer, render_calls, validate_call
from rlkit.toolcall.perturb import reference_calls


def test_banking_gold_calls_score_one_and_validate(shared_data):
    tools = json.dumps(json.loads((shared_data / "banking" / "job_description.json").read_text())["tools"])
    rows = [json.loads(line) for line in (shared_data / "banking" / "train.jsonl").read_text().splitlines() if line.strip()]
    assert len(rows) == 77
    answers = [row["answer"] for row in rows]
    gold = [render_calls(reference_calls(expected_from_answer(answer))) for answer in answers]
    assert tool_call_reward(None, gold, answer=answers, tools=[tools] * len(rows)) == [1.0] * len(rows)
    for answer in answers:
        (call,) = reference_calls(expected_from_answer(answer))
        assert validate_call(call, tools).ok, answer
    # A wrong function name on every row: only the well-formed share (0.1), with or without arguments.
    wrong = [render_calls([ToolCall(c.name + "_x", c.arguments) for c in reference_calls(expected_from_answer(a))]) for a in answers]
    scores = tool_call_reward(None, wrong, answer=answers, tools=[tools] * len(rows))
    assert scores == [0.1] * len(rows)
