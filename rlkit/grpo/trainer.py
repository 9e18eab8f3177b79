"""What rlkit adds to TRL's GRPOTrainer: tool-call text for rewards, rollout metrics, dynamic sampling.

`ToolCallGRPOTrainer` overrides three GRPOTrainer hooks and nothing else:

- `_calculate_rewards`: TRL decodes string completions with `skip_special_tokens=True`, which
  deletes LFM2's `<|tool_call_start|>`/`<|tool_call_end|>` markers (they are special tokens), so
  reward functions would never see a tool call. Completions are re-decoded from their token ids
  keeping special tokens (the trailing end-of-turn token removed), the same text HFRollout returns.
- `_tokenize_prompts` (multi-turn env rollouts only): TRL renders the env's tool schemas with the
  template's `tools=` argument (full JSON); rlkit renders the tool list with `with_tool_list` in the
  run's `tool_style`, as SFT, single-turn GRPO and eval do, so the policy sees one format everywhere.
- `_generate_and_score_completions`: after TRL generated and scored a batch, (1) log rollout
  metrics — loop rate, tool-call equivalence, parse-error rate — into the Trainer's logs (TRL
  already logs mean completion length and each reward's mean); (2) dynamic sampling: groups whose
  rewards are all equal have zero advantage and carry no gradient, so they are dropped and the batch
  is refilled with groups from further prompts, at most `max_refills` extra generation rounds. If
  the batch is still short, dropped groups fill it back (they train nothing, but keep the batch
  size TRL expects). Counts are logged as `dynamic_sampling/*`.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from trl import GRPOTrainer

from rlkit.chat import ToolStyle, render_prompt
from rlkit.loops import detect_loop
from rlkit.rewards.completions import parse_completion
from rlkit.toolcall.check import check_calls, expected_from_answer

log = logging.getLogger(__name__)

PROMPT_SIDE_KEYS = ("prompt_ids", "prompt_mask")
ZERO_ADVANTAGE = 1e-6


def decode_keeping_markers(tokenizer: Any, ids: list[int], end_of_turn_id: int) -> str:
    """Completion text with special tokens kept and the final end-of-turn token dropped."""
    ids = list(ids)
    while ids and ids[-1] in (end_of_turn_id, tokenizer.pad_token_id):
        ids.pop()
    return tokenizer.decode(ids, skip_special_tokens=False)


def rollout_metrics(
    texts: list[str], token_ids: list[list[int]], finished: list[bool], answers: list[str | None], tools: list[Any]
) -> dict[str, float]:
    """Loop rate, parse-error rate and (for rows with a reference) tool-call equivalence of a batch.

    >>> call = "<|tool_call_start|>[lights(room='hall')]<|tool_call_end|>"
    >>> rollout_metrics([call, "[lights(room="], [[5, 6], [7]], [True, False],
    ...                 ['[{"name": "lights", "arguments": {"room": "hall"}}]'] * 2, [None, None])
    {'loops/loop_rate': 0.0, 'toolcall/parse_error_rate': 0.0, 'toolcall/equivalence': 0.5}
    """
    loops = parse_errors = equivalent = scored = 0
    for text, ids, done, answer, schema in zip(texts, token_ids, finished, answers, tools):
        parsed = parse_completion(text)
        parse_errors += parsed.error is not None
        loops += detect_loop(ids, done, calls=parsed.calls).is_loop
        if answer is not None:
            scored += 1
            ok = parsed.error is None and check_calls(parsed.calls, expected_from_answer(answer), schema).ok
            equivalent += ok
    count = max(len(texts), 1)
    metrics = {"loops/loop_rate": loops / count, "toolcall/parse_error_rate": parse_errors / count}
    if scored:
        metrics["toolcall/equivalence"] = equivalent / scored
    return metrics


def groups_with_signal(advantages: torch.Tensor, group_size: int) -> torch.Tensor:
    """Per group of `group_size` rows: True when some advantage is nonzero (rewards not all equal).

    >>> groups_with_signal(torch.tensor([0.0, 0.0, 0.5, -0.5]), 2).tolist()
    [False, True]
    """
    return advantages.view(-1, group_size).abs().amax(dim=1) > ZERO_ADVANTAGE


def take_rows(batch: dict[str, Any], rows: torch.Tensor) -> dict[str, Any]:
    """The batch restricted to `rows` (per-row tensors indexed; scalars kept)."""
    size = batch["advantages"].shape[0]
    return {
        key: value[rows] if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == size else value
        for key, value in batch.items()
    }


def concat_batches(parts: list[dict[str, Any]], pad_token_id: int) -> dict[str, Any]:
    """Stack scored batches row-wise: prompt tensors padded on the left, completion tensors on the right."""
    merged: dict[str, Any] = {}
    for key in parts[0]:
        values = [part[key] for part in parts]
        if not isinstance(values[0], torch.Tensor) or values[0].dim() == 0:
            merged[key] = values[0]  # scalars (num_items_in_batch) are recomputed by the caller
            continue
        if values[0].dim() == 1:
            merged[key] = torch.cat(values)
            continue
        width = max(v.shape[1] for v in values)
        fill = pad_token_id if key.endswith("_ids") else 0
        left = key in PROMPT_SIDE_KEYS
        padded = []
        for v in values:
            extra = v.new_full((v.shape[0], width - v.shape[1]), fill)
            padded.append(torch.cat([extra, v] if left else [v, extra], dim=1))
        merged[key] = torch.cat(padded)
    return merged


class ToolCallGRPOTrainer(GRPOTrainer):
    """GRPOTrainer + marker-preserving reward text, rollout metrics and dynamic sampling (see module doc)."""

    def __init__(
        self,
        *args: Any,
        end_of_turn_id: int,
        tool_style: ToolStyle = "compact",
        dynamic_sampling: bool = False,
        max_refills: int = 2,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.tool_style = tool_style
        self.dynamic_sampling = dynamic_sampling
        self.max_refills = max_refills
        self.end_of_turn_id = end_of_turn_id
        if dynamic_sampling and self.accelerator.num_processes > 1:
            raise ValueError("dynamic_sampling.enabled works in single-process training only (refills differ per process)")
        self._refill_generator = torch.Generator().manual_seed(self.args.seed)
        self._refill_order: list[int] = []
        self._batch_tools: list[Any] = []

    def _tokenize_prompts(self, prompts: list):
        if self.environment_factories is None:
            return super()._tokenize_prompts(prompts)
        # The rows' own `tools` column: the env's schemas exactly as SFT and eval rendered them.
        prompt_ids = []
        for messages, tools in zip(prompts, self._batch_tools, strict=True):
            text = render_prompt(self._tokenizer, messages, tools, self.tool_style)
            prompt_ids.append(self._tokenizer(text, add_special_tokens=False).input_ids)
        return prompt_ids, None, {}

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        if completions and isinstance(completions[0], str):
            completions = [decode_keeping_markers(self._tokenizer, ids, self.end_of_turn_id) for ids in completion_ids_list]
        return super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)

    def _generate_and_score_completions(self, inputs):
        batch = self._score_and_log(inputs)
        if not self.dynamic_sampling or not self.model.training:
            return batch
        group = self.num_generations
        keep = groups_with_signal(batch["advantages"], group)
        wanted = keep.numel()
        stats = {"dropped_groups": float((~keep).sum()), "refill_rounds": 0.0, "refilled_groups": 0.0}
        kept_parts = [take_rows(batch, self._group_rows(keep, group))]
        dropped = take_rows(batch, self._group_rows(~keep, group))
        have = int(keep.sum())
        for _ in range(self.max_refills):
            if have >= wanted:
                break
            refill = self._score_and_log(self._next_prompts(wanted - have, group))
            stats["refill_rounds"] += 1
            signal = groups_with_signal(refill["advantages"], group)
            stats["dropped_groups"] += float((~signal).sum())
            useful = torch.nonzero(signal).flatten()[: wanted - have]
            if useful.numel():
                mask = torch.zeros_like(signal)
                mask[useful] = True
                kept_parts.append(take_rows(refill, self._group_rows(mask, group)))
                have += useful.numel()
                stats["refilled_groups"] += useful.numel()
        short = wanted - have
        if short:  # fill with zero-signal groups: they train nothing but keep the batch size
            kept_parts.append(take_rows(dropped, torch.arange(short * group, device=dropped["advantages"].device)))
        stats["short_groups"] = float(short)
        merged = concat_batches([p for p in kept_parts if p["advantages"].numel()], self._tokenizer.pad_token_id)
        merged["num_items_in_batch"] = merged["completion_mask"].sum()
        for key, value in stats.items():
            self._metrics["train"][f"dynamic_sampling/{key}"].append(value)
        if stats["dropped_groups"]:
            log.info("dynamic sampling: %s", {k: int(v) for k, v in stats.items()})
        return merged

    def _score_and_log(self, inputs):
        self._batch_tools = [row.get("tools") for row in inputs]
        batch = super()._generate_and_score_completions(inputs)
        mode = "train" if self.model.training else "eval"
        ids = [row[mask.bool()].tolist() for row, mask in zip(batch["completion_ids"], batch["completion_mask"])]
        finished = [bool(i) and i[-1] == self.end_of_turn_id for i in ids]
        texts = [decode_keeping_markers(self._tokenizer, i, self.end_of_turn_id) for i in ids]
        answers = [row.get("answer") for row in inputs]
        tools = [row.get("tools") for row in inputs]
        for key, value in rollout_metrics(texts, ids, finished, answers, tools).items():
            self._metrics[mode][key].append(value)
        return batch

    @staticmethod
    def _group_rows(group_mask: torch.Tensor, group: int) -> torch.Tensor:
        return (torch.nonzero(group_mask).flatten()[:, None] * group + torch.arange(group, device=group_mask.device)).flatten()

    def _next_prompts(self, groups: int, group: int) -> list[dict]:
        """`groups` further dataset rows, each repeated `group` times (TRL's layout of a batch)."""
        rows = []
        for _ in range(groups):
            if not self._refill_order:
                self._refill_order = torch.randperm(len(self.train_dataset), generator=self._refill_generator).tolist()
            rows.append(dict(self.train_dataset[self._refill_order.pop()]))
        return [row for row in rows for _ in range(group)]
