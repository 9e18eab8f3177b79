"""The embedded default output of each pipeline stage, built on first use and cached.

`default_stage_model("sft")` is the tiny LFM2 after `recipes/sft.py` with its default config;
`"dpo"` continues from that with `recipes/dpo_antiloop.py`, `"grpo"` from DPO with
`recipes/grpo_toolcall.py`. A stage that needs an earlier stage's model and was given none calls
this. A missing entry is built by running the recipe's `main` with its default config (logged:
it takes minutes on a CPU), into a temporary folder renamed into place when done, so a killed build
never looks finished. The folder name hashes the stage's default config and the stages before it,
so editing a default config builds a new model instead of reusing a stale one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from rlkit.config import parse_cli
from rlkit.model import cache_root, ensure_tiny_lfm2

log = logging.getLogger(__name__)

RECIPES_DIR = Path(__file__).resolve().parents[1] / "recipes"


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: its recipe file, the recipe's config class, and the stage it continues."""

    name: str
    recipe: str  # file name under recipes/, without .py
    config_class: str
    previous: str | None


STAGES = {
    "sft": Stage("sft", "sft", "SFTRecipeConfig", None),
    "dpo": Stage("dpo", "dpo_antiloop", "DPORecipeConfig", "sft"),
    "grpo": Stage("grpo", "grpo_toolcall", "GRPORecipeConfig", "dpo"),
}


class StageUnavailable(RuntimeError):
    """A stage whose recipe is not in this checkout (yet)."""


def recipe_path(stage: str) -> Path:
    """`recipes/<recipe>.py` of a stage."""
    return RECIPES_DIR / f"{STAGES[stage].recipe}.py"


def stage_available(stage: str) -> bool:
    """Whether this checkout has the stage's recipe."""
    return recipe_path(stage).is_file()


def load_recipe(stage: str) -> ModuleType:
    """The stage's recipe module, imported from its file (recipes are scripts, not a package)."""
    path = recipe_path(stage)
    if not path.is_file():
        raise StageUnavailable(f"stage {stage!r} needs {path}, which this checkout does not have")
    name = f"rlkit_recipe_{STAGES[stage].recipe}"
    spec = importlib.util.spec_from_file_location(name, path)
    if name in sys.modules:
        return sys.modules[name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there while the file executes
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def default_config_path(stage: str) -> Path:
    """`recipes/configs/<recipe>.yaml`."""
    return RECIPES_DIR / "configs" / f"{STAGES[stage].recipe}.yaml"


def stage_digest(stage: str) -> str:
    """Hash of the stage's default config file, the stages before it, and the base tiny model."""
    h = hashlib.sha256(stage.encode())
    config = default_config_path(stage)
    h.update(config.read_bytes() if config.is_file() else b"")
    previous = STAGES[stage].previous
    # A stage whose predecessor is missing continues from the one before that (see input_stage).
    while previous is not None and not stage_available(previous):
        previous = STAGES[previous].previous
    h.update((stage_digest(previous) if previous else ensure_tiny_lfm2().name).encode())
    return h.hexdigest()[:12]


def stage_dir(stage: str) -> Path:
    """The cache folder of a stage's default output (it holds `model/` once built)."""
    return cache_root() / "stages" / f"{stage}-{stage_digest(stage)}"


def input_stage(stage: str) -> str | None:
    """The nearest earlier stage whose recipe exists (GRPO continues from SFT while DPO is missing)."""
    previous = STAGES[stage].previous
    while previous is not None and not stage_available(previous):
        log.warning("stage %r: recipe for %r is missing, continuing from the stage before it", stage, previous)
        previous = STAGES[previous].previous
    return previous


def default_input_model(stage: str) -> str:
    """The model a stage starts from when none is given: the earlier stage's default output."""
    previous = input_stage(stage)
    return str(default_stage_model(previous)) if previous else "tiny-lfm2"


def default_stage_model(stage: str) -> Path:
    """The folder of the stage's embedded default model, building it (minutes) if not cached."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    target = stage_dir(stage)
    if (target / "model" / "config.json").is_file():
        return target / "model"
    module = load_recipe(stage)
    log.warning(
        "no cached default %s model: building it now by running recipes/%s.py with its default config "
        "into %s (this takes minutes on a CPU; later calls reuse it)",
        stage, STAGES[stage].recipe, target,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        config_class = getattr(module, STAGES[stage].config_class)
        # The recipe's default config leaves its input model empty, so the recipe itself calls
        # default_input_model() and builds the earlier stages first if needed.
        config = parse_cli(config_class, [f"output_dir={tmp}"], default_config_path(stage))
        if hasattr(getattr(config, "train", None), "report_to"):
            config.train.report_to = "none"  # a cache build is not an experiment worth a wandb run
        module.main(config)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "model" / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("default %s model ready at %s", stage, target / "model")
    return target / "model"
