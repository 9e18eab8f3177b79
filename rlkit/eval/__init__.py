"""Evaluate a model on tool-call tasks: equivalence, multi-turn compounding, loops; reports and plots.

    from rlkit.eval import evaluate, load_eval_data, write_report
    data = load_eval_data("smart_home")
    result = evaluate(engine, data.examples, episodes=data.episodes, env_factory=data.env_factory)
    write_report(result, "runs/eval")
"""

from rlkit.eval.harness import EvalExample, EvalResult, evaluate, examples_from_rows, score_completion
from rlkit.eval.records import (
    GREEDY,
    LFM2_RECOMMENDED,
    TEMPERATURE_1,
    EpisodeRecord,
    ExampleRecord,
    GenerationSetting,
    TurnRecord,
    default_settings,
)
from rlkit.eval.report import load_results, write_report
from rlkit.eval.sources import EvalData, load_eval_data

__all__ = [
    "GREEDY",
    "LFM2_RECOMMENDED",
    "TEMPERATURE_1",
    "EpisodeRecord",
    "EvalData",
    "EvalExample",
    "EvalResult",
    "ExampleRecord",
    "GenerationSetting",
    "TurnRecord",
    "default_settings",
    "evaluate",
    "examples_from_rows",
    "load_eval_data",
    "load_results",
    "score_completion",
    "write_report",
]
