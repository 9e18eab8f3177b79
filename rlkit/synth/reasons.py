"""Why a teacher request produced no training row: one reason per drop, counted in the report."""

from __future__ import annotations

from dataclasses import dataclass

# Teacher stage: the request itself failed.
TEACHER_TIMEOUT = "teacher_timeout"  # no reply within the timeout, after every retry
TEACHER_ERROR = "teacher_error"  # connection refused, HTTP error status, malformed API response
EMPTY_REPLY = "empty_reply"  # the API answered with no text
# Parse stage: the reply is not the conversation object we asked for.
MALFORMED_JSON = "malformed_json"  # no JSON object could be read (json.loads only)
MISSING_FIELDS = "missing_fields"  # JSON, but `conversation` / `next_call` absent or of the wrong type
BAD_CONVERSATION = "bad_conversation"  # turn order, roles, empty or over-long turns, too many turns
# Schema stage: the calls do not fit the tools.
UNKNOWN_TOOL = "unknown_tool"  # a call names a function the tools do not define
INVALID_CALL = "invalid_call"  # required argument missing, unknown argument, wrong type, not in enum
# Content stage.
CODE_LIKE_TEXT = "code_like_text"  # code or shell commands in user text or argument values
LEAKED_TEST_EXAMPLE = "leaked_test_example"  # overlaps a held-out test example
NEAR_DUPLICATE_SEED = "near_duplicate_seed"  # overlaps a seed example
NEAR_DUPLICATE = "near_duplicate"  # overlaps an earlier kept synthetic row
LOW_JURY_SCORE = "low_jury_score"  # the plausibility jury scored it below the threshold
JURY_NO_SCORE = "jury_no_score"  # the jury could not score it (judges failed, no quorum)

# Order of the funnel: stage name -> reasons a row can be dropped for at that stage.
STAGES: dict[str, tuple[str, ...]] = {
    "teacher": (TEACHER_TIMEOUT, TEACHER_ERROR, EMPTY_REPLY),
    "parse": (MALFORMED_JSON, MISSING_FIELDS, BAD_CONVERSATION),
    "schema": (UNKNOWN_TOOL, INVALID_CALL),
    "content": (CODE_LIKE_TEXT,),
    "leak": (LEAKED_TEST_EXAMPLE,),
    "dedup": (NEAR_DUPLICATE_SEED, NEAR_DUPLICATE),
    "jury": (LOW_JURY_SCORE, JURY_NO_SCORE),
}
REASONS: tuple[str, ...] = tuple(reason for reasons in STAGES.values() for reason in reasons)
STAGE_OF: dict[str, str] = {reason: stage for stage, reasons in STAGES.items() for reason in reasons}


@dataclass(frozen=True)
class Drop:
    """A request that produced no training row: a reason from REASONS and a human-readable detail."""

    reason: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.reason not in STAGE_OF:
            raise ValueError(f"unknown drop reason {self.reason!r}; known: {', '.join(REASONS)}")


class Rejected(Exception):
    """Raised inside a validation step; carries the Drop that ends the row's way through the funnel."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.drop = Drop(reason, detail)
