"""Atomic checkpoint saves, manifest verification, resume selection and RNG state round trips."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from rlkit.train.checkpoint import (
    MANIFEST,
    CheckpointError,
    find_resumable_checkpoint,
    read_recipe_state,
    save_checkpoint_atomic,
    verify_checkpoint,
    write_manifest,
)


def _writer(payload: bytes):
    def write(folder):
        (folder / "weights.bin").write_bytes(payload)
        (folder / "sub").mkdir()
        (folder / "sub" / "pairs.jsonl").write_text('{"prompt": "p"}\n')

    return write


def test_atomic_save_writes_manifest_and_recipe_state(tmp_path):
    target = save_checkpoint_atomic(tmp_path / "round-1", _writer(b"abc"), {"dpo_round": 1, "pairs_file": "sub/pairs.jsonl"})
    manifest = verify_checkpoint(target)
    assert set(manifest["files"]) == {"weights.bin", "sub/pairs.jsonl", "recipe_state.json"}
    assert manifest["files"]["weights.bin"]["size"] == 3
    # sha256("abc"), computed by hand with hashlib once and pinned here
    assert manifest["files"]["weights.bin"]["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert read_recipe_state(target) == {"dpo_round": 1, "pairs_file": "sub/pairs.jsonl"}
    assert [p.name for p in tmp_path.iterdir()] == ["round-1"]  # no temp folder left behind


def test_crash_inside_write_leaves_previous_checkpoint_untouched(tmp_path):
    target = save_checkpoint_atomic(tmp_path / "round-1", _writer(b"old"))

    def crashing(folder):
        (folder / "weights.bin").write_bytes(b"half")
        raise KeyboardInterrupt("killed mid-save")

    with pytest.raises(KeyboardInterrupt):
        save_checkpoint_atomic(target, crashing)
    assert (target / "weights.bin").read_bytes() == b"old"
    verify_checkpoint(target)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) == 1  # the partial write sits under a name nothing resumes from
    assert find_resumable_checkpoint(tmp_path, "round-*").path == target


def test_overwrite_replaces_whole_folder(tmp_path):
    save_checkpoint_atomic(tmp_path / "ck", lambda d: (d / "a.txt").write_text("1"))
    target = save_checkpoint_atomic(tmp_path / "ck", lambda d: (d / "b.txt").write_text("2"))
    assert sorted(p.name for p in target.iterdir()) == sorted([MANIFEST, "b.txt"])


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda d: (d / MANIFEST).unlink(), "no rlkit_manifest.json"),
        (lambda d: (d / "weights.bin").unlink(), "weights.bin listed in the manifest is missing"),
        (lambda d: (d / "weights.bin").write_bytes(b"abcd"), "has 4 bytes, manifest says 3"),
        (lambda d: (d / "weights.bin").write_bytes(b"abd"), "does not match its SHA-256"),
        (lambda d: (d / MANIFEST).write_text("{not json"), "unreadable manifest"),
    ],
)
def test_damaged_checkpoints_are_reported(tmp_path, damage, message):
    target = save_checkpoint_atomic(tmp_path / "checkpoint-5", _writer(b"abc"))
    damage(target)
    with pytest.raises(CheckpointError, match=message):
        verify_checkpoint(target)


def test_resume_skips_newer_broken_checkpoints_and_reports_them(tmp_path, caplog):
    for step in (2, 4, 6):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(bytes([step]) * 10)
        if step != 6:  # checkpoint-6 was being written when the job died: no manifest yet
            write_manifest(folder, {"global_step": step})
    (tmp_path / "checkpoint-4" / "model.safetensors").write_bytes(b"x" * 10)  # bit rot
    (tmp_path / "checkpoint-10-notes").mkdir()  # not a checkpoint name: ignored
    choice = find_resumable_checkpoint(tmp_path)
    assert choice.path == tmp_path / "checkpoint-2"
    assert [p.name for p, _ in choice.rejected] == ["checkpoint-6", "checkpoint-4"]
    assert "not resuming from" in caplog.text


def test_no_checkpoints_means_fresh_start(tmp_path):
    assert find_resumable_checkpoint(tmp_path / "missing").path is None
    assert find_resumable_checkpoint(tmp_path).path is None
