"""BFCL v3 single-turn question files (+ possible answers) -> `datasets.Dataset`.

Columns: `id`, `messages` (the chat messages of the single turn), `tools` (JSON string of the
function schemas, BFCL style) and `answer` (JSON string of the ground truth
`[{"func": {"arg": [acceptable values]}}]`, or None when no answer file is found).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets

BFCL_CATEGORIES = ("simple", "multiple", "parallel", "parallel_multiple")


class BfclFormatError(ValueError):
    """A malformed BFCL row; the message names the file and line."""


def bfcl_dir() -> Path:
    """`<repo>/../shared/data/bfcl_v3` (may not exist on machines without the shared data)."""
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "bfcl_v3"


def bfcl_files(category: str, root: Path | None = None) -> tuple[Path, Path]:
    """(question file, answer file) of one category, e.g. "parallel_multiple"."""
    root = Path(root) if root is not None else bfcl_dir()
    name = f"BFCL_v3_{category}.json"
    return root / name, root / "possible_answer" / name


def load_bfcl(question_file: str | Path, answer_file: str | Path | None = None) -> datasets.Dataset:
    """One BFCL question file as a Dataset; answers from `answer_file` or `possible_answer/<same name>`."""
    question_file = Path(question_file)
    if answer_file is None:
        beside = question_file.parent / "possible_answer" / question_file.name
        answer_file = beside if beside.is_file() else None
    answers = _read_answers(Path(answer_file)) if answer_file is not None else None
    rows: dict[str, list] = {"id": [], "messages": [], "tools": [], "answer": []}
    for line_number, row in _json_lines(question_file):
        row_id, messages, functions = _question_fields(row, question_file, line_number)
        if answers is not None and row_id not in answers:
            raise BfclFormatError(f"{question_file}:{line_number}: id {row_id!r} has no answer in {answer_file}")
        rows["id"].append(row_id)
        rows["messages"].append(messages)
        rows["tools"].append(json.dumps(functions, ensure_ascii=False))
        rows["answer"].append(answers.pop(row_id) if answers is not None else None)
    if answers:
        raise BfclFormatError(f"{answer_file}: {len(answers)} answers have no question, e.g. {next(iter(answers))!r}")
    return datasets.Dataset.from_dict(rows)


def _json_lines(path: Path):
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield line_number, json.loads(line)
            except ValueError as error:
                raise BfclFormatError(f"{path}:{line_number}: invalid JSON: {error}") from None


def _question_fields(row: Any, path: Path, line_number: int) -> tuple[str, list[dict], list[dict]]:
    where = f"{path}:{line_number}"
    if not isinstance(row, dict) or not isinstance(row.get("id"), str):
        raise BfclFormatError(f"{where}: row must be an object with a string 'id'")
    turns = row.get("question")
    if not isinstance(turns, list) or len(turns) != 1 or not isinstance(turns[0], list):
        raise BfclFormatError(f"{where}: 'question' must hold exactly one turn (multi-turn rows are not supported)")
    messages = turns[0]
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str) or "content" not in message:
            raise BfclFormatError(f"{where}: every message needs 'role' and 'content'")
    functions = row.get("function")
    if not isinstance(functions, list) or not all(isinstance(f, dict) and "name" in f for f in functions):
        raise BfclFormatError(f"{where}: 'function' must be a list of schemas with a 'name'")
    return row["id"], [{"role": m["role"], "content": m["content"]} for m in messages], functions


def _read_answers(path: Path) -> dict[str, str]:
    answers: dict[str, str] = {}
    for line_number, row in _json_lines(path):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not isinstance(row.get("ground_truth"), list):
            raise BfclFormatError(f"{path}:{line_number}: answer row needs 'id' and a list 'ground_truth'")
        if row["id"] in answers:
            raise BfclFormatError(f"{path}:{line_number}: duplicate id {row['id']!r}")
        answers[row["id"]] = json.dumps(row["ground_truth"], ensure_ascii=False)
    return answers
