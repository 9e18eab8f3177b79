"""Load a recipe script (or a benchmark script) as a module, the way tests reach `main(config)`.

Recipes are scripts, not a package: nothing in rlkit imports them, so tests load them by path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_script(path: str | Path) -> ModuleType:
    """The module of a script under the repository (cached: dataclasses look their module up in sys.modules)."""
    path = REPO / path
    name = "script_" + "_".join(path.relative_to(REPO).with_suffix("").parts)
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def load_recipe(name: str) -> ModuleType:
    """`recipes/<name>.py` as a module."""
    return load_script(Path("recipes") / f"{name}.py")
