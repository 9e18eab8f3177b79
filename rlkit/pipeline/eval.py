"""Held-out eval of one stage's model: the numbers the pipeline table and benchmarks report.

Every assistant step of `episodes` generated test-split episodes of an env is one example (tool
calls and free-text replies), generated under the named `settings` and scored by rlkit.eval:
tool-call equivalence over the call examples, loop rate over all of them and over the free-text
replies alone, mean length. Two optional extras:
- `reply_settings`: the free-text reply steps then run under these settings instead, with
  `reply_max_tokens` (loops need room to show, and sampling temperatures, without paying for long
  or sampled tool calls), and `settings` score only the call steps. A setting named in both
  reports the calls' equivalence and the replies' loop rate side by side;
- `extra_data`: a second held-out set (e.g. the real banking rows, a distil JSONL with
  `extra_tools`), scored under the first setting and reported as `<extra_name>: <setting>`.
Every rate carries its 95% Wilson interval (`*_ci`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rlkit.chat import ToolStyle
from rlkit.chat_format import ChatFormat
from rlkit.config import ConfigError
from rlkit.eval import evaluate, load_eval_data
from rlkit.eval.backends import engine_for_model
from rlkit.eval.metrics import wilson_interval
from rlkit.eval.records import GREEDY, LFM2_RECOMMENDED, TEMPERATURE_1, GenerationSetting

SETTINGS = {s.name: s for s in (LFM2_RECOMMENDED, TEMPERATURE_1, GREEDY, GenerationSetting("temperature_0.3", temperature=0.3))}


@dataclass
class PipelineEval:
    """The `eval:` section: held-out env episodes, scored after every stage."""

    env: str = "smart_home"
    split: str = "test"
    episodes: int = 12  # every assistant step of these episodes is one example (calls and replies)
    seed: int = 0
    max_tokens: int = 96
    settings: list[str] = field(default_factory=lambda: ["lfm2_recommended"])  # first = the headline
    batch_size: int = 32
    backend: Literal["hf", "vllm"] = "hf"  # vllm: the CPU build's engine (3-4x HF generate on a 135M model)
    reply_settings: list[str] = field(default_factory=list)  # set: replies run under these, settings score calls only
    reply_max_tokens: int = 0  # 0 = max_tokens
    extra_data: str = ""  # a second held-out set: env name or file (load_eval_data), scored under settings[0]
    extra_tools: str = ""  # its tool list, for a distil JSONL
    extra_name: str = "extra"
    extra_limit: int = 0  # its first N rows (0 = all)


def _setting(name: str, key: str) -> GenerationSetting:
    if name not in SETTINGS:
        raise ConfigError(f"eval.{key}: unknown setting {name!r}; choose from {sorted(SETTINGS)}")
    return SETTINGS[name]


def _rate_with_interval(hits: int, n: int) -> tuple[float | None, list[float] | None]:
    interval = wilson_interval(hits, n)
    return (hits / n if n else None), (list(interval) if interval else None)


def summarize(metrics: dict[str, Any]) -> dict[str, Any]:
    """One setting's rlkit.eval metrics reduced to what the pipeline reports, with 95% intervals."""
    calls, generation, replies = metrics["calls"], metrics["generation"], metrics["replies"]
    equivalence, equivalence_ci = _rate_with_interval(calls["correct"], calls["n"])
    reply_loop_rate, reply_loop_ci = _rate_with_interval(replies["loops"], replies["n"])
    return {
        "equivalence": equivalence, "equivalence_ci": equivalence_ci, "calls": calls["n"],
        "parse_error_rate": calls["parse_error_rate"],
        "loop_rate": generation["loop_rate"], "mean_length": generation["mean_length"],
        "reply_loop_rate": reply_loop_rate, "reply_loop_ci": reply_loop_ci, "replies": replies["n"],
        "reply_hit_length_limit_rate": replies["hit_length_limit_rate"],
    }


def merge_summaries(calls: dict[str, Any] | None, replies: dict[str, Any] | None) -> dict[str, Any]:
    """One setting's summary from a calls-only and a replies-only run (either may be missing)."""
    if calls is None or replies is None:
        return calls or replies
    n_calls, n_replies = calls["calls"], replies["replies"]
    weighted = {key: (calls[key] * n_calls + replies[key] * n_replies) / (n_calls + n_replies)
                for key in ("loop_rate", "mean_length") if calls[key] is not None and replies[key] is not None}
    call_keys = ("equivalence", "equivalence_ci", "calls", "parse_error_rate")
    return {**replies, **{key: calls[key] for key in call_keys}, **weighted}


def evaluate_model(model_dir: str, settings: PipelineEval, tool_style: ToolStyle, cache: Path | None = None,
                   chat_format: ChatFormat = "auto") -> dict[str, Any]:
    """Held-out metrics of one model, cached in `cache` (JSON) so a resumed run does not redo them."""
    if cache is not None and cache.is_file():
        return json.loads(cache.read_text())
    main_settings = [_setting(n, "settings") for n in settings.settings]
    reply_settings = [_setting(n, "reply_settings") for n in settings.reply_settings]
    data = load_eval_data(settings.env, split=settings.split, episodes=settings.episodes, seed=settings.seed)
    engine = engine_for_model(model_dir, backend=settings.backend, tool_style=tool_style,
                              batch_size=settings.batch_size, chat_format=chat_format)
    examples = [e for e in data.examples if e.kind == "call"] if reply_settings else data.examples
    result = evaluate(engine, examples, main_settings, max_tokens=settings.max_tokens)
    calls = {name: summarize(result.metrics[name]) for name in settings.settings}
    replies: dict[str, Any] = {}
    reply_examples = [e for e in data.examples if e.kind == "reply"]
    if reply_settings and reply_examples:
        result = evaluate(engine, reply_examples, reply_settings, max_tokens=settings.reply_max_tokens or settings.max_tokens)
        replies = {s.name: summarize(result.metrics[s.name]) for s in reply_settings}
    metrics = {name: merge_summaries(calls.get(name), replies.get(name)) for name in dict.fromkeys([*calls, *replies])}
    if settings.extra_data:
        extra = load_eval_data(settings.extra_data, settings.extra_tools or None, split=settings.split,
                               episodes=settings.episodes, seed=settings.seed, limit=settings.extra_limit)
        result = evaluate(engine, extra.examples, main_settings[:1], max_tokens=settings.max_tokens)
        metrics[f"{settings.extra_name}: {main_settings[0].name}"] = summarize(result.metrics[main_settings[0].name])
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(metrics, indent=1))
    return metrics
