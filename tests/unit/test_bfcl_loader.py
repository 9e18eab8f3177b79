"""BFCL loader: columns, answer pairing, and errors that name file and line."""

import json

import pytest

from rlkit.data import BFCL_CATEGORIES, BfclFormatError, bfcl_dir, bfcl_files, load_bfcl

QUESTION = {"id": "simple_0", "question": [[{"role": "user", "content": "Area of a circle r=2?"}]],
            "function": [{"name": "geometry.area", "description": "d", "parameters": {"type": "dict", "properties": {"r": {"type": "integer"}}, "required": ["r"]}}]}
ANSWER = {"id": "simple_0", "ground_truth": [{"geometry.area": {"r": [2]}}]}


def write_lines(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def test_loads_questions_with_answers_beside(tmp_path):
    questions = write_lines(tmp_path / "BFCL_v3_simple.json", [QUESTION])
    write_lines(tmp_path / "possible_answer" / "BFCL_v3_simple.json", [ANSWER])
    dataset = load_bfcl(questions)
    assert dataset.column_names == ["id", "messages", "tools", "answer"]
    row = dataset[0]
    assert row["messages"] == [{"role": "user", "content": "Area of a circle r=2?"}]
    assert json.loads(row["tools"]) == QUESTION["function"]
    assert json.loads(row["answer"]) == ANSWER["ground_truth"]


def test_without_answer_file_the_answer_is_none(tmp_path):
    dataset = load_bfcl(write_lines(tmp_path / "q.json", [QUESTION]))
    assert dataset[0]["answer"] is None


@pytest.mark.parametrize(
    "rows, message",
    [
        ([QUESTION, "{broken"], r"q\.json:2: invalid JSON"),
        ([QUESTION, {"id": "x", "question": [[], []], "function": []}], r"q\.json:2: 'question' must hold exactly one turn"),
        ([{"id": "y", "question": [[{"content": "no role"}]], "function": []}], r"q\.json:1: every message"),
        ([{"id": "z", "question": [[]], "function": [{"no": "name"}]}], r"q\.json:1: 'function'"),
        ([{"question": [[]], "function": []}], r"q\.json:1: row must be an object"),
    ],
)
def test_bad_question_rows_name_file_and_line(tmp_path, rows, message):
    with pytest.raises(BfclFormatError, match=message):
        load_bfcl(write_lines(tmp_path / "q.json", rows))


def test_answer_mismatches_are_errors(tmp_path):
    questions = write_lines(tmp_path / "q.json", [QUESTION])
    with pytest.raises(BfclFormatError, match="has no answer"):
        load_bfcl(questions, write_lines(tmp_path / "a.json", [{"id": "other", "ground_truth": []}]))
    with pytest.raises(BfclFormatError, match="1 answers have no question"):
        load_bfcl(questions, write_lines(tmp_path / "b.json", [ANSWER, {"id": "extra", "ground_truth": []}]))
    with pytest.raises(BfclFormatError, match=r"c\.json:2: duplicate id"):
        load_bfcl(questions, write_lines(tmp_path / "c.json", [ANSWER, ANSWER]))
    with pytest.raises(BfclFormatError, match=r"d\.json:1: answer row needs"):
        load_bfcl(questions, write_lines(tmp_path / "d.json", [{"id": "simple_0"}]))


def test_real_bfcl_files_load(shared_data):
    assert bfcl_dir().resolve() == (shared_data / "bfcl_v3").resolve()
    sizes = {category: len(load_bfcl(bfcl_files(category)[0])) for category in BFCL_CATEGORIES}
    assert sizes == {"simple": 400, "multiple": 200, "parallel": 200, "parallel_multiple": 200}
