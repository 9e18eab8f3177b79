"""The outcome of a tool-call check: `Verdict(ok, reason, detail)`, and the reasons it can give."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any, Callable

from rlkit.toolcall.values import VALUE_NOT_ACCEPTABLE, WRONG_TYPE

OK = "ok"
WRONG_FUNCTION = "wrong_function"  # name differs from the expected one, or is not in the tools
MISSING_REQUIRED = "missing_required"  # an argument the schema requires is absent
MISSING_ARGUMENT = "missing_argument"  # an argument the expected call needs (schema-optional) is absent
UNEXPECTED_ARGUMENT = "unexpected_argument"  # not in the schema, or not in the expected call
WRONG_COUNT = "wrong_count"  # different number of calls than expected
NO_CALL = "no_call"  # calls were expected, none were made
PARSE_ERROR = "parse_error"  # the completion's call block could not be read (set by rewards)
REASONS = (
    OK,
    WRONG_FUNCTION,
    MISSING_REQUIRED,
    MISSING_ARGUMENT,
    UNEXPECTED_ARGUMENT,
    WRONG_TYPE,
    VALUE_NOT_ACCEPTABLE,
    WRONG_COUNT,
    NO_CALL,
    PARSE_ERROR,
)


class Verdict:
    """Outcome of a check: `ok`, a `reason` from REASONS, and a human-readable `detail`.

    Immutable. A verdict made by `Verdict.deferred` works out its reason and detail on first read.
    """

    __slots__ = ("ok", "_reason", "_detail", "_explain")

    def __init__(self, ok: bool, reason: str, detail: str = "") -> None:
        object.__setattr__(self, "ok", ok)
        object.__setattr__(self, "_reason", reason)
        object.__setattr__(self, "_detail", detail)
        object.__setattr__(self, "_explain", None)

    @classmethod
    def deferred(cls, explain: Callable[[], "Verdict"]) -> "Verdict":
        """A failing verdict whose reason and detail are `explain()`'s, computed when first read."""
        verdict = cls(False, "", "")
        object.__setattr__(verdict, "_explain", explain)
        return verdict

    @property
    def reason(self) -> str:
        """One of REASONS."""
        self._resolve()
        return self._reason

    @property
    def detail(self) -> str:
        """What failed, for people (which call, argument and value)."""
        self._resolve()
        return self._detail

    def _resolve(self) -> None:
        explain = self._explain
        if explain is not None:
            explained = explain()
            object.__setattr__(self, "_reason", explained.reason)
            object.__setattr__(self, "_detail", explained.detail)
            object.__setattr__(self, "_explain", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _fields(self) -> tuple[bool, str, str]:
        return self.ok, self.reason, self.detail

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verdict):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"Verdict(ok={self.ok!r}, reason={self.reason!r}, detail={self.detail!r})"

    def __reduce__(self):
        return Verdict, self._fields()  # pickles resolved: the explanation's inputs stay behind


PASS = Verdict(True, OK)
