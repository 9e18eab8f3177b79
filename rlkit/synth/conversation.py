"""Read the teacher's JSON reply into a chat conversation + expected next call, never trusting it.

The teacher is asked for one JSON object (see prompts.py):

    {"conversation": [{"role": "user", "content": "..."},
                      {"role": "assistant", "tool_call": {"name": "...", "arguments": {...}}},
                      {"role": "user", "content": "..."}],
     "next_call": {"name": "...", "arguments": {...}}}

Only `json.loads` reads it; nothing in it is evaluated. Prose or a Markdown fence around the object
is tolerated (the outermost `{...}` is taken), since real teachers add them even when told not to.
Structural problems raise `Rejected` with the reason; schema checks happen later (validate.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rlkit.synth.reasons import BAD_CONVERSATION, MALFORMED_JSON, MISSING_FIELDS, Rejected
from rlkit.toolcall import ToolCall


@dataclass
class Conversation:
    """A synthetic example: chat `messages` (OpenAI form, ends on a user/tool turn) and the `next_call`."""

    messages: list[dict[str, Any]]
    next_call: ToolCall

    def history_calls(self) -> list[ToolCall]:
        """The tool calls made by earlier assistant turns."""
        calls = []
        for message in self.messages:
            for entry in message.get("tool_calls") or []:
                calls.append(ToolCall(entry["function"]["name"], entry["function"]["arguments"]))
        return calls

    def user_text(self) -> str:
        """All user turns joined: the text that dedup and leak checks compare."""
        return "\n".join(m["content"] for m in self.messages if m["role"] == "user")

    def to_distil(self) -> dict[str, str]:
        """The distil JSONL row: `question` (JSON chat) and `answer` (JSON `{name, parameters}`)."""
        answer = {"name": self.next_call.name, "parameters": self.next_call.arguments}
        return {"question": json.dumps(self.messages, ensure_ascii=False), "answer": json.dumps(answer, ensure_ascii=False)}


def parse_teacher_reply(reply: str, max_user_turns: int, max_turn_chars: int) -> Conversation:
    """The conversation in a teacher reply; raises `Rejected` (malformed_json, missing_fields, bad_conversation)."""
    data = _load_json_object(reply)
    turns, next_call = data.get("conversation"), data.get("next_call")
    if not isinstance(turns, list) or not turns:
        raise Rejected(MISSING_FIELDS, "'conversation' must be a non-empty list of turns")
    if not isinstance(next_call, dict):
        raise Rejected(MISSING_FIELDS, "'next_call' must be an object {name, arguments}")
    messages = [_message(turn, index, max_turn_chars) for index, turn in enumerate(turns)]
    _check_turn_order(messages, max_user_turns)
    return Conversation(messages, _call(next_call, "next_call"))


def _load_json_object(reply: str) -> dict:
    start, end = reply.find("{"), reply.rfind("}")
    if start < 0 or end < start:
        raise Rejected(MALFORMED_JSON, f"no JSON object in reply: {reply[:80]!r}")
    try:
        data = json.loads(reply[start : end + 1])
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise Rejected(MALFORMED_JSON, f"{type(error).__name__}: {str(error)[:120]}") from None
    if not isinstance(data, dict):
        raise Rejected(MALFORMED_JSON, f"top level is {type(data).__name__}, not an object")
    return data


def _message(turn: Any, index: int, max_turn_chars: int) -> dict[str, Any]:
    where = f"turn {index}"
    if not isinstance(turn, dict):
        raise Rejected(MISSING_FIELDS, f"{where} is {type(turn).__name__}, not an object")
    role = turn.get("role")
    content = turn.get("content", "")
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise Rejected(MISSING_FIELDS, f"{where}: content must be a string")
    if len(content) > max_turn_chars:
        raise Rejected(BAD_CONVERSATION, f"{where}: {len(content)} characters > {max_turn_chars}")
    if role in ("user", "tool"):
        if not content.strip():
            raise Rejected(BAD_CONVERSATION, f"{where}: empty {role} turn")
        return {"role": role, "content": content}
    if role == "assistant":
        calls = _assistant_calls(turn, where)
        if not calls and not content.strip():
            raise Rejected(BAD_CONVERSATION, f"{where}: assistant turn with neither text nor a tool call")
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = [call.to_openai() for call in calls]
        return message
    raise Rejected(BAD_CONVERSATION, f"{where}: role must be user, assistant or tool, got {str(role)[:40]!r}")


def _assistant_calls(turn: dict, where: str) -> list[ToolCall]:
    if "tool_call" in turn and turn["tool_call"] is not None:
        return [_call(turn["tool_call"], f"{where}.tool_call")]
    entries = turn.get("tool_calls")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise Rejected(MISSING_FIELDS, f"{where}: tool_calls must be a list")
    return [_call(entry, f"{where}.tool_calls[{i}]") for i, entry in enumerate(entries)]


def _call(value: Any, where: str) -> ToolCall:
    if isinstance(value, dict) and isinstance(value.get("function"), dict):
        value = value["function"]  # OpenAI form {"type": "function", "function": {...}}
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"]:
        raise Rejected(MISSING_FIELDS, f"{where}: a call needs a string 'name'")
    arguments = value.get("arguments", value.get("parameters", {}))
    if arguments is None:
        arguments = {}
    if isinstance(arguments, str):  # OpenAI APIs send arguments as a JSON string
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):
            raise Rejected(MALFORMED_JSON, f"{where}: arguments string is not JSON") from None
    if not isinstance(arguments, dict):
        raise Rejected(MISSING_FIELDS, f"{where}: arguments must be an object")
    return ToolCall(value["name"], arguments)


def _check_turn_order(messages: list[dict[str, Any]], max_user_turns: int) -> None:
    if messages[0]["role"] != "user":
        raise Rejected(BAD_CONVERSATION, "the conversation must start with a user turn")
    if messages[-1]["role"] not in ("user", "tool"):
        raise Rejected(BAD_CONVERSATION, "the conversation must end on a user or tool turn (the next call follows)")
    for previous, message in zip(messages, messages[1:]):
        if message["role"] == "tool" and not (previous.get("tool_calls") or previous["role"] == "tool"):
            raise Rejected(BAD_CONVERSATION, "a tool turn must follow an assistant tool call")
    user_turns = sum(message["role"] == "user" for message in messages)
    if user_turns > max_user_turns:
        raise Rejected(BAD_CONVERSATION, f"{user_turns} user turns > max {max_user_turns}")


def conversation_from_row(messages: list[dict[str, Any]], answer: str | dict | list, where: str) -> Conversation:
    """A seed or test example (chat messages + one reference call) as a Conversation; ValueError names `where`."""
    try:
        if isinstance(answer, str):
            answer = json.loads(answer)
        if isinstance(answer, list):
            if len(answer) != 1:
                raise Rejected(MISSING_FIELDS, f"expected exactly one reference call, got {len(answer)}")
            answer = answer[0]
        # Loaders put the job's task description first as a system turn; the teacher format has none.
        turns = [_message(m, i, max_turn_chars=1_000_000) for i, m in enumerate(messages) if m.get("role") != "system"]
        return Conversation(turns, _call(answer, "answer"))
    except (ValueError, Rejected) as error:
        raise ValueError(f"{where}: cannot use as an example: {error}") from None
