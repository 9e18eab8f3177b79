"""notebooks/quickstart.ipynb runs top to bottom (nbclient, a real kernel) and is stored without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"

pytestmark = pytest.mark.integration


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(not c.outputs and c.execution_count is None for c in code), "strip outputs before committing"


def test_notebook_executes_and_plots(tmp_path, tiny_model_dir, monkeypatch):
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    env_path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", env_path)  # the kernel imports rlkit/envs from this checkout
    monkeypatch.setenv("RLKIT_NOTEBOOK_DIR", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}).execute()
    text = "\n".join(out.get("text", "") for c in nb.cells if c.cell_type == "code" for out in c.outputs)
    assert "Lfm2ForCausalLM" in text
    assert "'prompts': 6" in text  # the pair report covers every prompt
    assert "tool-call equivalence:" in text
    assert (tmp_path / "eval.png").stat().st_size > 1000
