"""BFCL single-turn question files (+ possible answers) -> `datasets.Dataset`.

Two sources: any BFCL question file given by path (`load_bfcl`, e.g. the v3 files), and every
BFCL v4 single-turn category shipped inside the `bfcl-eval` package (`load_bfcl_category`, read
with importlib.resources; nothing of the package is imported for it).

Columns: `id`, `messages` (the chat messages of the single turn), `tools` (JSON string of the
function schemas, BFCL style) and `answer` (JSON string of the ground truth
`[{"func": {"arg": [acceptable values]}}]`, or None when no answer file is found).
`load_bfcl_category` adds `category`; its irrelevance rows have the answer `"[]"` (no call is
right) and live_relevance rows None (any well-formed call is right: BFCL has no answer for them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import datasets

# The reader and the error type live with the multi-turn env (rlkit.envs sits below rlkit.data).
from rlkit.envs.bfcl_multi_turn import MULTI_TURN_CATEGORIES, VERSION_PREFIX, bfcl_data_root, read_json_lines
from rlkit.envs.bfcl_multi_turn import BfclDataError as BfclFormatError

BFCL_CATEGORIES = ("simple", "multiple", "parallel", "parallel_multiple")  # the v3 files in ../shared/data

# BFCL v4's single-turn categories, grouped as its leaderboard groups them (category_mapping.py).
NON_LIVE_CATEGORIES = ("simple_python", "simple_java", "simple_javascript", "multiple", "parallel",
                       "parallel_multiple", "irrelevance")
LIVE_CATEGORIES = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance",
                   "live_relevance")
SINGLE_TURN_CATEGORIES = NON_LIVE_CATEGORIES + LIVE_CATEGORIES
NO_CALL_CATEGORIES = ("irrelevance", "live_irrelevance")  # right answer: no call
ANY_CALL_CATEGORIES = ("live_relevance",)  # right answer: any well-formed call
# Multi-turn categories the eval harness can play (miss_func reveals tools mid-episode: it cannot).
PLAYABLE_MULTI_TURN = ("multi_turn_base", "multi_turn_miss_param", "multi_turn_long_context")
CATEGORY_GROUPS = {
    "all": SINGLE_TURN_CATEGORIES + ("multi_turn_base",),
    "single_turn": SINGLE_TURN_CATEGORIES,
    "non_live": NON_LIVE_CATEGORIES,
    "live": LIVE_CATEGORIES,
    "multi_turn": PLAYABLE_MULTI_TURN,
}
# BFCL appends these to every function description of the prompt (utils._get_language_specific_hint).
LANGUAGE_HINTS = {"simple_java": " Note that the provided function is in Java 8 SDK syntax.",
                  "simple_javascript": " Note that the provided function is in JavaScript syntax."}
PYTHON_HINT = " Note that the provided function is in Python 3 syntax."


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


_json_lines = read_json_lines


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


def resolve_categories(spec: str) -> list[str]:
    """`all`, a group (`single_turn`, `non_live`, `live`, `multi_turn`) or comma-separated category names."""
    known = SINGLE_TURN_CATEGORIES + MULTI_TURN_CATEGORIES
    out: list[str] = []
    for name in (part.strip() for part in spec.split(",") if part.strip()):
        if name in CATEGORY_GROUPS:
            out += CATEGORY_GROUPS[name]
        elif name in known:
            out.append(name)
        else:
            raise KeyError(f"unknown BFCL category {name!r}; groups: {', '.join(CATEGORY_GROUPS)}; "
                           f"categories: {', '.join(known)}")
    if not out:
        raise ValueError(f"no BFCL category in {spec!r}")
    return list(dict.fromkeys(out))


def bfcl_v4_files(category: str) -> tuple[Path, Path | None]:
    """(question file, answer file or None) of one v4 category inside the installed bfcl-eval package."""
    root = bfcl_data_root()
    name = f"{VERSION_PREFIX}_{category}.json"
    questions, answers = root / name, root / "possible_answer" / name
    if not questions.is_file():
        raise FileNotFoundError(f"BFCL category {category!r}: no {questions}")
    return questions, answers if answers.is_file() else None


def load_bfcl_category(category: str, limit: int = 0) -> datasets.Dataset:
    """One BFCL v4 single-turn category (the first `limit` rows; 0 = all), with BFCL's prompt hint."""
    if category not in SINGLE_TURN_CATEGORIES:
        raise KeyError(f"{category!r} is not a BFCL v4 single-turn category; known: "
                       f"{', '.join(SINGLE_TURN_CATEGORIES)}")
    questions, answers = bfcl_v4_files(category)
    no_answer = category in NO_CALL_CATEGORIES + ANY_CALL_CATEGORIES
    if answers is None and not no_answer:
        raise FileNotFoundError(f"BFCL category {category!r}: no answer file beside {questions}")
    rows = load_bfcl(questions, answers if not no_answer else None)
    if limit and limit > 0:
        rows = rows.select(range(min(limit, len(rows))))
    hint = LANGUAGE_HINTS.get(category, PYTHON_HINT)
    columns: dict[str, list] = {"id": rows["id"], "messages": rows["messages"], "tools": [], "answer": [],
                                "category": []}
    for tools, answer in zip(rows["tools"], rows["answer"]):
        functions = json.loads(tools)
        for function in functions:
            function["description"] = function.get("description", "") + hint
        columns["tools"].append(json.dumps(functions, ensure_ascii=False))
        columns["answer"].append("[]" if category in NO_CALL_CATEGORIES else answer)
        columns["category"].append(category)
    return datasets.Dataset.from_dict(columns)
