"""Conversations + tool lists → tokenized SFT examples whose loss covers assistant turns only.

Each row is rendered with the tokenizer's training template (rlkit.chat_format.training_template:
for the LFM2 format TRL's `lfm2_v2_training`, the inference template plus `{% generation %}`
markers; the template the chat-format probe checked), with the tool list written into the system
turn by `rlkit.chat.with_tool_list` in the configured `tool_style` — the same text rollouts and eval see.
`apply_chat_template(..., return_assistant_tokens_mask=True)` gives the mask; SFTTrainer turns an
`assistant_masks` column of a pre-tokenized dataset into labels (-100 elsewhere) by itself.

Rows that are a prompt plus a reference (env next-call/reply tasks, distil JSONL, BFCL) get their
reference appended as the final assistant turn. Rows that cannot be trained on (no assistant turn,
longer than `max_length`) are counted and logged, never dropped silently.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset

from rlkit.chat import ToolStyle, with_tool_list
from rlkit.chat_format import training_template

log = logging.getLogger(__name__)


class SFTDataError(ValueError):
    """A row that cannot become an SFT example for a reason the user must fix (bad `answer`, ...)."""


@dataclass
class SFTDataReport:
    """What `build_sft_dataset` kept and skipped, by reason."""

    kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        """Count one skipped row."""
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def reference_message(answer: str | list | None, reply: str | None = None) -> dict[str, Any] | None:
    """The assistant message a task row's reference stands for: its tool calls, else its reply.

    >>> reference_message('[{"name": "lights", "arguments": {"room": "kitchen"}}]')["tool_calls"][0]["function"]
    {'name': 'lights', 'arguments': {'room': 'kitchen'}}
    >>> reference_message("[]", reply="Done.")
    {'role': 'assistant', 'content': 'Done.'}
    """
    calls = json.loads(answer) if isinstance(answer, str) and answer.strip() else (answer or [])
    if isinstance(calls, dict):  # distil rows: one call as {"name", "parameters"}
        calls = [calls]
    if calls:
        tool_calls = [{"type": "function", "function": _reference_call(call)} for call in calls]
        return {"role": "assistant", "content": "", "tool_calls": tool_calls}
    if reply:
        return {"role": "assistant", "content": reply}
    return None


def _reference_call(call: Any) -> dict[str, Any]:
    """`{"name", "arguments"}` from an env/distil call or a BFCL ground-truth entry.

    BFCL lists acceptable values per argument (`{"f": {"x": [1, 1.0], "unit": ["", "cm"]}}`); the
    first one is trained on, and arguments whose first acceptable value is `""` (may be omitted) are
    left out, as BFCL's own examples do.
    """
    if isinstance(call, dict) and "name" in call:
        return {"name": call["name"], "arguments": call.get("arguments", call.get("parameters")) or {}}
    if isinstance(call, dict) and len(call) == 1:
        (name, acceptable), = call.items()
        if isinstance(acceptable, dict) and all(isinstance(v, list) and v for v in acceptable.values()):
            return {"name": name, "arguments": {k: v[0] for k, v in acceptable.items() if v[0] != ""}}
    raise SFTDataError(f"answer entry {call!r} is neither a {{'name', 'arguments'}} call nor a BFCL answer")


def training_messages(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The row's conversation, ending with an assistant turn when the row carries a reference."""
    messages = list(row["messages"])
    if messages and messages[-1]["role"] == "assistant":
        return messages
    reference = reference_message(row.get("answer"), row.get("reply"))
    return messages + [reference] if reference else messages


def tokenize_conversation(
    tokenizer: Any, messages: list[dict[str, Any]], tools: str | list | None, tool_style: ToolStyle = "compact",
    template: str | None = None,
) -> dict[str, list[int]]:
    """`input_ids` and `assistant_masks` (1 on every assistant-generated token) for one conversation."""
    encoded = tokenizer.apply_chat_template(
        with_tool_list(messages, tools, tool_style),
        chat_template=template or training_template(tokenizer),
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    return {"input_ids": list(encoded["input_ids"]), "assistant_masks": list(encoded["assistant_masks"])}


def build_sft_dataset(
    rows: Dataset,
    tokenizer: Any,
    tool_style: ToolStyle = "compact",
    max_length: int | None = None,
) -> tuple[Dataset, SFTDataReport]:
    """Tokenize every row of a `messages`/`tools`[/`answer`/`reply`] dataset; report what was skipped."""
    report = SFTDataReport()
    template = training_template(tokenizer)  # once: finding it renders probe conversations
    input_ids: list[list[int]] = []
    masks: list[list[int]] = []
    for index, row in enumerate(rows):
        try:
            messages = training_messages(row)
        except (SFTDataError, json.JSONDecodeError) as error:
            raise SFTDataError(f"row {index}: {error}") from None
        if not any(m["role"] == "assistant" for m in messages):
            report.skip("no assistant turn")
            continue
        example = tokenize_conversation(tokenizer, messages, row.get("tools"), tool_style, template)
        if max_length is not None and len(example["input_ids"]) > max_length:
            # Truncating would cut assistant turns mid-call and teach the model to stop early.
            report.skip(f"longer than max_length={max_length}")
            continue
        if 1 not in example["assistant_masks"]:
            report.skip("template produced no assistant tokens")
            continue
        input_ids.append(example["input_ids"])
        masks.append(example["assistant_masks"])
        report.kept += 1
    for reason, count in report.skipped.items():
        log.warning("SFT data: skipped %d of %d rows (%s)", count, len(rows), reason)
    if not input_ids:
        raise SFTDataError(f"no trainable rows among {len(rows)} (skipped: {report.skipped})")
    log.info("SFT data: %d examples, %d tokens", report.kept, sum(len(ids) for ids in input_ids))
    return Dataset.from_dict({"input_ids": input_ids, "assistant_masks": masks}), report
