"""GRPO rollouts from an rlkit rollout engine (HF, vLLM colocated or server) through TRL's `rollout_func`.

TRL's own vLLM colocate path syncs weights in a way that fails on vLLM's CPU build; rlkit's engines
(rlkit.rollout) push weights themselves and can prove the push worked (`verify_sync`). So GRPO
keeps `use_vllm=False` and hands generation to a rollout function: before the first generation of
every optimizer step it pushes the policy's current weights into the engine (checked once against
the trainer's own logprobs), then generates one rollout per row (TRL's batch already repeats each
prompt `num_generations` times).

- `EngineRolloutFunc`: single-turn; one completion per prompt.
- `EpisodeRolloutFunc`: multi-turn env episodes through `rlkit.rollout.episodes.run_episodes`
  (token-in/token-out). It returns the episode's tokens after the prompt as the completion, with
  `env_mask` (TRL's name for the mask of model-written tokens: tool responses train nothing),
  the sampling logprobs (0.0 on tool tokens, as TRL's own tool loop writes), and extra columns
  the reward functions read: `episode_reward` (the env's final-state replay score,
  `rlkit.envs.verify.replay_reward`, as the TRL env adapter computes it) and `model_completion` /
  `model_completion_ids` (the model's own turns, for text rewards such as the repetition penalty,
  wrapped by `OnModelTurns`). The trainer is given no `environment_factory`: with one, TRL would run
  its own tool loop on top of these episodes.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from typing import Any, Callable

from rlkit.chat import ToolStyle, render_prompt
from rlkit.envs.verify import replay_reward, replayed_env
from rlkit.rollout.base import SamplingParams
from rlkit.rollout.episodes import EpisodeLimits, EpisodeTask, run_episodes
from rlkit.rollout.sync import verify_sync
from rlkit.toolcall import ToolCall

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


def prompt_key(messages: list[dict[str, Any]]) -> str:
    """A row's identity from its prompt messages (TRL hands `rollout_func` the prompts only)."""
    return json.dumps(messages, sort_keys=True, default=str)


def unique_prompt_rows(rows: Any) -> tuple[Any, int]:
    """The dataset without rows whose prompt repeats an earlier row's, and how many were dropped.

    `rollout_func` sees prompts, not rows; two rows with one prompt but different env seeds could
    not be told apart, so only the first is kept (the caller logs the count).
    """
    seen: set[str] = set()
    keep = []
    for index, prompt in enumerate(rows["prompt"]):
        key = prompt_key(prompt)
        if key not in seen:
            seen.add(key)
            keep.append(index)
    return rows.select(keep), len(rows) - len(keep)


def reference_steps(row: dict[str, Any]) -> list[list[ToolCall]]:
    """The reference call steps of a GRPO env row (`reference_steps`, else its one-step `answer`)."""
    steps = json.loads(row.get("reference_steps") or "[]") or [json.loads(row["answer"])]
    return [[ToolCall(c["name"], c["arguments"]) for c in step] for step in steps]


class EpisodeRolloutFunc(EngineRolloutFunc):
    """TRL `rollout_func` playing each row as a multi-turn env episode (see the module docstring)."""

    def __init__(self, engine: Any, tokenizer: Any, params: SamplingParams, rows: Any, limits: EpisodeLimits,
                 tool_style: ToolStyle = "compact", **sync_options: Any):
        super().__init__(engine, tokenizer, params, **sync_options)
        self.limits = limits
        self.tool_style = tool_style
        self.rows = {prompt_key(row["prompt"]): dict(row) for row in rows}
        self.episodes = 0
        self.stops: Counter = Counter()

    def __call__(self, prompts: list, trainer: Any) -> dict[str, Any]:
        """Play one episode per prompt; token ids, env_mask, logprobs, and the reward columns."""
        examples = []
        for prompt in prompts:
            row = self.rows.get(prompt_key(prompt))
            if row is None:
                raise KeyError("a GRPO prompt matches no row given to EpisodeRolloutFunc (pass it the trainer's dataset)")
            examples.append(dict(row, messages=row["prompt"]))
        envs = [replayed_env(example) for example in examples]  # seeded, the conversation's calls replayed
        tasks = [EpisodeTask(ex["prompt"], ex.get("tools") or None, env) for ex, env in zip(examples, envs)]
        probe = [self.tokenizer(render_prompt(self.tokenizer, t.messages, t.tools, self.tool_style),
                                add_special_tokens=False).input_ids[:64] for t in tasks[:2]]
        self._sync(trainer, probe)
        episodes = run_episodes(self.engine, self.tokenizer, tasks, self.params, self.limits, self.tool_style)
        rewards = [replay_reward(ex, ep.calls, env.state(), reference_steps(ex))
                   for ex, ep, env in zip(examples, episodes, envs)]
        self._log(trainer, episodes, rewards)
        logprobs = [ep.logprobs for ep in episodes]
        return {
            "prompt_ids": [ep.prompt_ids for ep in episodes],
            "completion_ids": [ep.completion_ids for ep in episodes],
            "logprobs": None if any(lp is None for lp in logprobs) else logprobs,
            "env_mask": [ep.completion_mask for ep in episodes],
            "episode_reward": rewards,
            "model_completion": [ep.model_text for ep in episodes],
            "model_completion_ids": [ep.model_token_ids for ep in episodes],
        }

    def _log(self, trainer: Any, episodes: list, rewards: list[float]) -> None:
        """Episode counts into the trainer's logged metrics (turns, calls, why episodes stopped)."""
        stops = Counter(ep.stop for ep in episodes)
        self.episodes += len(episodes)
        self.stops.update(stops)
        metrics = getattr(trainer, "_metrics", None)
        if metrics is None:
            return
        mode = "train" if trainer.model.training else "eval"
        count = max(len(episodes), 1)
        metrics[mode]["episodes/generations"].append(sum(ep.generations for ep in episodes) / count)
        metrics[mode]["episodes/calls"].append(sum(len(ep.calls) for ep in episodes) / count)
        metrics[mode]["episodes/env_reward"].append(sum(rewards) / count)
        for reason, n in stops.items():
            metrics[mode][f"episodes/stop_{reason}"].append(n / count)


def episode_reward(prompts: list, completions: list, episode_reward: list[float], **columns: Any) -> list[float]:
    """The env's final-state replay score of each episode, computed by `EpisodeRolloutFunc`.

    >>> episode_reward(None, ["", ""], episode_reward=[1.0, 0.0])
    [1.0, 0.0]
    """
    return [float(r) for r in episode_reward]


class OnModelTurns:
    """A TRL reward function applied to the model's own turns of an episode, tool responses left out.

    >>> from rlkit.rewards import format_reward
    >>> OnModelTurns(format_reward)(None, ["<|tool_response_start|>"], model_completion=["Done."], model_completion_ids=[[1]])
    [1.0]
    """

    def __init__(self, reward: Callable[..., list[float]]):
        self.reward = reward
        self.__name__ = getattr(reward, "__name__", type(reward).__name__)

    def __call__(self, prompts: list, completions: list, model_completion: list[str],
                 model_completion_ids: list[list[int]], completion_ids: list | None = None, **columns: Any) -> list:
        """The wrapped reward on `model_completion` (text) and `model_completion_ids` (tokens)."""
        return self.reward(prompts, model_completion, completion_ids=model_completion_ids, **columns)
