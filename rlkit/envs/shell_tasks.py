"""Seeded generator of shell episodes: multi-step file tasks, follow-ups, off-topic and vague requests."""

from __future__ import annotations

import json
import random

from rlkit.envs.base import Episode, Step, Turn, call_step
from rlkit.envs.phrasing import Intent, casualize
from rlkit.envs.shell import HOME, ShellEnv, basename, parent
from rlkit.toolcall.call import ToolCall

INTENTS = {i.key: i for i in [
    Intent("total_log_lines", ("how many lines do the .log files under {dir} have in total?",
                          "count all the lines in the log files in {dir}", "total line count of every .log file under {dir}",
                          "what's the combined number of lines across the logs in {dir}",
                          "sum up the lines of all .log files below {dir}", "how big are the logs in {dir}, in lines total",
                          "add up line counts for the *.log files under {dir}", "tell me the total lines in {dir} logs")),
    Intent("count_lines", ("how many lines are in {file}", "count the lines of {file}", "line count for {file}",
                      "wc -l {file}", "how long is {file} in lines", "number of lines in {file}?")),
    Intent("read", ("what's in {file}", "show me {file}", "read {file} for me", "cat {file}", "open {file}",
               "what does {file} say", "print the contents of {file}", "let me see {file}")),
    Intent("find", ("find all {ext} files under {dir}", "list every {ext} file in {dir}", "which {ext} files are in {dir}",
               "search {dir} for {ext} files", "any {ext} files below {dir}?", "look for {ext} files in {dir}")),
    Intent("grep_file", ("how many {word} lines are in {file}", "grep {word} in {file}", "find {word} in {file}",
                    "does {file} have any {word} entries", "show lines with {word} in {file}", "count {word} in {file}")),
    Intent("grep_dir", ("search everything under {dir} for {word}", "grep -r {word} {dir}", "which files in {dir} mention {word}",
                   "find {word} anywhere in {dir}", "look through {dir} for {word}", "any {word} under {dir}?")),
    Intent("backup", ("make a folder {newdir} and copy {file} into it", "create {newdir} and put a copy of {file} there",
                 "back up {file} into a new directory {newdir}", "mkdir {newdir} then copy {file} in",
                 "I need a copy of {file} in a new {newdir} folder", "set up {newdir} with a copy of {file}")),
    Intent("move", ("move {file} to {dest}", "mv {file} {dest}", "put {file} in {dest}", "relocate {file} into {dest}",
               "can you move {file} over to {dest}", "shift {file} to {dest}")),
    Intent("clean_tmp", ("delete all the .tmp files in /tmp", "clean up the tmp files in /tmp", "remove every .tmp file under /tmp",
                    "get rid of the temp files in /tmp", "wipe the *.tmp files from /tmp", "purge /tmp of .tmp files")),
    Intent("biggest", ("what's the biggest file in {dir}", "which file in {dir} is largest", "largest file in {dir}?",
                  "find the biggest thing in {dir}", "what takes the most space in {dir}", "biggest file under {dir} pls")),
    Intent("cd_list", ("go to {dir} and show me what's there", "cd into {dir} and list it", "switch to {dir}, what's inside",
                  "change to {dir} and ls", "take me to {dir} and list the files", "move into {dir} and show the contents")),
    Intent("modified", ("when was {file} last changed", "last modified time of {file}", "how old is {file}",
                   "when did {file} last get edited", "modification date for {file}", "file info for {file}")),
    Intent("fu_lines", ("how many lines does it have", "and how long is it", "count its lines", "wc -l on that one",
                   "how many lines in that file", "line count?")),
    Intent("fu_delete", ("now delete it", "ok remove that file", "get rid of it", "delete that one", "rm it",
                    "trash it please")),
    Intent("fu_copy_tmp", ("copy it to /tmp too", "put a copy in /tmp", "also copy that to /tmp", "cp it to /tmp",
                      "back it up in /tmp", "duplicate it into /tmp")),
    Intent("off_topic", ("what's the weather in paris", "tell me a joke", "who won the world cup", "reboot the server",
                    "install python 3.12", "send an email to my boss", "what's 2+2", "open a browser")),
    Intent("vague", ("delete that file", "fix it", "clean it up", "do the thing with the logs", "show me the file",
                "move it somewhere else")),
]}
OFF_DOMAIN_INTENTS = {"off_topic", "vague"}
DIRS_WITH_LOGS = ("/var/app", "/var/app/logs", HOME + "/projects", "/var")


def _c(name: str, **arguments) -> ToolCall:
    return ToolCall(name, arguments)


def _say(path: str, rng: random.Random) -> str:
    """How a user names a path: absolute, or with ~ for the home directory."""
    return "~" + path[len(HOME):] if path.startswith(HOME) and rng.random() < 0.4 else path


def _data(step: Step, i: int = 0) -> dict:
    return json.loads(step.responses[i])


class Conversation:
    """Runs one turn's calls against the env and writes the closing reply (with facts)."""

    def __init__(self, env: ShellEnv, rng: random.Random):
        self.env, self.rng, self.last_file = env, rng, None

    def files(self, pattern: str = "") -> list[str]:
        return sorted(p for p in self.env.view()["files"] if p.endswith(pattern))

    def turn(self, kind: str) -> tuple[dict, list[Step]]:
        """Slots for the phrasing and the steps (calls then reply) of one request kind."""
        env, rng, steps = self.env, self.rng, []
        run = lambda *calls: steps.append(call_step(env, list(calls))) or steps[-1]  # noqa: E731
        if kind == "total_log_lines":
            root = rng.choice(DIRS_WITH_LOGS)
            found = _data(run(_c("find_files", path=root, pattern="*.log")))["matches"]
            if not found:
                steps.append(Step(reply=f"There are no .log files under {root}.", facts=["no"]))
                return {"dir": _say(root, rng)}, steps
            counted = run(*[_c("count_lines", path=p) for p in found])
            total = sum(_data(counted, i)["lines"] for i in range(len(found)))
            detail = ", ".join(f"{basename(p)} {_data(counted, i)['lines']}" for i, p in enumerate(found))
            steps.append(Step(reply=f"The {len(found)} .log files under {root} have {total} lines in total ({detail}).",
                              facts=[str(total)]))
            return {"dir": _say(root, rng)}, steps
        if kind in ("count_lines", "read", "grep_file", "modified", "move", "backup"):
            path = rng.choice(self.files(".log") if kind == "grep_file" else self.files())
            self.last_file = path
            slots = {"file": _say(path, rng)}
            if kind == "count_lines":
                n = _data(run(_c("count_lines", path=path)))["lines"]
                steps.append(Step(reply=f"{basename(path)} has {n} lines.", facts=[str(n)]))
            elif kind == "read":
                content = _data(run(_c("read_file", path=path)))["content"]
                lines = content.splitlines()
                shown = "\n".join(lines[:6]) + ("\n..." if len(lines) > 6 else "")
                steps.append(Step(reply=f"{basename(path)} has {len(lines)} lines. It starts with:\n{shown}",
                                  facts=[lines[0].strip(), str(len(lines))]))
            elif kind == "grep_file":
                word = rng.choice(("ERROR", "WARN", "INFO", "timeout"))
                slots["word"] = word
                d = _data(run(_c("grep", pattern=word, path=path)))
                first = f" The first is: {d['matches'][0]['text']}" if d["count"] else ""
                steps.append(Step(reply=f"{basename(path)} has {d['count']} lines containing {word}.{first}",
                                  facts=[str(d["count"])]))
            elif kind == "modified":
                d = _data(run(_c("file_info", path=path)))
                steps.append(Step(reply=f"{basename(path)} was last modified on {d['modified']} and is {d['size']} bytes.",
                                  facts=[d["modified"].split()[0]]))
            elif kind == "move":
                state = env.view()
                dest = rng.choice([d for d in state["dirs"] if d not in (parent(path), "/")
                                   and f"{d}/{basename(path)}" not in state["files"] and f"{d}/{basename(path)}" not in state["dirs"]])
                slots["dest"] = _say(dest, rng)
                d = _data(run(_c("move", source=path, destination=dest)))
                self.last_file = d["to"]
                steps.append(Step(reply=f"Moved {basename(path)} to {dest}; it is now at {d['to']}.", facts=[d["to"]]))
            else:
                newdir = rng.choice((f"{HOME}/backup", f"{HOME}/archive", "/tmp/saved", f"{HOME}/docs/old"))
                while newdir in env.view()["dirs"]:
                    newdir += "2"
                slots["newdir"] = _say(newdir, rng)
                run(_c("make_dir", path=newdir))
                d = _data(run(_c("copy_file", source=path, destination=newdir)))
                steps.append(Step(reply=f"I created {newdir} and copied {basename(path)} into it ({d['to']}).",
                                  facts=[newdir]))
            return slots, steps
        if kind in ("find", "biggest", "cd_list", "grep_dir"):
            root = rng.choice(("/var/app", HOME, f"{HOME}/docs", f"{HOME}/projects", "/var/app/logs", "/tmp"))
            slots = {"dir": _say(root, rng)}
            if kind == "find":
                ext = rng.choice((".txt", ".md", ".log", ".py", ".tmp"))
                slots["ext"] = ext
                found = _data(run(_c("find_files", path=root, pattern="*" + ext)))["matches"]
                names = ", ".join(found) if found else "none"
                steps.append(Step(reply=f"I found {len(found)} {ext} files under {root}: {names}.",
                                  facts=[str(len(found))] + [basename(p) for p in found[:3]]))
            elif kind == "grep_dir":
                word = rng.choice(("ERROR", "timeout", "port", "budget", "main"))
                slots["word"] = word
                d = _data(run(_c("grep", pattern=word, path=root)))
                where = sorted({m["path"] for m in d["matches"]})
                steps.append(Step(reply=f"{d['count']} lines under {root} contain {word}"
                                        + (f", in {', '.join(where)}." if where else "."), facts=[str(d["count"])]))
            else:
                if kind == "cd_list":
                    run(_c("change_dir", path=root))
                entries = _data(run(_c("list_dir", path=root)))["entries"]
                files = [e for e in entries if e["type"] == "file"]
                if kind == "biggest":
                    if not files:
                        steps.append(Step(reply=f"There are no files directly in {root}, only folders.", facts=["no files"]))
                    else:
                        big = max(files, key=lambda e: (e["size"], e["name"]))
                        self.last_file = root.rstrip("/") + "/" + big["name"]
                        steps.append(Step(reply=f"The biggest file in {root} is {big['name']} at {big['size']} bytes.",
                                          facts=[big["name"], str(big["size"])]))
                else:
                    listing = ", ".join(e["name"] + ("/" if e["type"] == "dir" else "") for e in entries)
                    steps.append(Step(reply=f"You're in {root} now. It contains: {listing}.",
                                      facts=[e["name"] for e in entries[:3]]))
            return slots, steps
        if kind == "clean_tmp":
            found = _data(run(_c("find_files", path="/tmp", pattern="*.tmp")))["matches"]
            if found:
                run(*[_c("remove", path=p) for p in found])
            steps.append(Step(reply=f"Removed {len(found)} .tmp files from /tmp"
                                    + (f": {', '.join(basename(p) for p in found)}." if found else "."),
                              facts=[str(len(found))]))
            return {}, steps
        return self.follow_up(kind, run, steps)

    def follow_up(self, kind: str, run, steps: list[Step]) -> tuple[dict, list[Step]]:
        """Requests about 'it': the file the previous turn was about."""
        path = self.last_file
        if kind == "fu_lines":
            n = _data(run(_c("count_lines", path=path)))["lines"]
            steps.append(Step(reply=f"{basename(path)} has {n} lines.", facts=[str(n)]))
        elif kind == "fu_delete":
            run(_c("remove", path=path))
            self.last_file = None
            steps.append(Step(reply=f"Deleted {path}.", facts=[basename(path)]))
        elif kind == "fu_copy_tmp":
            d = _data(run(_c("copy_file", source=path, destination="/tmp")))
            steps.append(Step(reply=f"Copied it to {d['to']}.", facts=[d["to"]]))
        elif kind == "off_topic":
            steps.append(Step(reply="Sorry, I can only work with the files here: listing, reading, searching, copying, "
                                    "moving and deleting them. I can't help with that.", facts=["files"]))
        else:
            steps.append(Step(reply="Which file or folder do you mean? Give me its path and I'll take care of it.",
                              facts=["which"]))
        return {}, steps


FRESH = (("total_log_lines", 3), ("count_lines", 1.5), ("read", 2), ("find", 2), ("grep_file", 1.5), ("grep_dir", 1),
         ("backup", 1), ("move", 1), ("clean_tmp", 0.8), ("biggest", 1.2), ("cd_list", 1), ("modified", 1),
         ("off_topic", 0.8), ("vague", 0.6))
FOLLOW_UPS = (("fu_lines", 2), ("fu_delete", 1.5), ("fu_copy_tmp", 1.5))


def generate_episode(rng: random.Random, split: str, episode_id: str, env_seed: int) -> Episode:
    """One seeded shell session of 1-5 user requests."""
    env = ShellEnv(seed=env_seed)
    talk, turns = Conversation(env, rng), []
    for _ in range(rng.choices(range(1, 6), weights=(0.3, 0.3, 0.2, 0.12, 0.08))[0]):
        options = list(FRESH)
        if talk.last_file and talk.last_file in env.view()["files"]:
            copyable = "/tmp/" + basename(talk.last_file) not in env.view()["files"]
            # "delete that file" is only vague when no earlier turn named a file
            options = [(k, w) for k, w in options if k != "vague"]
            options += [(k, w * 2) for k, w in FOLLOW_UPS if copyable or k != "fu_copy_tmp"]
        kind = rng.choices([k for k, _ in options], weights=[w for _, w in options])[0]
        slots, steps = talk.turn(kind)
        template_id, template = INTENTS[kind].pick(rng, split)
        paths = {w for v in slots.values() for w in str(v).split()}
        user = casualize(template.format(**slots), rng, keep=frozenset(p.lower() for p in paths))
        turns.append(Turn(user=user, template_id=f"shell.{template_id}", steps=steps,
                          off_domain=kind in OFF_DOMAIN_INTENTS))
    return Episode(env="shell", episode_id=episode_id, split=split, env_seed=env_seed, system=ShellEnv.system_prompt,
                   tools=ShellEnv.tools, turns=turns, final_state=env.view())
