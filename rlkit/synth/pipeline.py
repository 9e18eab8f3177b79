"""Generate teacher replies into a resumable raw JSONL, then run every reply through the funnel.

The raw file (`raw.jsonl`) has one line per finished request: its plan, and the reply or the
error. It is appended to and flushed as replies arrive, so a killed run loses at most the requests
in flight; a rerun keeps every request that has a reply (or an empty one) and asks again only for
the rest: requests never asked, and those that timed out or hit an HTTP/connection error. Validation is cheap and deterministic, so it always re-reads the whole raw file.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from rlkit.synth.conversation import Conversation, parse_teacher_reply
from rlkit.synth.prompts import RequestPlan, build_messages
from rlkit.synth.reasons import TEACHER_ERROR, TEACHER_TIMEOUT, Drop, Rejected
from rlkit.synth.report import Outcome
from rlkit.synth.teacher import Teacher, TeacherReply, ask_all
from rlkit.synth.validate import Funnel

log = logging.getLogger(__name__)
# An empty reply is the teacher's answer (asking again gets the same); these may pass on a rerun.
RETRY_ON_RESUME = frozenset({TEACHER_TIMEOUT, TEACHER_ERROR})


class ResumeError(ValueError):
    """The raw file in the output folder was made with different request plans."""


def read_raw(path: Path) -> dict[int, dict[str, Any]]:
    """The latest record per request id in a raw JSONL (a torn last line from a kill is skipped)."""
    records: dict[int, dict[str, Any]] = {}
    if not path.is_file():
        return records
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            records[int(record["request_id"])] = record
        except (ValueError, KeyError, TypeError):
            if number == len(lines):
                log.warning("%s: skipping a torn last line (the run was interrupted while writing)", path)
                continue
            raise ValueError(f"{path}:{number}: not a raw teacher record") from None
    return records


def _needs_asking(record: dict[str, Any] | None) -> bool:
    """No record yet, or a transient failure (timeout, HTTP/connection error) worth another try."""
    return record is None or (record.get("reply") is None and record.get("error") in RETRY_ON_RESUME)


def generate(
    teacher: Teacher,
    plans: list[RequestPlan],
    task_description: str,
    tools: list[dict],
    seeds: list[Conversation],
    raw_path: Path,
    concurrency: int,
    seed: int,
) -> dict[int, dict[str, Any]]:
    """Ask the teacher for every plan without a stored reply; returns all records by request id."""
    records = read_raw(raw_path)
    for plan in plans:
        stored = records.get(plan.request_id)
        if stored is not None and stored.get("plan") != plan.to_dict():
            raise ResumeError(
                f"{raw_path}: request {plan.request_id} was planned differently by an earlier run "
                "(seeds, diversity or seed changed); use a new output folder or delete raw.jsonl"
            )
    todo = [plan for plan in plans if _needs_asking(records.get(plan.request_id))]
    log.info("teacher: %d requests, %d already answered, %d to ask", len(plans), len(plans) - len(todo), len(todo))
    by_id = {plan.request_id: plan for plan in todo}
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    with raw_path.open("a") as out:

        def store(request_id: int, reply: TeacherReply) -> None:
            record = {
                "request_id": request_id,
                "plan": by_id[request_id].to_dict(),
                "reply": reply.text,
                "error": reply.error,
                "detail": reply.detail,
                "cached": reply.cached,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            records[request_id] = record

        requests = ((p.request_id, build_messages(p, task_description, tools, seeds), seed + p.request_id) for p in todo)
        ask_all(teacher, requests, concurrency, store, total=len(todo))
    return records


def validate_records(
    records: dict[int, dict[str, Any]],
    plans: list[RequestPlan],
    funnel: Funnel,
    max_user_turns: int,
    max_turn_chars: int,
) -> tuple[list[Outcome], list[tuple[int, Conversation]]]:
    """Outcome of every plan (in request order) and the kept (request id, conversation) pairs."""
    outcomes, kept = [], []
    for plan in plans:
        record = records.get(plan.request_id)
        outcome = Outcome(plan.request_id, plan.target_tool, call_name=None)
        if record is None or record.get("reply") is None:
            reason = record.get("error") if record else None
            outcome.drop = Drop(reason or TEACHER_ERROR, (record or {}).get("detail") or "no reply recorded")
        else:
            try:
                conversation = parse_teacher_reply(record["reply"], max_user_turns, max_turn_chars)
            except Rejected as rejected:
                outcome.drop = rejected.drop
            else:
                outcome.call_name = conversation.next_call.name
                outcome.drop = funnel.admit(f"request #{plan.request_id}", conversation)
                if outcome.drop is None:
                    kept.append((plan.request_id, conversation))
        outcomes.append(outcome)
    return outcomes, kept


def apply_drops(
    outcomes: list[Outcome], kept: list[tuple[int, Conversation]], drops: dict[int, Drop]
) -> list[tuple[int, Conversation]]:
    """Record late drops (e.g. the jury's) in `outcomes`; returns the rows still kept."""
    for outcome in outcomes:
        if outcome.request_id in drops:
            outcome.drop = drops[outcome.request_id]
    return [(request_id, conversation) for request_id, conversation in kept if request_id not in drops]
