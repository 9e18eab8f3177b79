"""BFCL v4 multi-turn rows as an env: the bfcl-eval package's simulated APIs, driven by parsed calls only.

Each row names its `involved_classes` and an `initial_config`; the env instantiates those classes
from `bfcl_eval/eval_checker/multi_turn_eval/func_source_code/` and loads the config, as BFCL's
runner does. A call is dispatched by method name to the instance that has it, with literal
keyword arguments, and only if the row's function docs declare that name (BFCL's runner `eval`s
call strings; nothing here does). Ground-truth answers are call strings such as
`"cd(folder='x')"`; they are read with the project's literal reader (rlkit.toolcall.pythonic)
and positional arguments are bound by the simulated method's signature.

Scoring (`check_multi_turn`) follows BFCL's multi-turn checker: for every turn with ground-truth
calls the model must have made a call, every instance's public attributes after the turn must
equal the ground truth's, and the ground truth's execution results of that turn must all appear
(as a multiset) among the model's results of all turns so far. Turns without ground truth
(miss_param / miss_func) are skipped, and there the model must make no call.
"""

from __future__ import annotations

import ast
import decimal
import functools
import importlib
import inspect
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from rlkit.toolcall.call import ToolCall
from rlkit.toolcall.pythonic import CallSyntaxError, dotted_name, literal_value

log = logging.getLogger(__name__)

VERSION_PREFIX = "BFCL_v4"
MULTI_TURN_CATEGORIES = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
# Categories whose empty ground-truth turns also require the model to make no call (BFCL's
# multi_turn_irrelevance_checker).
CATEGORIES_WITH_EMPTY_TURNS = ("multi_turn_miss_func", "multi_turn_miss_param")
API_CLASSES = ("GorillaFileSystem", "MathAPI", "MessageAPI", "TwitterAPI", "TicketAPI", "TradingBot", "TravelAPI",
               "VehicleControlAPI")
INSTALL_HINT = "pip install --no-deps bfcl-eval==2026.3.23 (scripts/install.sh does this)"
ERROR_PREFIX = "Error during execution: "  # BFCL's spelling, so error results compare equal
# Arguments that make the simulated MathAPI compute without bound (int ** int, mpmath and decimal
# precision). BFCL's runner has no such guard; here model output is untrusted input.
ARGUMENT_LIMITS = {("power", "exponent"): 10_000, ("logarithm", "precision"): 10_000,
                   ("square_root", "precision"): 10_000}


class BfclDataError(ValueError):
    """A malformed BFCL file or row; the message names the file, line, row or key."""


def bfcl_data_root() -> Path:
    """`bfcl_eval/data` inside the installed bfcl-eval package (ModuleNotFoundError says how to install)."""
    from importlib.resources import files

    try:
        root = files("bfcl_eval") / "data"
    except ModuleNotFoundError:
        raise ModuleNotFoundError(f"BFCL v4 data comes from the bfcl-eval package, not installed: {INSTALL_HINT}") from None
    path = Path(str(root))
    if not path.is_dir():
        raise FileNotFoundError(f"bfcl-eval is installed but {path} is not a directory (zipped?): {INSTALL_HINT}")
    return path


def read_json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) for every non-blank line of a JSON Lines file; errors name file and line."""
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield line_number, json.loads(line)
                except ValueError as error:
                    raise BfclDataError(f"{path}:{line_number}: invalid JSON: {error}") from None


@functools.lru_cache(maxsize=8)
def load_multi_turn_rows(category: str) -> tuple[dict, ...]:
    """Every row of a multi-turn category with its `ground_truth` (cached; treat as read-only)."""
    if category not in MULTI_TURN_CATEGORIES:
        raise KeyError(f"unknown BFCL multi-turn category {category!r}; known: {', '.join(MULTI_TURN_CATEGORIES)}")
    root = bfcl_data_root()
    name = f"{VERSION_PREFIX}_{category}.json"
    questions, answers = root / name, root / "possible_answer" / name
    truth = {row["id"]: row["ground_truth"] for _, row in read_json_lines(answers)}
    rows = []
    for line_number, row in read_json_lines(questions):
        where = f"{questions}:{line_number}"
        for key in ("id", "question", "initial_config", "involved_classes"):
            if key not in row:
                raise BfclDataError(f"{where}: row has no {key!r}")
        if row["id"] not in truth or len(truth[row["id"]]) != len(row["question"]):
            raise BfclDataError(f"{where}: {row['id']} has no ground truth with one entry per turn in {answers}")
        rows.append({**row, "ground_truth": truth[row["id"]]})
    return tuple(rows)


def multi_turn_row(row_id: str) -> dict:
    """The row with this id (its category is the id without the trailing index, as in BFCL)."""
    category = row_id.rsplit("_", 1)[0]
    for row in load_multi_turn_rows(category):
        if row["id"] == row_id:
            return row
    raise KeyError(f"no BFCL row {row_id!r} in {category}")


@functools.lru_cache(maxsize=None)
def class_function_docs(class_name: str) -> tuple[dict, ...]:
    """The function docs BFCL shows the model for one simulated-API class."""
    from bfcl_eval.constants.executable_backend_config import MULTI_TURN_FUNC_DOC_FILE_MAPPING

    if class_name not in MULTI_TURN_FUNC_DOC_FILE_MAPPING:
        raise BfclDataError(f"unknown involved class {class_name!r}; known: {', '.join(API_CLASSES)}")
    path = bfcl_data_root() / "multi_turn_func_doc" / MULTI_TURN_FUNC_DOC_FILE_MAPPING[class_name]
    return tuple(doc for _, doc in read_json_lines(path))


def function_docs(row: dict) -> list[dict]:
    """All function docs of the row's involved classes (miss_func's held-out ones included: calling them is allowed)."""
    return [dict(doc) for name in row["involved_classes"] for doc in class_function_docs(name)]


def _api_class(class_name: str) -> type:
    from bfcl_eval.constants.executable_backend_config import CLASS_FILE_PATH_MAPPING

    # The web-search and memory backends need network clients and embedding models: not simulations.
    if class_name not in API_CLASSES:
        raise BfclDataError(f"involved class {class_name!r} is not one of the simulated APIs {', '.join(API_CLASSES)}")
    return getattr(importlib.import_module(CLASS_FILE_PATH_MAPPING[class_name]), class_name)


def method_signatures(row: dict) -> dict[str, inspect.Signature]:
    """Signatures (without `self`) of the declared methods of the row's classes."""
    declared = {doc["name"] for doc in function_docs(row)}
    out = {}
    for class_name in row["involved_classes"]:
        for name, function in inspect.getmembers(_api_class(class_name), inspect.isfunction):
            if name in declared:
                signature = inspect.signature(function)
                out[name] = signature.replace(parameters=list(signature.parameters.values())[1:])
    return out


def parse_reference_call(text: str, signatures: dict[str, inspect.Signature]) -> ToolCall:
    """A ground-truth call string -> ToolCall; literal values only, positional arguments bound by name."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as error:
        raise CallSyntaxError(f"{text!r}: syntax error: {error.msg}") from None
    if not isinstance(node, ast.Call):
        raise CallSyntaxError(f"{text!r} is not a call")
    name = dotted_name(node.func)
    arguments = {keyword.arg: literal_value(keyword.value, depth=0) for keyword in node.keywords if keyword.arg}
    if len(arguments) != len(node.keywords):
        raise CallSyntaxError(f"{text!r}: **kwargs is not allowed")
    if node.args:
        if name not in signatures:
            raise CallSyntaxError(f"{text!r}: positional arguments to an undeclared function")
        try:
            bound = signatures[name].bind_partial(*[literal_value(arg, depth=0) for arg in node.args], **arguments)
        except TypeError as error:
            raise CallSyntaxError(f"{text!r}: {error}") from None
        arguments = dict(bound.arguments)
    return ToolCall(name, arguments)


def reference_turns(row: dict) -> list[list[ToolCall]]:
    """The row's ground-truth calls per turn; errors name the row, turn and call."""
    signatures = method_signatures(row)
    turns = []
    for turn_index, calls in enumerate(row["ground_truth"]):
        parsed = []
        for call_index, text in enumerate(calls):
            try:
                parsed.append(parse_reference_call(text, signatures))
            except CallSyntaxError as error:
                raise BfclDataError(f"{row['id']} turn {turn_index} call {call_index}: {error}") from None
        turns.append(parsed)
    return turns


def plain_state(value: Any) -> Any:
    """JSON-able copy that compares equal exactly when BFCL's attribute comparison does.

    Files and directories compare by name and content(s), as their own `__eq__` does (a
    directory's parent link is left out); non-string dict keys and sets are tagged so that
    `{1: x}` and `{"1": x}` stay different.
    """
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {key if isinstance(key, str) else f"<{type(key).__name__}>{key!r}": plain_state(item)
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_state(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return {"<set>": sorted((plain_state(item) for item in value), key=repr)}
    kind = type(value).__name__
    if kind == "File" and hasattr(value, "content"):
        return {"<File>": {"name": value.name, "content": value.content}}
    if kind == "Directory" and hasattr(value, "contents"):
        return {"<Directory>": {"name": value.name, "contents": plain_state(value.contents)}}
    return {f"<{kind}>": repr(value)}


def format_result(result: Any) -> str:
    """A method's return value as BFCL records it: strings as is, dicts as JSON (else str), else str."""
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        try:
            return json.dumps(result)
        except (TypeError, ValueError):
            return str(result)
    return str(result)


class BfclMultiTurnEnv:
    """One BFCL multi-turn row as an Env: `reset(turns)`, `step(calls)`, `state()` (see module doc)."""

    name = "bfcl_multi_turn"

    def __init__(self, row: dict) -> None:
        self.row = row
        self.category = row["id"].rsplit("_", 1)[0]
        self.tools = function_docs(row)
        self._declared = {doc["name"] for doc in self.tools}
        self.results: list[str] = []
        self.reset()

    def reset(self, task: int | None = None) -> list[dict]:
        """Load the initial config into fresh instances; with `task=k`, replay ground-truth turns 0..k-1.

        Returns the conversation up to turn k's user messages (earlier turns with the ground-truth
        calls and their results), or [] without a task.
        """
        long_context = "long_context" in self.category
        self._instances: dict[str, Any] = {}
        self._methods: dict[str, Any] = {}
        for class_name in self.row["involved_classes"]:
            instance = _api_class(class_name)()
            if hasattr(instance, "_load_scenario"):  # MathAPI is stateless and has none
                config = json.loads(json.dumps(self.row["initial_config"].get(class_name, {})))
                instance._load_scenario(config, long_context=long_context)
            self._instances[class_name] = instance
            for name in self._declared:  # looked up on the class: getattr on the instance could run properties
                if not name.startswith("_") and inspect.isfunction(getattr(type(instance), name, None)):
                    self._methods[name] = getattr(instance, name)
        self.results = []
        if task is None:
            return []
        messages: list[dict] = []
        for turn_index, calls in enumerate(reference_turns(self.row)[: task + 1]):
            messages.extend(self.row["question"][turn_index])
            if turn_index < task and calls:
                responses, _, _ = self.step(calls)
                messages.append({"role": "assistant", "content": "", "tool_calls": [c.to_openai() for c in calls]})
                messages.extend({"role": "tool", "content": response} for response in responses)
        return messages

    def step(self, tool_calls: list[ToolCall]) -> tuple[list[str], bool, dict]:
        """Run the calls in order; one result string each (errors as BFCL writes them); never raises."""
        responses = [self._run_one(call) for call in tool_calls]
        self.results.extend(responses)
        errors = sum(response.startswith(ERROR_PREFIX) for response in responses)
        return responses, False, {"errors": errors, "calls": len(tool_calls)}

    def _run_one(self, call: ToolCall) -> str:
        if not isinstance(call, ToolCall) or not isinstance(call.arguments, dict):
            return ERROR_PREFIX + "a call needs a name and a dict of keyword arguments"
        method = self._methods.get(call.name)
        if method is None:
            return ERROR_PREFIX + f"name {call.name!r} is not a function of this conversation"
        for (name, argument), limit in ARGUMENT_LIMITS.items():
            value = call.arguments.get(argument)
            if call.name == name and isinstance(value, (int, float)) and abs(value) > limit:
                return ERROR_PREFIX + f"{argument}={value!r} is outside this env's bound of {limit}"
        arguments = json.loads(json.dumps(call.arguments))  # the simulated APIs may mutate what they get
        try:
            # The math API sets global decimal / mpmath precision; keep that inside the call.
            import mpmath

            with decimal.localcontext(), mpmath.workdps(mpmath.mp.dps):
                return format_result(method(**arguments))
        except Exception as error:  # the simulated API's own errors are results, as in BFCL
            return ERROR_PREFIX + str(error)

    def state(self) -> dict:
        """Every instance's public attributes, JSON-able (see `plain_state`)."""
        return {
            class_name: {key: plain_state(value) for key, value in vars(instance).items() if not key.startswith("_")}
            for class_name, instance in self._instances.items()
        }


@dataclass(frozen=True)
class MultiTurnVerdict:
    """BFCL's multi-turn verdict: `ok`, its error type, the failing turn and a readable detail."""

    ok: bool
    reason: str = "ok"
    turn: int | None = None
    detail: str = ""


def check_multi_turn(row: dict, model_turns: list[list[ToolCall]], force_terminated: bool = False) -> MultiTurnVerdict:
    """Score one episode's calls per turn against the row with BFCL's multi-turn semantics (module doc)."""
    reference = reference_turns(row)
    if force_terminated or len(model_turns) != len(reference):
        detail = "a turn hit the step limit" if force_terminated else f"{len(model_turns)} turns for {len(reference)}"
        return MultiTurnVerdict(False, "multi_turn:force_terminated", None, detail)
    model_env, truth_env = BfclMultiTurnEnv(row), BfclMultiTurnEnv(row)
    everything: list[str] = []
    empty_turns_must_be_empty = any(row["id"].startswith(c) for c in CATEGORIES_WITH_EMPTY_TURNS)
    for turn, (made, expected) in enumerate(zip(model_turns, reference)):
        everything.extend(model_env.step(made)[0])
        expected_results = truth_env.step(expected)[0]
        if not expected:
            if made and empty_turns_must_be_empty:
                return MultiTurnVerdict(False, "multi_turn:irrelevance_error:decoder_success", turn,
                                        f"{len(made)} call(s) where the request cannot be done")
            continue
        if not made:
            return MultiTurnVerdict(False, "multi_turn:empty_turn_model_response", turn, "no call in this turn")
        made_state, truth_state = model_env.state(), truth_env.state()
        if made_state != truth_state:
            differing = sorted(f"{c}.{k}" for c in truth_state for k in truth_state[c]
                               if made_state.get(c, {}).get(k) != truth_state[c][k])
            return MultiTurnVerdict(False, "multi_turn:instance_state_mismatch", turn,
                                    "differs: " + ", ".join(differing))
        missing = list((Counter(expected_results) - Counter(everything)).elements())  # order-free, with duplicates
        if missing:
            return MultiTurnVerdict(False, "multi_turn:execution_response_mismatch", turn,
                                    f"{len(missing)} ground-truth result(s) missing, e.g. {missing[0][:200]!r}")
    return MultiTurnVerdict(True)
