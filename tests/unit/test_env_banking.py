"""Banking env: schema compatibility with the real set, every tool's transition, needs_info, errors."""

import json

import pytest

from rlkit.envs.banking import BankingEnv
from rlkit.toolcall import ToolCall


def run(env, name, **arguments):
    responses, done, info = env.step([ToolCall(name, arguments)])
    return json.loads(responses[0]), done, info


def signature(tools):
    """Everything that must match the real job description: names, parameter names, types, enums."""
    out = {}
    for tool in tools:
        fn = tool["function"]
        props = fn["parameters"]["properties"]
        out[fn["name"]] = ({k: (v["type"], tuple(v.get("enum", ()))) for k, v in props.items()}, tuple(fn["parameters"]["required"]))
    return out


def test_schema_matches_real_job_description_but_descriptions_are_our_own(shared_data):
    real = json.loads((shared_data / "banking" / "job_description.json").read_text())["tools"]
    assert signature(BankingEnv.tools) == signature(real)
    ours = {t["function"]["name"]: t["function"]["description"] for t in BankingEnv.tools}
    theirs = {t["function"]["name"]: t["function"]["description"] for t in real}
    assert all(ours[name] != theirs[name] for name in ours)


def test_all_fourteen_tools_present():
    assert len(BankingEnv.tools) == 14


def test_transfer_moves_money_and_needs_all_fields():
    env = BankingEnv(seed=1)
    start = env.state()["balances"]
    data, _, info = run(env, "transfer_money", amount=100)
    assert data == {"status": "needs_info", "missing": ["from_account", "to_account"]} and info["errors"] == 0
    assert env.state()["balances"] == start
    data, _, _ = run(env, "transfer_money", amount=100, from_account="checking", to_account="savings")
    balances = env.state()["balances"]
    assert balances["checking"] == round(start["checking"] - 100, 2)
    assert balances["savings"] == round(start["savings"] + 100, 2)
    assert data["status"] == "done" and env.state()["transfers"] == [{"amount": 100, "from_account": "checking", "to_account": "savings"}]


def test_pay_bill_defaults_to_checking():
    env = BankingEnv(seed=2)
    start = env.state()["balances"]["checking"]
    data, _, _ = run(env, "pay_bill", payee="Verizon", amount=50)
    assert data["from_account"] == "checking" and env.state()["balances"]["checking"] == round(start - 50, 2)
    assert env.state()["payments"] == [{"payee": "verizon", "amount": 50, "from_account": "checking"}]


def test_card_tools():
    env = BankingEnv(seed=3)
    debit, credit, new = env.state()["cards"]
    run(env, "reset_pin", card_type="credit")
    assert env.state()["cards"][1]["pin_reset"] is True
    data, _, _ = run(env, "report_fraud", card_last_four=debit["last_four"], transaction_amount=89)
    assert data["status"] == "case_opened" and env.state()["fraud_reports"] == [{"last_four": debit["last_four"], "amount": 89}]
    run(env, "replace_card", card_type="debit")
    assert env.state()["replacements"] == [debit["last_four"]]
    run(env, "activate_card", card_last_four=new["last_four"])
    assert env.state()["cards"][2]["status"] == "active"
    run(env, "cancel_card", card_last_four=credit["last_four"], reason="stolen")
    assert env.state()["cards"][1]["status"] == "cancelled" and env.state()["cards"][1]["reason"] == "stolen"


def test_lookups_and_conversation_tools():
    env = BankingEnv(seed=4)
    data, _, _ = run(env, "check_balance", account_type="savings")
    assert data["balance"] == env.state()["balances"]["savings"]
    data, _, _ = run(env, "check_balance")
    assert set(data["balances"]) == {"checking", "savings", "credit"}
    run(env, "get_statement", account_type="credit", period="last_year")
    assert env.state()["statements"] == [{"account_type": "credit", "period": "last_year"}]
    run(env, "speak_to_human", department="fraud")
    assert env.state()["handoffs"] == ["fraud"]
    for name in ("greeting", "thank_you", "intent_unclear"):
        assert not run(env, name)[1]
    data, done, _ = run(env, "goodbye")
    assert done and env.state()["events"] == ["greeting", "thanks", "unclear", "goodbye"]


@pytest.mark.parametrize(
    "name, arguments, needle",
    [
        ("transfer_money", {"amount": 10**9, "from_account": "checking", "to_account": "savings"}, "insufficient funds"),
        ("transfer_money", {"amount": 5, "from_account": "checking", "to_account": "checking"}, "must differ"),
        ("transfer_money", {"amount": -5, "from_account": "checking", "to_account": "savings"}, "positive"),
        ("transfer_money", {"amount": "5", "from_account": "checking", "to_account": "savings"}, "invalid call"),
        ("cancel_card", {"card_last_four": "0000"}, "no active card ending in 0000"),
        ("check_balance", {"account_type": "brokerage"}, "invalid call"),
        ("activate_card", {"card_last_four": 1234}, "invalid call"),
        ("wire_money", {}, "unknown tool"),
    ],
)
def test_invalid_calls_are_tool_errors(name, arguments, needle):
    env = BankingEnv(seed=5)
    before = env.state()
    data, _, info = run(env, name, **arguments)
    assert needle in data["error"] and info["errors"] == 1
    assert env.state() == before


def test_real_banking_set_scores_against_this_env(shared_data):
    from rlkit.envs.verify import reference_check
    from rlkit.data.distil import load_distil_jsonl
    from rlkit.toolcall import validate_call

    ds = load_distil_jsonl(shared_data / "banking" / "train.jsonl")
    tools = json.dumps(BankingEnv.tools)
    for row in ds:
        answer = json.loads(row["answer"])
        calls = [ToolCall(c["name"], c["arguments"]) for c in answer]
        assert all(validate_call(c, tools).ok for c in calls), answer
        assert reference_check({"answer": row["answer"], "tools": tools}, calls).ok
        responses, _, _ = BankingEnv(seed=0).step(calls)  # real calls run (or answer in words), never raise
        assert all(isinstance(json.loads(r), dict) for r in responses)
