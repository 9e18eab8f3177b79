"""GRPO rollouts from an rlkit rollout engine (vLLM colocated or server) through TRL's `rollout_func`.

TRL's own vLLM colocate path syncs weights in a way that fails on vLLM's CPU build; rlkit's engines
(rlkit.rollout) push weights themselves and can prove the push worked (`verify_sync`). So GRPO
keeps `use_vllm=False` and hands generation to `EngineRolloutFunc`: before the first generation of
every optimizer step it pushes the policy's current weights into the engine (checked once against
the trainer's own logprobs), then generates one completion per row (TRL's batch already repeats
each prompt `num_generations` times). Single-turn only: TRL runs multi-turn tool loops with its
own generation.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rlkit.rollout.base import SamplingParams
from rlkit.rollout.sync import verify_sync

log = logging.getLogger(__name__)


class EngineRolloutFunc:
    """TRL `rollout_func(prompts, trainer)`: generate with `engine`, syncing the policy's weights each step."""

    def __init__(self, engine: Any, tokenizer: Any, params: SamplingParams, verify_first_sync: bool = True, tol: float = 1e-3):
        self.engine = engine
        self.tokenizer = tokenizer
        self.params = params
        self.verify_first_sync = verify_first_sync
        self.tol = tol
        self.synced_step: int | None = None
        self.sync_seconds = 0.0
        self.syncs = 0

    def __call__(self, prompts: list, trainer: Any) -> dict[str, Any]:
        """`prompt_ids`, `completion_ids` (stop token included, so the policy learns to stop), `logprobs`."""
        prompt_ids = [self.tokenizer(prompt, add_special_tokens=False).input_ids for prompt in prompts]
        self._sync(trainer, prompt_ids)
        groups = self.engine.generate(prompt_ids, self.params)
        completions = [group[0] for group in groups]
        return {
            "prompt_ids": prompt_ids,
            "completion_ids": [c.token_ids for c in completions],
            "logprobs": None,
        }

    def _sync(self, trainer: Any, prompt_ids: list[list[int]]) -> None:
        sync = getattr(self.engine, "sync_weights", None)
        step = trainer.state.global_step
        if sync is None or step == self.synced_step:
            return  # an engine without sync_weights generates with the training model itself (HF)
        model = trainer.accelerator.unwrap_model(trainer.model)
        if hasattr(model, "merge_adapter"):
            raise ValueError("LoRA adapters cannot be synced to an external rollout engine; train full weights")
        start = time.perf_counter()
        sync(model)
        if self.verify_first_sync and self.synced_step is None:
            gap = verify_sync(model, self.engine, [ids[:64] for ids in prompt_ids[:2]], tol=self.tol)
            log.info("rollout engine weight sync verified at step %d (max |Δlogprob| %.2g)", step, gap)
        self.sync_seconds += time.perf_counter() - start
        self.syncs += 1
        self.synced_step = step
