"""llama.cpp backend: generate from a GGUF file in-process with llama-cpp-python (`llama_cpp.Llama`).

Prompts are rendered by rlkit (`render_prompt`, the same tool-list rendering and template text the
HF engine uses), never by llama.cpp's own chat formatter, and tokenized by llama.cpp with special
tokens parsed, so a prompt is the same token ids as under HF (tests check this). The chat template
comes from an HF tokenizer when one is given, else from the GGUF's embedded `tokenizer.chat_template`
rendered with transformers' Jinja renderer.

Sampling follows `SamplingParams`: temperature 0 is greedy; otherwise top-k (0 = off), top-p,
temperature; llama.cpp's extra filters (min-p, typical-p) are switched off so only the requested
ones act. The repetition penalty is HF's (`hf_repetition_penalty`, over prompt and reply tokens),
applied as a llama.cpp logits processor: llama-cpp-python's own penalty sampler sees only the tokens
it generated (the last 64), not the prompt, so it would penalize a different set. What still differs from HF is the random number stream, so
sampled (not greedy) texts differ from HF's even where the distributions agree.

Generation stops at `<|im_end|>` (or the GGUF's end-of-generation tokens) or `max_tokens`; the text
keeps special tokens such as the tool-call markers, which the parser needs. One sequence at a time:
llama.cpp on CPU is fast for small models, and one context keeps memory flat.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from rlkit.chat import ToolStyle, render_prompt
from rlkit.rollout.base import ChatPrompt, Completion, Prompt, RolloutStats, SamplingParams

END_OF_TURN = "<|im_end|>"
GGML_TYPE_F32 = 0  # ggml's type id for float32 (ggml.h)


def hf_repetition_penalty(penalty: float) -> Callable[[Any, Any], Any]:
    """A llama.cpp logits processor applying transformers' repetition penalty to every seen token.

    Seen tokens' logits are divided by `penalty` when positive and multiplied when negative.

    >>> import numpy as np
    >>> hf_repetition_penalty(2.0)(np.array([0, 2]), np.array([4.0, 1.0, -1.0]))
    array([ 2.,  1., -2.])
    """

    def apply(input_ids: Any, logits: Any) -> Any:
        seen = np.unique(np.asarray(input_ids, dtype=np.int64))
        picked = logits[seen]
        logits[seen] = np.where(picked > 0, picked / penalty, picked * penalty)
        return logits

    return apply


class GGUFTemplate:
    """The chat template embedded in a GGUF, with the `apply_chat_template` call `render_prompt` makes."""

    def __init__(self, template: str, source: str, special_tokens: dict[str, str] | None = None):
        """`special_tokens`: the template's `bos_token`/`eos_token` variables (HF passes them too)."""
        if not template:
            raise ValueError(f"{source}: the GGUF has no tokenizer.chat_template; pass an HF tokenizer to render prompts")
        self.template = template
        self.special_tokens = dict(special_tokens or {})

    def apply_chat_template(self, messages: list[dict[str, Any]], add_generation_prompt: bool = True,
                            tokenize: bool = False) -> str:
        """The rendered conversation text (tokenize must be False: llama.cpp tokenizes)."""
        from transformers.utils.chat_template_utils import render_jinja_template

        if tokenize:
            raise ValueError("GGUFTemplate renders text only; llama.cpp tokenizes it")
        rendered, _ = render_jinja_template(
            conversations=[messages], chat_template=self.template, add_generation_prompt=add_generation_prompt,
            **self.special_tokens,
        )
        return rendered[0]


class LlamaCppRollout:
    """Generate with llama.cpp from a GGUF file (the quantized-eval backend)."""

    def __init__(
        self,
        model_path: str | Path,
        tokenizer: Any = None,
        tool_style: ToolStyle = "compact",
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        f32_kv_cache: bool = True,
    ):
        """`tokenizer`: an HF tokenizer whose chat template renders prompts (default: the GGUF's own).

        `f32_kv_cache`: keep attention keys/values in float32 (llama.cpp's default is F16), so an
        F32 GGUF computes like HF fp32; the cache of a small model is tiny either way.
        """
        try:
            import llama_cpp
        except ImportError as error:
            raise ImportError(
                "the GGUF backend needs llama-cpp-python: pip install -e '.[gguf]' (builds llama.cpp, ~5 min)"
            ) from error
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: GGUF file not found")
        self.model_path = path
        self.tool_style = tool_style
        self.n_ctx = n_ctx
        kv_types = {"type_k": GGML_TYPE_F32, "type_v": GGML_TYPE_F32} if f32_kv_cache else {}
        self.llm = llama_cpp.Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads or int(os.environ.get("OMP_NUM_THREADS", "0")) or os.cpu_count(),
            seed=0,
            verbose=False,
            **kv_types,
        )
        self.template = tokenizer if tokenizer is not None else GGUFTemplate(
            self.llm.metadata.get("tokenizer.chat_template", ""), str(path),
            {"bos_token": self._token_text(self.llm.token_bos()), "eos_token": self._token_text(self.llm.token_eos())},
        )
        self.stop_ids = self._stop_ids()
        self.stats = RolloutStats()
        # Unseeded calls draw fresh seeds (llama.cpp reuses its last seed, which would repeat samples).
        self._seeds = np.random.default_rng()

    def _token_text(self, token_id: int) -> str:
        return self.llm.detokenize([token_id], special=True).decode("utf-8") if token_id >= 0 else ""

    def close(self) -> None:
        """Free llama.cpp's model and context now (rather than at interpreter exit)."""
        self.llm.close()

    def _stop_ids(self) -> set[int]:
        ids = {self.llm.token_eos()}
        end_of_turn = self.llm.tokenize(END_OF_TURN.encode(), add_bos=False, special=True)
        if len(end_of_turn) == 1:
            ids.add(end_of_turn[0])
        return ids

    def prompt_ids(self, prompt: Prompt) -> list[int]:
        """Token ids of one prompt (chat prompts rendered by rlkit, special tokens parsed)."""
        if isinstance(prompt, ChatPrompt):
            text = render_prompt(self.template, prompt.messages, prompt.tools, self.tool_style)
            return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return list(prompt)

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        """For each prompt, `params.n` completions (greedy ones decoded once and copied)."""
        if params.logprobs:
            raise ValueError("the llama.cpp backend does not return logprobs (SamplingParams.logprobs=True)")
        start = time.perf_counter()
        results: list[list[Completion]] = []
        for index, prompt in enumerate(prompts):
            ids = self.prompt_ids(prompt)
            if params.temperature <= 0:
                first = self._generate_one(ids, params, seed=None)
                results.append([first] + [copy.deepcopy(first) for _ in range(params.n - 1)])
                continue
            group = []
            for sample in range(params.n):
                if params.seed is None:
                    seed = int(self._seeds.integers(0, 2**31 - 1))
                else:
                    seed = params.seed + index * params.n + sample
                group.append(self._generate_one(ids, params, seed))
            results.append(group)
        self.stats.record("llama.cpp", results, time.perf_counter() - start)
        return results

    def _generate_one(self, prompt_ids: list[int], params: SamplingParams, seed: int | None) -> Completion:
        if len(prompt_ids) >= self.n_ctx:
            raise ValueError(f"prompt of {len(prompt_ids)} tokens does not fit the llama.cpp context ({self.n_ctx})")
        if seed is not None:
            self.llm.set_seed(seed)
        budget = min(params.max_tokens, self.n_ctx - len(prompt_ids))
        tokens: list[int] = []
        finish = "length"
        stream = self.llm.generate(
            prompt_ids,
            temp=max(params.temperature, 0.0),
            top_k=params.top_k,
            top_p=params.top_p,
            min_p=0.0,
            typical_p=1.0,
            repeat_penalty=1.0,  # HF's penalty instead, below
            logits_processor=[hf_repetition_penalty(params.repetition_penalty)] if params.repetition_penalty != 1.0 else None,
            reset=True,
        )
        for token in stream:
            tokens.append(token)
            if token in self.stop_ids:
                finish = "stop"
                break
            if len(tokens) >= budget:
                break
        body = tokens[:-1] if finish == "stop" else tokens
        text = self.llm.detokenize(body, special=True).decode("utf-8", errors="replace")
        return Completion(text=text, token_ids=tokens, finish_reason=finish)
