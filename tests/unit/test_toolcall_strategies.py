"""Hypothesis strategies for tool calls, shared by the render and fuzz tests, and their own check."""

import keyword
import math

from hypothesis import strategies as st

from rlkit.toolcall import ToolCall

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))
dotted_names = st.lists(identifiers, min_size=1, max_size=3).map(".".join)
# Strings holding a call marker cannot be written in the LFM2 or Hermes text form (the tokenizer
# would read a special token there), so the round-trip properties leave them out.
texts = st.text(max_size=30).filter(lambda s: "<|tool_call" not in s and "tool_call>" not in s)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)
calls = st.builds(ToolCall, dotted_names, st.dictionaries(identifiers, values, max_size=5))
call_lists = st.lists(calls, min_size=1, max_size=4)


def strictly_equal(a, b) -> bool:
    """Equality that also compares types (True != 1, 1 != 1.0) and float signs."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(strictly_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(strictly_equal(a[k], b[k]) for k in a)
    if isinstance(a, ToolCall):
        return a.name == b.name and strictly_equal(a.arguments, b.arguments)
    return a == b


def test_strictly_equal_distinguishes_types_and_signs():
    assert strictly_equal([1, {"a": 0.5}], [1, {"a": 0.5}])
    assert not strictly_equal(True, 1) and not strictly_equal(1, 1.0) and not strictly_equal(0.0, -0.0)
    assert not strictly_equal({"a": 1, "b": 2}, {"b": 2, "a": 1})  # argument order is kept too
