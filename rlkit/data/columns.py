"""The `datasets` features of the shared task columns (messages, tools, answer, ...).

Tool-call arguments differ from tool to tool; Arrow would unify them into one struct and invent
`None` for every argument a call does not have, so they are stored as `Json()` instead.
"""

from __future__ import annotations

from datasets import Features, Json, List, Value

MESSAGE_FEATURE = {
    "role": Value("string"),
    "content": Value("string"),
    "tool_calls": List({"type": Value("string"), "function": {"name": Value("string"), "arguments": Json()}}),
}

# Columns every task source (env generators, distil JSONL) provides; env tasks add more.
CORE_FEATURES = {
    "messages": List(MESSAGE_FEATURE),
    "tools": Value("string"),
    "answer": Value("string"),
}

TASK_FEATURES = Features(
    {
        **CORE_FEATURES,
        "reply": Value("string"),
        "facts": Value("string"),
        "env": Value("string"),
        "env_seed": Value("int64"),
        "task_id": Value("string"),
        "kind": Value("string"),
        "split": Value("string"),
        "template_id": Value("string"),
        "turn_index": Value("int64"),
        "num_turns": Value("int64"),
        "off_domain": Value("bool"),
    }
)


def task_dataset(rows: list[dict], features: Features):
    """A `datasets.Dataset` of task rows; every message gets a `tool_calls` list (empty if none).

    pyarrow cannot write the `Json()` arguments feature when a `tool_calls` value is null in every
    row, so absent lists are stored as empty lists rather than left for `datasets` to fill with None.
    """
    from datasets import Dataset

    for row in rows:
        row["messages"] = [{**m, "tool_calls": m.get("tool_calls") or []} for m in row["messages"]]
    return Dataset.from_list(rows, features=features)


def core_features() -> Features:
    """Features of a dataset with only the core columns (messages, tools, answer)."""
    return Features(dict(CORE_FEATURES))
