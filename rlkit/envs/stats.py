"""`python -m rlkit.envs.stats [--episodes N] [--seed S]`: Markdown tables describing the generated data per env."""

from __future__ import annotations

import argparse
import json
from collections import Counter

from rlkit.envs.registry import ENVS, generate_episodes


def template_parts(template_id: str) -> list[str]:
    """Template ids of a turn ('banking.answer.2+f_from.0' is built from two templates)."""
    return template_id.split(".", 1)[1].split("+")


def env_rows(env_name: str, n_episodes: int, seed: int) -> list[dict]:
    """One stats row per split of one env."""
    rows = []
    templates = {}
    for split in ("train", "test"):
        episodes = generate_episodes(env_name, split, n_episodes, seed)
        tasks = [t for e in episodes for t in e.tasks()]
        turns = [t for e in episodes for t in e.turns]
        templates[split] = {p for t in turns for p in template_parts(t.template_id)}
        distinct = {json.dumps(t.messages()) + json.dumps([c.arguments for c in t.step.calls]) + t.step.reply for t in tasks}
        lengths = Counter(len(e.turns) for e in episodes)
        rows.append({
            "env": env_name, "split": split, "episodes": len(episodes), "tasks": len(tasks),
            "call": sum(t.kind == "call" for t in tasks), "reply": sum(t.kind == "reply" for t in tasks),
            "distinct": len(distinct), "templates": len(templates[split]),
            "turns": " / ".join(f"{100 * lengths[k] / len(episodes):.0f}" for k in range(1, 6)),
            "off_turns": sum(t.off_domain for t in turns) / len(turns),
            "off_tasks": sum(t.episode.turns[t.turn_index].off_domain for t in tasks) / len(tasks),
        })
    shared = len(templates["train"] & templates["test"])
    for row in rows:
        row["shared"] = shared
    return rows


def markdown(rows: list[dict]) -> str:
    """The stats as a Markdown table."""
    head = ("| env | split | episodes | tasks (call + reply) | distinct tasks | templates used | train∩test templates "
            "| turns 1/2/3/4/5 (% of episodes) | off-domain turns | off-domain tasks |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(f"| {r['env']} | {r['split']} | {r['episodes']} | {r['tasks']} ({r['call']} + {r['reply']}) | {r['distinct']} "
                     f"| {r['templates']} | {r['shared']} | {r['turns']} | {100 * r['off_turns']:.1f}% | {100 * r['off_tasks']:.1f}% |")
    return "\n".join(lines)


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description="Print per-env statistics of the generated tasks as Markdown.")
    parser.add_argument("--episodes", type=int, default=2000, help="episodes generated per env and split")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = [row for name in ENVS for row in env_rows(name, args.episodes, args.seed)]
    print(f"Generated data, {args.episodes} episodes per env and split, seed {args.seed}.\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
