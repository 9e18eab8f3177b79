"""`python -m rlkit.envs.show <env> [--show N]`: print generated multi-turn tasks in a readable form."""

from __future__ import annotations

import argparse
import json
import textwrap

from rlkit.envs.base import Task
from rlkit.envs.registry import ENVS, generate_episodes


def format_task(task: Task) -> str:
    """A task as text: the conversation so far, then the reference next assistant turn."""
    ex = task.to_example()
    lines = [f"=== {ex['task_id']}  [{ex['split']}, {ex['kind']} task, turn {ex['turn_index'] + 1}/{ex['num_turns']}, "
             f"template {ex['template_id']}{', off-domain' if ex['off_domain'] else ''}]"]
    for m in ex["messages"]:
        if m["role"] == "system":
            lines.append("system: " + textwrap.shorten(m["content"], 100))
        elif m.get("tool_calls"):
            lines.append("assistant -> " + "; ".join(_call_text(c["function"]) for c in m["tool_calls"]))
        else:
            lines.append(f"{m['role']}: " + textwrap.shorten(m["content"], 160))
    if ex["kind"] == "call":
        lines.append("REFERENCE CALLS: " + "; ".join(_call_text(c) for c in json.loads(ex["answer"])))
    else:
        lines.append("REFERENCE REPLY: " + ex["reply"].replace("\n", " / "))
        lines.append("MUST MENTION: " + ", ".join(json.loads(ex["facts"])))
    return "\n".join(lines)


def _call_text(fn: dict) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in fn["arguments"].items())
    return f"{fn['name']}({args})"


def main() -> None:
    """CLI: pick N tasks from multi-turn episodes (alternating next-call and reply tasks) and print them."""
    parser = argparse.ArgumentParser(description="Show generated env tasks.")
    parser.add_argument("env", choices=sorted(ENVS), help="which env")
    parser.add_argument("--show", type=int, default=3, help="how many tasks to print")
    parser.add_argument("--split", default="train", choices=("train", "test"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shown = 0
    for episode in generate_episodes(args.env, args.split, 50 * max(args.show, 1), args.seed):
        if len(episode.turns) < 2 or shown >= args.show:
            continue
        tasks = episode.tasks()
        wanted = "call" if shown % 2 == 0 else "reply"
        later = [t for t in tasks if t.turn_index >= 1 and t.kind == wanted]
        if later:
            print(format_task(later[0]) + "\n")
            shown += 1


if __name__ == "__main__":
    main()
