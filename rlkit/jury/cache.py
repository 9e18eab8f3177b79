"""On-disk cache of LLM-judge answers, keyed by (model, rubric, prompt, candidates).

One small JSON file per answer, written atomically (temp file + rename) so concurrent threads or
processes and a killed run never leave a torn entry. Only parsed answers are stored: a failed
request is retried next time rather than remembered.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def cache_key(model: str, rubric: str, mode: str, prompt: Any, candidates: list[str],
              request_fields: dict[str, Any] | None = None) -> str:
    """A stable hex digest of everything that determines a judge's answer.

    `request_fields`: server-specific request fields that change answers (llama.cpp's `grammar`);
    left out of the payload when empty, so keys made without them stay valid.
    """
    fields = {"model": model, "rubric": rubric, "mode": mode, "prompt": prompt, "candidates": candidates}
    if request_fields:
        fields["request_fields"] = request_fields
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class JudgeCache:
    """Answers stored under `root/<key[:2]>/<key>.json`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored answer, or None (also for an unreadable entry, which is then rewritten)."""
        path = self._path(key)
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None

    def put(self, key: str, value: dict) -> None:
        """Store `value` (JSON-serializable) for `key`."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(value, f, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.is_dir() else 0
