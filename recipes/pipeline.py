"""python recipes/pipeline.py [preset=quick|full|real] [--config FILE] [section.key=value ...]

The whole recipe on one model: SFT → anti-loop DPO → GRPO, with an eval after every stage.
`preset=quick` (default) reads `recipes/configs/pipeline.yaml` (the README's main job: minutes on a
laptop CPU); `preset=full` reads `recipes/configs/pipeline_full.yaml` (the quality run on the tiny
model); `preset=real` reads `recipes/configs/pipeline_real.yaml` (the pretrained SmolLM2-135M).

1. Evaluate the starting model (default: the embedded tiny LFM2) on held-out env tasks.
2. For each stage in `stages`: run its recipe's `main` with the recipe's own default YAML, then
   this file's section for the stage (`sft:`, `dpo:`, `grpo:`; any key of that recipe), with the
   previous stage's model as `model`. A stage whose recipe is not in this checkout is skipped and
   logged; the next stage continues from the last model.
3. After each stage: tool-call equivalence on held-out env tasks, loop rate, mean completion
   length (rlkit.pipeline.eval: HF generate or the vLLM engine), and the stage's wall time.
   With `isolate_stages: true` every stage and every eval runs in its own (spawned) process, so
   each one's engines, threads and memory are gone before the next starts.
4. Print the table and write it to `<output_dir>/pipeline.md`, `pipeline.json` and `pipeline.png`.

Resuming: a stage whose `<output_dir>/<stage>/stage.json` exists is done and is not rerun (delete
that folder to redo it); evals are cached the same way in `<stage>/eval.json`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import torch

from rlkit.chat import ToolStyle
from rlkit.chat_format import ChatFormat
from rlkit.config import ConfigError, flatten_overrides, load_config, parse_cli, save_config
from rlkit.pipeline.eval import PipelineEval, evaluate_model
from rlkit.pipeline.report import StageRow, write_pipeline_report

log = logging.getLogger("recipes.pipeline")
RECIPES = Path(__file__).resolve().parent
DEFAULT_CONFIG = RECIPES / "configs" / "pipeline.yaml"
PRESETS = {"quick": DEFAULT_CONFIG, "full": RECIPES / "configs" / "pipeline_full.yaml",
           "real": RECIPES / "configs" / "pipeline_real.yaml"}
# stage -> (its recipe beside this file, that recipe's config class)
STAGES = {"sft": ("sft", "SFTRecipeConfig"), "dpo": ("dpo_antiloop", "DPORecipeConfig"), "grpo": ("grpo_toolcall", "GRPORecipeConfig")}


@dataclass
class PipelineConfig:
    """Everything `recipes/pipeline.py` reads; stage sections hold keys of that stage's recipe config."""

    preset: Literal["quick", "full", "real"] = "quick"  # on the command line, `preset=full` picks that preset's YAML
    model: str = "tiny-lfm2"
    tool_style: ToolStyle = "compact"
    chat_format: ChatFormat = "auto"  # passed to every stage and eval (rlkit.chat_format)
    output_dir: str = "runs/pipeline_quick"
    stages: list[str] = field(default_factory=lambda: ["sft", "dpo", "grpo"])
    num_threads: int = 1
    isolate_stages: bool = False  # each stage and eval in its own process (vLLM engines are built once per process)
    loop_on: Literal["all", "replies"] = "all"  # the table's loop rate: over every completion, or free-text replies
    # The quick preset's stage sections (keys of each stage recipe's config). A preset's section
    # replaces the whole section, so pipeline_full.yaml states every key it sets.
    sft: dict[str, Any] = field(default_factory=lambda: {
        "data": {"kind": "episode", "num_rows": 4000},
        "train": {"max_steps": 600, "batch_size": 8, "learning_rate": 3.0e-3, "warmup_steps": 20, "logging_steps": 50,
                  "num_threads": 2, "report_to": "none"}})
    dpo: dict[str, Any] = field(default_factory=lambda: {
        "rounds": 1, "data": {"num_rows": 16}, "sampling": {"k": 3, "max_tokens": 64},
        "train": {"steps_per_round": 8, "batch_size": 4, "report_to": "none"}})
    grpo: dict[str, Any] = field(default_factory=lambda: {
        "rollout": {"num_generations": 6, "max_completion_length": 48},
        "train": {"max_steps": 20, "prompts_per_step": 4, "logging_steps": 5, "report_to": "none"}})
    eval: PipelineEval = field(default_factory=lambda: PipelineEval(episodes=20, max_tokens=64))


def stage_available(stage: str) -> bool:
    """Whether this checkout has the stage's recipe."""
    return (RECIPES / f"{STAGES[stage][0]}.py").is_file()


def load_stage_recipe(stage: str) -> ModuleType:
    """The stage's recipe script as a module: this file composes the stage recipes, nothing else imports them."""
    name = f"recipe_{STAGES[stage][0]}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, RECIPES / f"{STAGES[stage][0]}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there while the file executes
        spec.loader.exec_module(module)
    return sys.modules[name]


def stage_config(stage: str, config: PipelineConfig, model: str, output_dir: Path) -> Any:
    """The stage recipe's config: its defaults, this pipeline's section, then model/output/tool style."""
    recipe, config_class = load_stage_recipe(stage), STAGES[stage][1]
    overrides = flatten_overrides(getattr(config, stage)) + [
        f"model={json.dumps(model)}", f"output_dir={json.dumps(str(output_dir))}", f"tool_style={config.tool_style}",
        f"chat_format={config.chat_format}",
    ]
    try:
        return load_config(getattr(recipe, config_class), RECIPES / "configs" / f"{STAGES[stage][0]}.yaml", overrides)
    except ConfigError as error:
        raise ConfigError(f"pipeline section {stage!r}: {error}") from None


def run_stage(stage: str, config: PipelineConfig, model: str, stage_dir: Path) -> dict[str, Any]:
    """Train one stage from `model`; write and return its record (`<stage_dir>/stage.json`)."""
    log.info("stage %r: starting from %s", stage, model)
    started = time.perf_counter()
    model_dir = load_stage_recipe(stage).main(stage_config(stage, config, model, stage_dir))
    record = {"model": str(model_dir), "wall_seconds": time.perf_counter() - started}
    (stage_dir / "stage.json").write_text(json.dumps(record, indent=1))
    return record


def evaluate_stage(model: str, config: PipelineConfig, stage_dir: Path) -> dict[str, Any]:
    """The held-out metrics of one stage's model, cached in `<stage_dir>/eval.json`."""
    return evaluate_model(model, config.eval, config.tool_style, stage_dir / "eval.json", config.chat_format)


def _child_entry(function: Any, args: tuple, num_threads: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if num_threads:
        torch.set_num_threads(num_threads)
    function(*args)


def call_isolated(config: PipelineConfig, function: Any, *args: Any) -> None:
    """Run `function(*args)` here, or in a fresh spawned process when `isolate_stages` is set.

    Results travel through the files each function writes (stage.json, eval.json), so the child
    only has to succeed. Not a daemon process: vLLM's engine may start processes of its own.
    """
    if not config.isolate_stages:
        function(*args)
        return
    process = multiprocessing.get_context("spawn").Process(target=_child_entry, args=(function, args, config.num_threads))
    process.start()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"{function.__name__}{tuple(str(a) for a in args if not isinstance(a, PipelineConfig))} "
                           f"failed in its own process (exit code {process.exitcode}); its log is above")


def timed_eval(stage: str, model: str, config: PipelineConfig, stage_dir: Path) -> tuple[dict[str, Any], float]:
    """(metrics, eval seconds); the seconds of a cached eval are the ones recorded when it ran."""
    cache, timing = stage_dir / "eval.json", stage_dir / "eval_seconds.json"
    if cache.is_file() and timing.is_file():
        return json.loads(cache.read_text()), json.loads(timing.read_text())["seconds"]
    started = time.perf_counter()
    call_isolated(config, evaluate_stage, model, config, stage_dir)
    seconds = time.perf_counter() - started
    timing.parent.mkdir(parents=True, exist_ok=True)
    timing.write_text(json.dumps({"stage": stage, "seconds": seconds}))
    return json.loads(cache.read_text()), seconds


def main(config: PipelineConfig) -> list[StageRow]:
    """Run every stage in order (resuming finished ones), evaluate after each, write the table."""
    os.environ.setdefault("WANDB_MODE", "offline")
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    output_dir = Path(config.output_dir)
    save_config(config, output_dir / "config.yaml")
    started = time.perf_counter()

    current = config.model
    metrics, eval_seconds = timed_eval("base", current, config, output_dir / "base")
    rows = [StageRow("base", current, metrics, 0.0, eval_seconds=eval_seconds)]
    for stage in config.stages:
        if stage not in STAGES:
            raise ConfigError(f"stages: unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        if not stage_available(stage):
            log.warning("SKIPPING stage %r: recipes/%s.py is not in this checkout", stage, STAGES[stage][0])
            rows.append(StageRow(stage, "", {}, 0.0, skipped=f"recipes/{STAGES[stage][0]}.py missing"))
            continue
        stage_dir = output_dir / stage
        done = stage_dir / "stage.json"
        if done.is_file():
            log.info("stage %r already done (%s): reusing %s", stage, done, json.loads(done.read_text())["model"])
        else:
            stage_dir.mkdir(parents=True, exist_ok=True)
            call_isolated(config, run_stage, stage, config, current, stage_dir)
        record = json.loads(done.read_text())
        current = record["model"]
        metrics, eval_seconds = timed_eval(stage, current, config, stage_dir)
        rows.append(StageRow(stage, current, metrics, record["wall_seconds"], eval_seconds=eval_seconds))

    total = time.perf_counter() - started
    table = write_pipeline_report(rows, output_dir, title=f"pipeline `{config.preset}`: {config.eval.env} held-out",
                                  total_seconds=total, loop_on=config.loop_on)
    print(table)
    return rows


def preset_config_path(argv: list[str]) -> Path:
    """The YAML a `preset=quick|full` (or `--preset full`) argument selects; quick by default."""
    for index, arg in enumerate(argv):
        name = arg.split("=", 1)[1] if arg.startswith(("preset=", "--preset=")) else None
        if arg == "--preset" and index + 1 < len(argv):
            name = argv[index + 1]
        if name is not None:
            if name not in PRESETS:
                raise ConfigError(f"preset must be one of {sorted(PRESETS)}, got {name!r}")
            return PRESETS[name]
    return DEFAULT_CONFIG


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    main(parse_cli(PipelineConfig, sys.argv[1:], preset_config_path(sys.argv[1:])))
