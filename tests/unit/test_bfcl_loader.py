"""BFCL loader: columns, answer pairing, errors that name file and line, and v4 from the bfcl-eval package."""

import json

import pytest

from rlkit.data import BfclFormatError, load_bfcl
from rlkit.data.bfcl import PYTHON_HINT, SINGLE_TURN_CATEGORIES, load_bfcl_category, resolve_categories

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


@pytest.fixture(scope="module")
def bfcl_package():
    return pytest.importorskip("bfcl_eval", reason="BFCL v4 comes from the bfcl-eval package (scripts/install.sh installs it)")


V4_SIZES = {"simple_python": 400, "simple_java": 100, "simple_javascript": 50, "multiple": 200, "parallel": 200,
            "parallel_multiple": 200, "irrelevance": 240, "live_simple": 258, "live_multiple": 1053, "live_parallel": 16,
            "live_parallel_multiple": 24, "live_irrelevance": 884, "live_relevance": 16}


def test_every_v4_single_turn_category_loads_from_the_package(bfcl_package):
    assert set(V4_SIZES) == set(SINGLE_TURN_CATEGORIES)
    sizes = {category: len(load_bfcl_category(category)) for category in SINGLE_TURN_CATEGORIES}
    assert sizes == V4_SIZES


def test_v4_rows_carry_category_hint_and_bfcl_answers(bfcl_package):
    rows = load_bfcl_category("simple_python", limit=3)
    assert len(rows) == 3 and rows.column_names == ["id", "messages", "tools", "answer", "category"]
    assert set(rows["category"]) == {"simple_python"}
    assert json.loads(rows[0]["tools"])[0]["description"].endswith(PYTHON_HINT)
    assert json.loads(rows[0]["answer"])[0]  # the ground truth, {"func": {"arg": [values]}}
    java = load_bfcl_category("simple_java", limit=1)
    assert json.loads(java[0]["tools"])[0]["description"].endswith("Java 8 SDK syntax.")
    assert set(load_bfcl_category("irrelevance", limit=5)["answer"]) == {"[]"}  # no call is right
    assert set(load_bfcl_category("live_relevance")["answer"]) == {None}  # BFCL has no answer: any call is right


def test_category_specs_resolve_groups_and_reject_unknown_names():
    assert resolve_categories("all") == list(SINGLE_TURN_CATEGORIES) + ["multi_turn_base"]
    assert resolve_categories("simple_python, live_simple,simple_python") == ["simple_python", "live_simple"]
    assert resolve_categories("multi_turn")[0] == "multi_turn_base"
    with pytest.raises(KeyError, match="unknown BFCL category 'simple'"):
        resolve_categories("simple")
    with pytest.raises(KeyError, match="not a BFCL v4 single-turn category"):
        load_bfcl_category("multi_turn_base")
