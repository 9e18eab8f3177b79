"""Held-out eval of one stage's model: the numbers the pipeline table and benchmarks report.

Every assistant step of `episodes` generated test-split episodes of an env is one example (tool
calls and free-text replies), generated with HF under the named settings and scored by rlkit.eval:
tool-call equivalence over the call examples, loop rate and mean length over all of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlkit.chat import ToolStyle
from rlkit.chat_format import ChatFormat
from rlkit.config import ConfigError
from rlkit.eval import evaluate, load_eval_data
from rlkit.eval.records import GREEDY, LFM2_RECOMMENDED, TEMPERATURE_1
from rlkit.model import load_model_and_tokenizer
from rlkit.rollout.hf import HFRollout

SETTINGS = {s.name: s for s in (LFM2_RECOMMENDED, TEMPERATURE_1, GREEDY)}


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


def evaluate_model(model_dir: str, settings: PipelineEval, tool_style: ToolStyle, cache: Path | None = None,
                   chat_format: ChatFormat = "auto") -> dict[str, Any]:
    """Held-out metrics of one model, cached in `cache` (JSON) so a resumed run does not redo them."""
    if cache is not None and cache.is_file():
        return json.loads(cache.read_text())
    unknown = [name for name in settings.settings if name not in SETTINGS]
    if unknown:
        raise ConfigError(f"eval.settings: unknown {unknown}; choose from {sorted(SETTINGS)}")
    data = load_eval_data(settings.env, split=settings.split, episodes=settings.episodes, seed=settings.seed)
    model, tokenizer = load_model_and_tokenizer(model_dir, chat_format=chat_format)
    model.eval()
    engine = HFRollout(model, tokenizer, tool_style=tool_style, batch_size=settings.batch_size)
    result = evaluate(engine, data.examples, [SETTINGS[n] for n in settings.settings], max_tokens=settings.max_tokens)
    metrics = {
        name: {
            "equivalence": result.metrics[name]["calls"]["equivalence"],
            "calls": result.metrics[name]["calls"]["n"],
            "loop_rate": result.metrics[name]["generation"]["loop_rate"],
            "mean_length": result.metrics[name]["generation"]["mean_length"],
            "parse_error_rate": result.metrics[name]["calls"]["parse_error_rate"],
        }
        for name in settings.settings
    }
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(metrics, indent=1))
    return metrics
