"""Read a job description: `{"task_description": str, "tools": [tool schemas]}` (errors name the file)."""

from __future__ import annotations

import json
from pathlib import Path

from rlkit.toolcall import ToolSchemaError, load_tools


def load_job(path: str | Path) -> tuple[str, list[dict]]:
    """(task description, tool schemas as given) from a job_description.json-style file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"job description not found: {path}")
    try:
        data = json.loads(path.read_text())
    except ValueError as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be an object with task_description and tools")
    description, tools = data.get("task_description"), data.get("tools")
    if not isinstance(description, str) or not description.strip():
        raise ValueError(f"{path}: 'task_description' must be a non-empty string")
    if not isinstance(tools, list) or not tools:
        raise ValueError(f"{path}: 'tools' must be a non-empty list of tool schemas")
    try:
        load_tools(tools)  # every schema must be readable before any teacher time is spent
    except ToolSchemaError as error:
        raise ValueError(f"{path}: {error}") from None
    return description, tools
