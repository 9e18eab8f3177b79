"""The package's shape, checked from the source: no import cycles, layers import downward only.

Layers, lowest first (a module may import its own layer and the ones below, never above):
core parts (config, chat, loops, toolcall, rewards, jury, data, envs, model, rollout, eval,
export, synth, train) → stage packages (sft, dpo, grpo) → pipeline. Recipes are leaves: nothing in
rlkit imports them or reads their files. Inside the core, `rlkit.envs` sits just above `toolcall`:
the environments use tool calls and the dataset columns and nothing else of rlkit.
"""

from __future__ import annotations

import ast
import functools
import re
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "rlkit"
STAGES = {"sft", "dpo", "grpo"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The rlkit modules a file imports, at module level or inside functions alike."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        # `from rlkit.toolcall import ToolCall` imports the package; `from rlkit import x` the module x.
        found.update(n for n in names if n in modules)
    return found


@functools.lru_cache(maxsize=1)
def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(files)) - {name} for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            # A package's __init__ importing its own submodules is how packages re-export; the
            # submodule importing the package back is then the cycle that matters, so keep both.
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    return 2 if top == "pipeline" else 1 if top in STAGES else 0


def test_no_import_cycle_between_files():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()))


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_layers_import_downward_only():
    upward = [(m, d) for m, deps in import_graph().items() for d in deps
              if layer(d) > layer(m) or (layer(d) == layer(m) == 1 and d.split(".")[1] != m.split(".")[1])]
    assert upward == []


def test_envs_use_only_tool_calls_and_dataset_columns():
    allowed = ("rlkit.envs", "rlkit.toolcall", "rlkit.data.columns")
    outside = {(m, d) for m, deps in import_graph().items() if m.startswith("rlkit.envs")
               for d in deps if not d.startswith(allowed)}
    assert outside == set()


def test_nothing_in_the_package_reads_the_recipes():
    readers = [p.name for p in PACKAGE.rglob("*.py") if "recipes" in p.read_text(encoding="utf-8")
               and ("spec_from_file_location" in p.read_text(encoding="utf-8") or '"recipes"' in p.read_text(encoding="utf-8"))]
    assert readers == []


def test_every_public_function_and_class_is_used_outside_the_tests():
    """Library code only tests call is dead weight (methods are left out: frameworks call hooks by name)."""
    root = PACKAGE.parent
    users = [*PACKAGE.rglob("*.py"), *root.glob("recipes/*.py"), *root.glob("benchmarks/*.py"),
             *root.glob("launch/**/*.py"), *root.glob("notebooks/*.ipynb"), root / "pyproject.toml"]
    mentions = Counter(re.findall(r"\w+", "\n".join(p.read_text(encoding="utf-8") for p in users)))
    unused = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                # its definition is one mention; any use (call, import, re-export) is another
                if mentions[node.name] < 2:
                    unused.append(f"{module_name(path)}.{node.name}")
    assert unused == []


def test_test_file_names_are_unique_across_folders():
    # pytest's default (rootdir-less "prepend") import mode keys test modules by basename, so two
    # tests/**/test_x.py files make collection fail for the whole run.
    tests = Path(__file__).resolve().parents[1]
    counts = Counter(p.name for p in tests.rglob("test_*.py"))
    assert [name for name, n in counts.items() if n > 1] == []
