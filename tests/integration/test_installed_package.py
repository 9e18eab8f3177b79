"""A non-editable install works on its own: every module imports from the installed copy, and the
eval recipe and `rlkit export` run from another folder without the checkout's rlkit/ on the path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

IMPORT_EVERYTHING = """
import importlib, pkgutil, sys
import rlkit
assert rlkit.__file__.startswith(sys.argv[1]), rlkit.__file__
names = [m.name for m in pkgutil.walk_packages(rlkit.__path__, "rlkit.")]
for name in names:
    module = importlib.import_module(name)
    assert module.__file__.startswith(sys.argv[1]), (name, module.__file__)
recipes = [m.__file__ for m in list(sys.modules.values()) if "/recipes/" in (getattr(m, "__file__", None) or "")]
assert not recipes, recipes
print(len(names))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """`pip install .` (not editable, no dependencies: the venv has them) into a fresh folder."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(REPO)], check=True, capture_output=True, timeout=300)
    assert (target / "rlkit" / "__init__.py").is_file() and not (target / "recipes").exists()
    return target


def run(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    # The installed copy first on the path; the working folder is not the checkout.
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_every_module_imports_from_the_installed_copy(installed, tmp_path):
    done = run(["-c", IMPORT_EVERYTHING, str(installed)], installed, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 80


def test_eval_recipe_and_export_run_from_another_folder(installed, tiny_model_dir, tmp_path):
    evaluated = run([str(REPO / "recipes" / "eval.py"), "--data", "smart_home", "--model", str(tiny_model_dir),
                     "--output", str(tmp_path / "eval"), "episodes=1", "max_tokens=8", "settings=[{name: greedy, temperature: 0.0}]"],
                    installed, tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert evaluated.stdout.strip().splitlines()[-1].startswith("tool-call equivalence:")
    exported = run(["-m", "rlkit.export", "gguf", "--model", str(tiny_model_dir), "--out", str(tmp_path / "m.gguf"), "--type", "f16"],
                   installed, tmp_path)
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert (tmp_path / "m.gguf").read_bytes()[:4] == b"GGUF"
