"""Checkpoints that are complete or visibly not: atomic saves, hash manifests, exact-resume state.

Two ways to get a checkpoint that can be trusted:

* `save_checkpoint_atomic(target, write)` — for state a recipe owns (the DPO recipe's pairs and
  round models): `write` fills a temporary folder beside `target`, a manifest with every file's size and
  SHA-256 is added, and only then is the folder renamed to `target`. A crash leaves a `.tmp-*`
  folder that is never mistaken for a checkpoint.
* `ManifestCallback` — for the `checkpoint-N` folders a transformers/TRL `Trainer` writes in place
  (model, optimizer, scheduler, RNG states, trainer state with the data position). The Trainer's
  write is not atomic, so the manifest written after it is the commit marker: a folder without one,
  or whose files no longer match it, is reported and skipped by `find_resumable_checkpoint`.
  Recipes must resume through `find_resumable_checkpoint`, not transformers' `get_last_checkpoint`
  (which would pick a half-written folder).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

log = logging.getLogger(__name__)

MANIFEST = "rlkit_manifest.json"
RECIPE_STATE = "recipe_state.json"
MANIFEST_FORMAT = 1
_STEP = re.compile(r"^(?:checkpoint|round)-(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint that is partial, corrupted or otherwise unfit to resume from."""


@dataclass
class ResumeChoice:
    """The checkpoint to resume from (or None) and every newer one that was rejected, with why."""

    path: Path | None
    rejected: list[tuple[Path, str]] = field(default_factory=list)


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def build_folder_once(target: Path, build: Callable[[Path], None], marker: str = "config.json") -> Path:
    """`target`, first built by `build(tmp)` in a temp folder beside it and renamed into place.

    A killed build or a concurrent process never leaves a half-written folder where a reader would
    take it for a finished one; when another process finished first, its copy is kept.
    """
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / marker).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def write_manifest(directory: str | Path, recipe_state: dict[str, Any] | None = None) -> Path:
    """Hash every file under `directory` into its manifest (written last, via rename)."""
    directory = Path(directory)
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST):
        files[path.relative_to(directory).as_posix()] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
    manifest = {"format": MANIFEST_FORMAT, "created": time.time(), "files": files, "recipe_state": recipe_state or {}}
    _write_json_atomic(directory / MANIFEST, manifest)
    return directory / MANIFEST


def verify_checkpoint(directory: str | Path) -> dict[str, Any]:
    """Return the manifest of a complete checkpoint; raise CheckpointError naming what is wrong."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: not a folder")
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise CheckpointError(f"{directory}: no {MANIFEST} (the save was interrupted, or it predates manifests)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{manifest_path}: unreadable manifest ({err})") from err
    if manifest.get("format") != MANIFEST_FORMAT or not isinstance(manifest.get("files"), dict):
        raise CheckpointError(f"{manifest_path}: unknown manifest format {manifest.get('format')!r}")
    for name, expected in manifest["files"].items():
        path = directory / name
        if not path.is_file():
            raise CheckpointError(f"{directory}: file {name} listed in the manifest is missing")
        size = path.stat().st_size
        if size != expected["size"]:
            raise CheckpointError(f"{directory}: file {name} has {size} bytes, manifest says {expected['size']}")
        if file_sha256(path) != expected["sha256"]:
            raise CheckpointError(f"{directory}: file {name} does not match its SHA-256 in the manifest (corrupted)")
    return manifest


def is_complete_checkpoint(directory: str | Path) -> bool:
    """Whether `directory` is a verified checkpoint; an existing but broken one is logged as such."""
    try:
        verify_checkpoint(directory)
    except CheckpointError as err:
        if Path(directory).exists():
            log.warning("not reusing %s: %s", directory, err)
        return False
    return True


def save_checkpoint_atomic(
    target: str | Path, write: Callable[[Path], None], recipe_state: dict[str, Any] | None = None
) -> Path:
    """Let `write(tmp_dir)` fill a folder beside `target`, add the manifest, then rename it to `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    write(tmp)
    if recipe_state is not None:
        _write_json_atomic(tmp / RECIPE_STATE, recipe_state)
    write_manifest(tmp, recipe_state)
    _fsync_tree(tmp)
    old = None
    if target.exists():
        # rename() cannot replace a non-empty folder; move the old one aside first so that at every
        # instant either the old or the new complete checkpoint sits at `target` (or beside it).
        old = target.parent / f".old-{target.name}-{os.getpid()}"
        os.replace(target, old)
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def find_resumable_checkpoint(output_dir: str | Path, pattern: str = "checkpoint-*") -> ResumeChoice:
    """The newest verified checkpoint under `output_dir`; newer broken ones are logged and listed."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return ResumeChoice(None)
    candidates = [p for p in output_dir.glob(pattern) if p.is_dir() and _STEP.match(p.name)]
    candidates.sort(key=lambda p: int(_STEP.match(p.name).group(1)), reverse=True)
    rejected: list[tuple[Path, str]] = []
    for path in candidates:
        try:
            verify_checkpoint(path)
        except CheckpointError as err:
            log.warning("not resuming from %s: %s", path, err)
            rejected.append((path, str(err)))
            continue
        return ResumeChoice(path, rejected)
    return ResumeChoice(None, rejected)


def resumable_trainer_checkpoint(output_dir: str | Path) -> str | None:
    """The `resume_from_checkpoint` argument for a Trainer: newest sealed checkpoint-N, or None."""
    choice = find_resumable_checkpoint(output_dir)
    if choice.path is not None:
        log.info("resuming from %s", choice.path)
    return str(choice.path) if choice.path else None


def read_recipe_state(checkpoint: str | Path) -> dict[str, Any]:
    """The recipe state recorded in a verified checkpoint's manifest."""
    return verify_checkpoint(checkpoint).get("recipe_state", {})


class ManifestCallback(TrainerCallback):
    """Seal every Trainer checkpoint with a manifest once all processes have finished writing it.

    `recipe_state` (a dict, or a function returning one at save time) is stored in the manifest, e.g.
    `{"dpo_round": 2, "pairs_file": "pairs/round-2.jsonl"}`.
    """

    def __init__(self, recipe_state: dict[str, Any] | Callable[[], dict[str, Any]] | None = None):
        self.recipe_state = recipe_state

    def on_save(self, args, state, control, **kwargs):
        from accelerate import PartialState

        # Every process writes its own rng_state_<rank>.pth; hash only after all of them are done.
        PartialState().wait_for_everyone()
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            extra = self.recipe_state() if callable(self.recipe_state) else self.recipe_state
            write_manifest(folder, {"global_step": state.global_step, **(extra or {})})
        PartialState().wait_for_everyone()
        return control


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w") as handle:
        json.dump(payload, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _fsync_tree(directory: Path) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
