"""HF `generate` backend: batched, left-padded, stops at the end-of-turn token. The CPU default."""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from rlkit.chat import ToolStyle, render_prompt
from rlkit.model import end_of_turn_id
from rlkit.rollout.base import ChatPrompt, Completion, Prompt, RolloutStats, SamplingParams
from rlkit.rollout.sync import score_with_model



class HFRollout:
    """Generate with a transformers causal LM (the policy being trained, or any loaded model)."""

    def __init__(self, model: Any, tokenizer: Any, tool_style: ToolStyle = "compact", batch_size: int = 16):
        self.model = model
        self.tokenizer = tokenizer
        self.tool_style = tool_style
        self.batch_size = batch_size
        self.stop_id = end_of_turn_id(tokenizer)
        self.stats = RolloutStats()

    def prompt_ids(self, prompt: Prompt) -> list[int]:
        """Token ids of one prompt (chat prompts rendered with the LFM2 template)."""
        if isinstance(prompt, ChatPrompt):
            text = render_prompt(self.tokenizer, prompt.messages, prompt.tools, self.tool_style)
            return self.tokenizer(text, add_special_tokens=False).input_ids
        return list(prompt)

    def score(self, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
        """Logprob of tokens 1..L-1 of each sequence given its prefix (for `verify_sync`)."""
        return score_with_model(self.model, sequences)

    def sync_weights(self, model: Any) -> float:
        """Copy the trainer's weights in when it is a different object (the usual case shares it)."""
        start = time.perf_counter()
        if model is not self.model:
            self.model.load_state_dict(model.state_dict())
        return time.perf_counter() - start

    @torch.no_grad()
    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        """For each prompt, `params.n` completions, generated in left-padded batches."""
        encoded = [self.prompt_ids(p) for p in prompts]
        results: list[list[Completion]] = []
        # transformers refuses greedy decoding with num_return_sequences > 1; the n greedy
        # completions are identical, so decode once and copy.
        greedy_copies = params.n if params.temperature <= 0 else 1
        batch_params = dataclasses.replace(params, n=1) if greedy_copies > 1 else params
        start = time.perf_counter()
        batches = range(0, len(encoded), self.batch_size)
        for offset in tqdm(batches, desc="generate", disable=len(batches) < 4, leave=False):
            results.extend(self._generate_batch(encoded[offset : offset + self.batch_size], batch_params, offset))
        if greedy_copies > 1:
            results = [[copy.deepcopy(group[0]) for _ in range(greedy_copies)] for group in results]
        elapsed = time.perf_counter() - start
        self.stats.record("hf", results, elapsed)
        return results

    def _generate_batch(self, batch: list[list[int]], params: SamplingParams, offset: int) -> list[list[Completion]]:
        pad_id = self.tokenizer.pad_token_id
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(batch):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids) :] = 1
        device = self.model.device
        greedy = params.temperature <= 0
        kwargs: dict[str, Any] = dict(
            max_new_tokens=params.max_tokens,
            do_sample=not greedy,
            num_return_sequences=params.n,
            eos_token_id=self.stop_id,
            pad_token_id=pad_id,
            repetition_penalty=params.repetition_penalty if params.repetition_penalty != 1.0 else None,
            return_dict_in_generate=True,
            output_logits=params.logprobs,
        )
        if not greedy:
            kwargs.update(temperature=params.temperature, top_k=params.top_k or None, top_p=params.top_p)
        else:
            kwargs.update(temperature=None, top_k=None, top_p=None)
        # A seed makes a call reproducible without touching the caller's global RNG state.
        with torch.random.fork_rng(devices=[]):
            if params.seed is not None:
                torch.manual_seed(params.seed + offset)
            out = self.model.generate(
                input_ids=input_ids.to(device), attention_mask=attention_mask.to(device), **kwargs
            )
        new_tokens = out.sequences[:, width:].tolist()
        token_logprobs = None
        if params.logprobs:
            # Raw-model logprobs of the sampled tokens (before temperature/top-k processing).
            logits = torch.stack(out.logits, dim=1).float().log_softmax(-1)
            chosen = out.sequences[:, width:].unsqueeze(-1)
            token_logprobs = logits.gather(-1, chosen.to(logits.device)).squeeze(-1).tolist()
        completions: list[list[Completion]] = []
        for row in range(len(batch)):
            group = []
            for j in range(params.n):
                k = row * params.n + j
                group.append(self._completion(new_tokens[k], token_logprobs[k] if token_logprobs else None))
            completions.append(group)
        return completions

    def _completion(self, tokens: list[int], logprobs: list[float] | None) -> Completion:
        if self.stop_id in tokens:
            end = tokens.index(self.stop_id) + 1
            finish = "stop"
        else:
            end = len(tokens)
            finish = "length"
        tokens = tokens[:end]
        body = tokens[:-1] if finish == "stop" else tokens
        # Keep special tokens: the tool-call markers are special tokens the parser needs.
        text = self.tokenizer.decode(body, skip_special_tokens=False)
        return Completion(
            text=text,
            token_ids=tokens,
            finish_reason=finish,
            logprobs=logprobs[:end] if logprobs is not None else None,
        )
