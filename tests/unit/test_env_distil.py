"""Distil JSONL loader: the real banking file loads whole; bad rows fail naming file and line."""

import json

import pytest

from rlkit.data.distil import DistilFormatError, load_distil_jsonl

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": []}}}]


def write(tmp_path, lines, tools=TOOLS):
    (tmp_path / "tools.json").write_text(json.dumps(tools))
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def row(question, answer):
    return json.dumps({"question": json.dumps(question), "answer": json.dumps(answer)})


def test_banking_train_loads_with_zero_rows_dropped(shared_data):
    path = shared_data / "banking" / "train.jsonl"
    n_lines = sum(1 for line in path.read_text().splitlines() if line.strip())
    ds = load_distil_jsonl(path)  # job_description.json beside the file
    assert len(ds) == n_lines == 77
    assert len(json.loads(ds[0]["tools"])) == 14
    first = ds[0]
    assert first["messages"][0]["role"] == "system" and "List of tools" not in first["messages"][0]["content"]
    assert json.loads(first["answer"]) == [{"name": "greeting", "arguments": {}}]
    multi = ds[16]  # three user turns with two earlier partial calls
    calls = [m["tool_calls"][0]["function"] for m in multi["messages"] if m["tool_calls"]]
    assert calls == [{"name": "transfer_money", "arguments": {}},
                     {"name": "transfer_money", "arguments": {"amount": 750, "from_account": "checking"}}]
    assert json.loads(multi["answer"]) == [{"name": "transfer_money", "arguments": {"amount": 750, "from_account": "checking", "to_account": "savings"}}]


def test_other_tool_call_shapes_are_normalized(tmp_path):
    question = [{"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "tool_calls": [{"name": "f", "arguments": "{\"x\": 1}"}]},
                {"role": "tool", "content": "done"},
                {"role": "assistant", "tool_calls": [{"function": {"name": "f", "parameters": {"x": 2}}}]},
                {"role": "user", "content": "again"}]
    ds = load_distil_jsonl(write(tmp_path, [row(question, {"name": "f", "arguments": {"x": 3}})]), tmp_path / "tools.json")
    messages = ds[0]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant", "user"]
    assert messages[1]["content"] == "" and messages[1]["tool_calls"][0]["function"] == {"name": "f", "arguments": {"x": 1}}
    assert messages[3]["tool_calls"][0]["function"]["arguments"] == {"x": 2}
    assert json.loads(ds[0]["answer"]) == [{"name": "f", "arguments": {"x": 3}}]


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        json.dumps({"question": "[]", "answer": "{}"}),
        json.dumps({"question": json.dumps([{"role": "user", "content": "x"}])}),
        json.dumps({"question": json.dumps([{"role": "robot", "content": "x"}]), "answer": json.dumps({"name": "f", "parameters": {}})}),
        json.dumps({"question": json.dumps([{"role": "user", "content": "x"}]), "answer": json.dumps({"parameters": {}})}),
        json.dumps({"question": json.dumps([{"role": "user", "content": "x"}]), "answer": json.dumps({"name": "f", "parameters": [1]})}),
    ],
)
def test_bad_row_error_names_file_and_line(tmp_path, bad):
    good = row([{"role": "user", "content": "x"}], {"name": "f", "parameters": {"x": 1}})
    path = write(tmp_path, [good, "", bad])
    with pytest.raises(DistilFormatError, match=r"data\.jsonl:3: cannot load row"):
        load_distil_jsonl(path, tmp_path / "tools.json")


def test_missing_tools_file_is_a_clear_error(tmp_path):
    path = write(tmp_path, [row([{"role": "user", "content": "x"}], {"name": "f", "parameters": {}})])
    with pytest.raises(DistilFormatError, match="job_description.json does not exist"):
        load_distil_jsonl(path)
