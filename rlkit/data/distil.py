"""Loader for the distil JSONL format: a conversation so far and the single next tool call expected.

Each line is `{"question": <JSON string: chat messages>, "answer": <JSON string: {"name", "parameters"}>}`.
Earlier assistant turns may carry tool calls (OpenAI form, or bare `{"name", "arguments"|"parameters"}`,
arguments possibly JSON-encoded). Rows become the shared task columns: `messages` (with the job's task
description as system prompt, never the tool list), `tools` (JSON string) and `answer` (JSON list of
`{"name", "arguments"}`). Every row loads or the loader raises an error naming the file and line.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ROLES = ("system", "user", "assistant", "tool")


class DistilFormatError(ValueError):
    """A distil file or row that cannot be loaded; the message names the file and line."""


def load_job(tools_path: str | Path) -> tuple[str, list[dict]]:
    """(task description, tool schemas) from a job_description.json-style file or a bare list of tools."""
    path = Path(tools_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DistilFormatError(f"{path}: cannot read tool schemas: {exc}") from exc
    if isinstance(data, list):
        return "", data
    if isinstance(data, dict) and isinstance(data.get("tools"), list):
        return str(data.get("task_description") or ""), data["tools"]
    raise DistilFormatError(f"{path}: expected a list of tools or an object with a 'tools' list")


def normalize_tool_call(raw: Any) -> dict:
    """One tool call in any shape the format uses, as the OpenAI form `{"type", "function": {name, arguments}}`."""
    if not isinstance(raw, dict):
        raise ValueError(f"tool call must be an object, got {type(raw).__name__}")
    function = raw.get("function") if isinstance(raw.get("function"), dict) else raw
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"tool call without a name: {raw!r}")
    arguments = function.get("arguments", function.get("parameters", {}))
    if isinstance(arguments, str):
        arguments = json.loads(arguments) if arguments.strip() else {}
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ValueError(f"arguments of {name} must be an object, got {type(arguments).__name__}")
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


def normalize_message(raw: Any) -> dict:
    """A chat message with a known role, string content and (for assistants) normalized tool calls."""
    if not isinstance(raw, dict) or raw.get("role") not in ROLES:
        raise ValueError(f"message must be an object with role in {ROLES}: {raw!r}")
    content = raw.get("content")
    message = {"role": raw["role"], "content": "" if content is None else str(content)}
    calls = raw.get("tool_calls")
    if calls:
        if raw["role"] != "assistant" or not isinstance(calls, list):
            raise ValueError(f"only assistant messages carry a tool_calls list: {raw!r}")
        message["tool_calls"] = [normalize_tool_call(c) for c in calls]
    return message


def parse_answer(raw: str) -> list[dict]:
    """The reference call(s) of a distil `answer` as a list of `{"name", "arguments"}`."""
    data = json.loads(raw) if isinstance(raw, str) else raw
    items = data if isinstance(data, list) else [data]
    if not items:
        raise ValueError("answer holds no call")
    out = []
    for item in items:
        function = normalize_tool_call(item)["function"]
        out.append({"name": function["name"], "arguments": function["arguments"]})
    return out


def parse_row(line: str, system_prompt: str) -> dict:
    """One JSONL line to the task columns (raises ValueError/JSONDecodeError on bad input)."""
    row = json.loads(line)
    if not isinstance(row, dict) or "question" not in row or "answer" not in row:
        raise ValueError("row must be an object with 'question' and 'answer'")
    question = json.loads(row["question"]) if isinstance(row["question"], str) else row["question"]
    if not isinstance(question, list) or not question:
        raise ValueError("'question' must be a non-empty list of messages")
    messages = [normalize_message(m) for m in question]
    if system_prompt and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    return {"messages": messages, "answer": json.dumps(parse_answer(row["answer"]))}


def load_distil_jsonl(path: str | Path, tools_path: str | Path | None = None):
    """A `datasets.Dataset` with `messages`, `tools`, `answer`, `task_id` from a distil JSONL file.

    `tools_path` defaults to job_description.json beside the file. Blank lines are skipped (and
    counted in the log); any other line that cannot be loaded raises DistilFormatError naming it.
    """
    from datasets import Value

    from rlkit.data.columns import core_features, task_dataset
    from rlkit.toolcall import ToolCall, validate_call

    path = Path(path)
    tools_path = Path(tools_path) if tools_path else path.parent / "job_description.json"
    if not tools_path.exists():
        raise DistilFormatError(f"{path}: no tool schemas: {tools_path} does not exist (pass tools_path)")
    system_prompt, tools = load_job(tools_path)
    tools_json = json.dumps(tools)
    rows, blank, off_schema = [], 0, 0
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DistilFormatError(f"{path}: cannot read: {exc}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            blank += 1
            continue
        try:
            row = parse_row(line, system_prompt)
        except (ValueError, TypeError) as exc:
            raise DistilFormatError(f"{path}:{number}: cannot load row: {exc}") from exc
        for call in json.loads(row["answer"]):
            if not validate_call(ToolCall(call["name"], call["arguments"]), tools_json).ok:
                off_schema += 1
        rows.append({**row, "tools": tools_json, "task_id": f"{path.stem}-{number}"})
    if blank:
        log.info("%s: skipped %d blank lines", path, blank)
    if off_schema:
        log.warning("%s: %d reference calls do not fit the tool schemas in %s", path, off_schema, tools_path)
    features = core_features()
    features["task_id"] = Value("string")
    return task_dataset(rows, features)
