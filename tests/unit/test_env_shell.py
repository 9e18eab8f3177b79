"""Shell env: in-memory file operations, path handling, errors, and proof it never touches the real OS."""

import ast
import builtins
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

import rlkit.envs.shell as shell_module
import rlkit.envs.shell_tasks as shell_tasks_module
from rlkit.envs.shell import HOME, ShellEnv, normalize
from rlkit.toolcall import ToolCall

FORBIDDEN_MODULES = {"os", "pathlib", "shutil", "subprocess", "io", "tempfile", "glob", "sys", "socket", "ctypes"}
FORBIDDEN_CALLS = {"open", "exec", "eval", "compile", "__import__"}


def run(env, name, **arguments):
    responses, _, info = env.step([ToolCall(name, arguments)])
    return json.loads(responses[0]), info


@pytest.mark.parametrize("module", [shell_module, shell_tasks_module])
def test_module_imports_nothing_that_reaches_the_os(module):
    tree = ast.parse(Path(module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, f"{module.__name__} calls {node.func.id}"
    assert not imported & FORBIDDEN_MODULES, imported & FORBIDDEN_MODULES


def test_runs_with_every_os_entry_point_booby_trapped(monkeypatch):
    def trap(*args, **kwargs):
        raise AssertionError("the shell env touched the real OS")

    for name in ("listdir", "scandir", "stat", "lstat", "open", "remove", "unlink", "mkdir", "makedirs", "rename",
                 "replace", "rmdir", "removedirs", "chdir", "getcwd", "system", "walk", "utime", "chmod", "symlink"):
        monkeypatch.setattr(os, name, trap)
    for name in ("copy", "copy2", "copyfile", "move", "rmtree"):
        monkeypatch.setattr(shutil, name, trap)
    monkeypatch.setattr(subprocess, "Popen", trap)
    monkeypatch.setattr(builtins, "open", trap)
    env = ShellEnv(seed=3)
    for name, args in [("make_dir", {"path": "/etc"}), ("make_dir", {"path": "/tmp/x/y"}), ("list_dir", {"path": "/"}),
                       ("copy_file", {"source": "/etc/hosts", "destination": "/tmp/x"}), ("read_file", {"path": "/etc/hosts"}),
                       ("move", {"source": "/tmp/x", "destination": "/tmp/z"}), ("remove", {"path": "/etc/hosts"}),
                       ("find_files", {"path": "/", "pattern": "*.log"}), ("grep", {"pattern": "a", "path": "/var"}),
                       ("change_dir", {"path": "/var/app"}), ("count_lines", {"path": "/tmp/z/hosts"}),
                       ("file_info", {"path": "/tmp/z/hosts"})]:
        env.step([ToolCall(name, args)])
    assert "/tmp/z/hosts" in env.state()["files"] and "/etc/hosts" not in env.state()["files"]
    for index in range(30):
        shell_tasks_module.generate_episode(random.Random(index), "train", f"e{index}", index)


def test_normalize_paths():
    assert normalize("~/docs/../projects/./x", "/var") == f"{HOME}/projects/x"
    assert normalize("logs//app.log", "/var/app") == "/var/app/logs/app.log"
    assert normalize("../../..", "/var/app") == "/"


def test_read_count_grep_find_on_known_content():
    env = ShellEnv(seed=0)
    env._world["files"]["/srv/a.log"] = {"content": "ok\nERROR one\nERROR two\n", "mtime": "2024-01-01 00:00"}
    env._world["files"]["/srv/sub/b.log"] = {"content": "x\n", "mtime": "2024-01-02 00:00"}
    env._world["dirs"] += ["/srv", "/srv/sub"]
    assert run(env, "count_lines", path="/srv/a.log")[0]["lines"] == 3
    assert run(env, "read_file", path="/srv/sub/b.log")[0]["content"] == "x\n"
    grep = run(env, "grep", pattern="ERROR", path="/srv")[0]
    assert grep["count"] == 2 and [m["line"] for m in grep["matches"]] == [2, 3]
    assert run(env, "find_files", path="/srv", pattern="*.log")[0]["matches"] == ["/srv/a.log", "/srv/sub/b.log"]
    info = run(env, "file_info", path="/srv/a.log")[0]
    assert info["size"] == len("ok\nERROR one\nERROR two\n") and info["modified"] == "2024-01-01 00:00"
    listing = run(env, "list_dir", path="/srv")[0]["entries"]
    assert listing == [{"name": "a.log", "type": "file", "size": 23}, {"name": "sub", "type": "dir"}]


def test_mkdir_copy_move_remove_and_cd():
    env = ShellEnv(seed=1)
    run(env, "make_dir", path="/data/new/deep")
    assert {"/data", "/data/new", "/data/new/deep"} <= set(env.state()["dirs"])
    run(env, "copy_file", source="/etc/hosts", destination="/data/new")
    assert env.state()["files"]["/data/new/hosts"]["content"] == env.state()["files"]["/etc/hosts"]["content"]
    run(env, "move", source="/data/new", destination="/data/old")
    state = env.state()
    assert "/data/old/hosts" in state["files"] and "/data/old/deep" in state["dirs"] and "/data/new" not in state["dirs"]
    run(env, "remove", path="/data/old/hosts")
    run(env, "remove", path="/data/old/deep")
    assert "/data/old/hosts" not in env.state()["files"] and "/data/old/deep" not in env.state()["dirs"]
    run(env, "change_dir", path="/data/old")
    assert env.state()["cwd"] == "/data/old"
    run(env, "copy_file", source="/etc/hosts", destination="h2")  # relative to the new cwd
    assert "/data/old/h2" in env.state()["files"]


@pytest.mark.parametrize(
    "name, arguments, needle",
    [
        ("read_file", {"path": "/nope"}, "no such file"),
        ("read_file", {"path": "/etc"}, "is a directory"),
        ("read_file", {}, "invalid call"),
        ("read_file", {"path": 7}, "invalid call"),
        ("change_dir", {"path": "/etc/hosts"}, "no such directory"),
        ("remove", {"path": "/var"}, "not empty"),
        ("copy_file", {"source": "/etc/hosts", "destination": "/etc/hosts"}, "already exists"),
        ("move", {"source": "/var", "destination": "/var/app"}, "into itself"),
        ("find_files", {"pattern": ""}, "non-empty"),
        ("rm_rf", {"path": "/"}, "unknown tool"),
    ],
)
def test_invalid_calls_are_tool_errors(name, arguments, needle):
    env = ShellEnv(seed=2)
    before = env.state()
    data, info = run(env, name, **arguments)
    assert needle in data["error"] and info["errors"] == 1
    assert env.state() == before


def test_seeded_tree_is_deterministic():
    assert ShellEnv(seed=9).state() == ShellEnv(seed=9).state()
    assert ShellEnv(seed=9).state() != ShellEnv(seed=10).state()
