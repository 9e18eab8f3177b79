"""Shell env: a file system held in a dict, with list/cd/read/find/grep/wc/mkdir/cp/mv/rm tools.

Nothing here touches the real OS: paths are plain strings resolved by this module, "files" are
dict entries, and the module imports no os, pathlib, shutil, subprocess or io (a test checks).
`python -m rlkit.envs.show shell --show 3` prints generated tasks.
"""

from __future__ import annotations

import fnmatch
import random

from rlkit.envs.base import ToolEnv, ToolError, ok_response

HOME = "/home/user"
LOG_LEVELS = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")
LOG_EVENTS = ("request served in {n}ms", "cache miss for key user:{n}", "retrying job {n}", "connection reset by peer",
              "worker {n} started", "disk usage at {p}%", "timeout after {n}s", "user {n} logged in", "queue length {n}")
WORDS = ("alpha", "budget", "meeting", "draft", "review", "server", "deploy", "notes", "client", "invoice", "backup",
         "schedule", "design", "testing", "release", "config", "report", "summary", "ideas", "groceries")

SYSTEM_PROMPT = (
    "You are a file assistant working in a sandboxed shell. The home directory is /home/user and the "
    "session starts there. Use the tools to inspect and change files, passing absolute paths. Tasks may "
    "need several tool calls in a row. When you have the result, answer the user in words. If the request "
    "is not about files here, or is too vague to act on, say so or ask which file they mean."
)


def _tool(name: str, description: str, required: list[str], **properties: str) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "required": required,
                           "properties": {k: {"type": "string", "description": v} for k, v in properties.items()}},
        },
    }


TOOLS = [
    _tool("list_dir", "List a directory's entries with their type and size in bytes.", [],
          path="Directory to list (default: current directory)."),
    _tool("change_dir", "Change the current directory.", ["path"], path="Directory to move into."),
    _tool("read_file", "Return a file's text.", ["path"], path="File to read."),
    _tool("find_files", "Find files under a directory (recursively) whose name matches a glob pattern.", ["pattern"],
          path="Directory to search (default: current directory).", pattern="Glob on the file name, e.g. *.log."),
    _tool("grep", "Lines containing a text (case-sensitive), in a file or every file under a directory.", ["pattern", "path"],
          pattern="Text to look for.", path="File or directory."),
    _tool("count_lines", "Number of lines in a file.", ["path"], path="File to count."),
    _tool("file_info", "Size in bytes, type and last-modified time of a path.", ["path"], path="File or directory."),
    _tool("make_dir", "Create a directory, including missing parents.", ["path"], path="Directory to create."),
    _tool("copy_file", "Copy a file; a destination directory keeps the file name.", ["source", "destination"],
          source="File to copy.", destination="New path or existing directory."),
    _tool("move", "Move or rename a file or directory.", ["source", "destination"],
          source="Path to move.", destination="New path or existing directory."),
    _tool("remove", "Delete a file or an empty directory.", ["path"], path="Path to delete."),
]


def normalize(path: str, cwd: str) -> str:
    """Absolute, normalized form of `path` (handles ~, ., .. and repeated slashes) as a plain string."""
    path = path.strip()
    if path.startswith("~"):
        path = HOME + path[1:]
    if not path.startswith("/"):
        path = cwd.rstrip("/") + "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def parent(path: str) -> str:
    """The directory containing `path`."""
    return path.rsplit("/", 1)[0] or "/"


def basename(path: str) -> str:
    """The last component of `path`."""
    return path.rsplit("/", 1)[1]


def _stamp(rng: random.Random) -> str:
    return _stamp_from(rng.getrandbits(32))


def _stamp_from(k: int) -> str:
    """A 2024 timestamp from random bits (one draw per line keeps big trees fast to build)."""
    minute, k = k % 60, k // 60
    hour, k = k % 24, k // 24
    day, k = k % 28, k // 28
    return f"2024-{k % 12 + 1:02d}-{day + 1:02d} {hour:02d}:{minute:02d}"


def _log(rng: random.Random, lines: int) -> str:
    out = []
    for _ in range(lines):
        k = rng.getrandbits(64)
        event = LOG_EVENTS[k % len(LOG_EVENTS)].format(n=(k >> 8) % 999 + 1, p=(k >> 20) % 60 + 40)
        out.append(f"{_stamp_from(k >> 32)} {LOG_LEVELS[(k >> 4) % len(LOG_LEVELS)]} {event}")
    return "\n".join(out) + "\n"


def _text(rng: random.Random, lines: int) -> str:
    return "\n".join(" ".join(rng.sample(WORDS, rng.randint(2, 6))) for _ in range(lines)) + "\n"


class ShellEnv(ToolEnv):
    """A small Linux-like tree: home documents and projects, app logs and config, temp files."""

    name = "shell"
    tools = TOOLS
    system_prompt = SYSTEM_PROMPT

    def initial_state(self, rng: random.Random) -> dict:
        """Seeded directory tree and file contents."""
        files: dict[str, dict] = {}

        def add(path: str, content: str) -> None:
            files[path] = {"content": content, "mtime": _stamp(rng)}

        for name in rng.sample(("notes.txt", "todo.md", "report.txt", "ideas.md", "budget.csv", "letter.txt"), 4):
            add(f"{HOME}/docs/{name}", _text(rng, rng.randint(2, 9)))
        for project in rng.sample(("webapp", "scraper", "dashboard", "cli-tool"), 2):
            add(f"{HOME}/projects/{project}/README.md", f"# {project}\n" + _text(rng, rng.randint(1, 4)))
            add(f"{HOME}/projects/{project}/main.py", "def main():\n    print('hello')\n" * rng.randint(1, 3))
            add(f"{HOME}/projects/{project}/debug.log", _log(rng, rng.randint(2, 8)))
        for name in rng.sample(("app.log", "worker.log", "error.log", "access.log", "cron.log"), 3):
            add(f"/var/app/logs/{name}", _log(rng, rng.randint(3, 18)))
        add("/var/app/logs/old/app.1.log", _log(rng, rng.randint(4, 12)))
        add("/var/app/config/settings.ini", f"[server]\nport = {rng.choice((8000, 8080, 9000))}\nworkers = {rng.randint(2, 16)}\n")
        add("/var/app/config/db.conf", f"host = db.internal\nuser = app\npool = {rng.randint(5, 50)}\n")
        for name in rng.sample(("cache_1.tmp", "upload.tmp", "session.tmp", "build.tmp", "x.tmp"), rng.randint(1, 4)):
            add(f"/tmp/{name}", _text(rng, 1))
        add("/etc/hosts", "127.0.0.1 localhost\n10.0.0.5 db.internal\n")
        dirs = {"/"}
        for path in files:
            while path != "/":
                path = parent(path)
                dirs.add(path)
        dirs.add(f"{HOME}/downloads")
        return {"cwd": HOME, "dirs": sorted(dirs), "files": files}

    def snapshot(self) -> dict:
        """Structural copy: file contents are immutable strings, so only the containers are copied."""
        world = self._world
        return {"cwd": world["cwd"], "dirs": list(world["dirs"]),
                "files": {path: dict(node) for path, node in world["files"].items()}}

    # -- helpers ------------------------------------------------------------------------------------
    def _abs(self, path: object) -> str:
        if not isinstance(path, str) or not path.strip():
            raise ToolError("path must be a non-empty string")
        return normalize(path, self._world["cwd"])

    def _is_dir(self, path: str) -> bool:
        return path in self._world["dirs"]

    def _file(self, path: str) -> dict:
        if self._is_dir(path):
            raise ToolError(f"{path} is a directory")
        if path not in self._world["files"]:
            raise ToolError(f"{path}: no such file")
        return self._world["files"][path]

    def _dir(self, path: str) -> str:
        if not self._is_dir(path):
            raise ToolError(f"{path}: no such directory")
        return path

    def _under(self, root: str) -> list[str]:
        prefix = root.rstrip("/") + "/"
        return sorted(p for p in self._world["files"] if p.startswith(prefix))

    def _destination(self, source: str, destination: object) -> str:
        dest = self._abs(destination)
        if self._is_dir(dest):
            dest = dest.rstrip("/") + "/" + basename(source)
        self._dir(parent(dest))
        if dest in self._world["files"] or self._is_dir(dest):
            raise ToolError(f"{dest} already exists")
        return dest

    # -- tools --------------------------------------------------------------------------------------
    def tool_list_dir(self, path: str = ".") -> str:
        """Entries of a directory."""
        root = self._dir(self._abs(path))
        prefix = root.rstrip("/") + "/"
        entries = [{"name": basename(d), "type": "dir"} for d in self._world["dirs"]
                   if d.startswith(prefix) and d != root and "/" not in d[len(prefix):]]
        entries += [{"name": basename(f), "type": "file", "size": len(self._world["files"][f]["content"].encode())}
                    for f in self._world["files"] if parent(f) == root]
        return ok_response(path=root, entries=sorted(entries, key=lambda e: e["name"]))

    def tool_change_dir(self, path: str) -> str:
        """Move the current directory."""
        self._world["cwd"] = self._dir(self._abs(path))
        return ok_response(cwd=self._world["cwd"])

    def tool_read_file(self, path: str) -> str:
        """File text."""
        path = self._abs(path)
        return ok_response(path=path, content=self._file(path)["content"])

    def tool_find_files(self, pattern: str, path: str = ".") -> str:
        """Files under a directory whose names match a glob."""
        if not isinstance(pattern, str) or not pattern:
            raise ToolError("pattern must be a non-empty string")
        root = self._dir(self._abs(path))
        matches = [p for p in self._under(root) if fnmatch.fnmatchcase(basename(p), pattern)]
        return ok_response(path=root, pattern=pattern, matches=matches)

    def tool_grep(self, pattern: str, path: str) -> str:
        """Matching lines (plain text search, never a regex: the pattern comes from the model)."""
        if not isinstance(pattern, str) or not pattern:
            raise ToolError("pattern must be a non-empty string")
        target = self._abs(path)
        paths = self._under(target) if self._is_dir(target) else [target]
        matches = []
        for p in paths:
            for number, line in enumerate(self._file(p)["content"].splitlines(), 1):
                if pattern in line:
                    matches.append({"path": p, "line": number, "text": line})
        return ok_response(pattern=pattern, count=len(matches), matches=matches[:20])

    def tool_count_lines(self, path: str) -> str:
        """Line count of a file."""
        path = self._abs(path)
        return ok_response(path=path, lines=len(self._file(path)["content"].splitlines()))

    def tool_file_info(self, path: str) -> str:
        """Type, size and modification time."""
        path = self._abs(path)
        if self._is_dir(path):
            return ok_response(path=path, type="dir", entries=len(self._under(path)))
        node = self._file(path)
        return ok_response(path=path, type="file", size=len(node["content"].encode()), modified=node["mtime"])

    def tool_make_dir(self, path: str) -> str:
        """Create a directory and its parents."""
        path = self._abs(path)
        if path in self._world["files"]:
            raise ToolError(f"{path} is a file")
        dirs = set(self._world["dirs"])
        while path not in dirs:
            if path in self._world["files"]:
                raise ToolError(f"{path} is a file")
            dirs.add(path)
            path = parent(path)
        self._world["dirs"] = sorted(dirs)
        return ok_response(created=True)

    def tool_copy_file(self, source: str, destination: str) -> str:
        """Copy one file."""
        src = self._abs(source)
        node = self._file(src)
        dest = self._destination(src, destination)
        self._world["files"][dest] = dict(node)
        return ok_response(copied=src, to=dest)

    def tool_move(self, source: str, destination: str) -> str:
        """Move or rename a file or a directory tree."""
        src = self._abs(source)
        if src == "/" or src == self._world["cwd"]:
            raise ToolError(f"cannot move {src}")
        if not self._is_dir(src):
            self._file(src)
        dest = self._destination(src, destination)
        if self._is_dir(src):
            if dest.startswith(src + "/"):
                raise ToolError("cannot move a directory into itself")
            rename = lambda p: dest + p[len(src):] if p == src or p.startswith(src + "/") else p  # noqa: E731
            self._world["dirs"] = sorted({rename(d) for d in self._world["dirs"]})
            self._world["files"] = {rename(p): n for p, n in self._world["files"].items()}
        else:
            self._world["files"][dest] = self._world["files"].pop(src)
        return ok_response(moved=src, to=dest)

    def tool_remove(self, path: str) -> str:
        """Delete a file or an empty directory."""
        path = self._abs(path)
        if self._is_dir(path):
            if self._under(path) or any(d.startswith(path + "/") for d in self._world["dirs"]) or path == "/":
                raise ToolError(f"{path} is not empty")
            if self._world["cwd"] == path:
                raise ToolError("cannot remove the current directory")
            self._world["dirs"].remove(path)
            return ok_response(removed=path)
        self._file(path)
        del self._world["files"][path]
        return ok_response(removed=path)
