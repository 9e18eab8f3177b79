"""What to ask the teacher: one plan per request (target tool, turns, persona, style, noise) and its chat.

Plans are drawn deterministically from a seed, so a resumed run asks exactly the same questions and
the on-disk cache hits. Target tools are dealt round-robin from a shuffled deck so every tool gets
about the same number of requests; a share of requests asks for an off-domain user instead.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from rlkit.synth.conversation import Conversation

REPLY_FORMAT = """{"conversation": [
    {"role": "user", "content": "<what the user says>"},
    {"role": "assistant", "tool_call": {"name": "<tool>", "arguments": {<argument>: <value>}}},
    {"role": "user", "content": "<the user's next turn>"}
  ],
  "next_call": {"name": "<tool>", "arguments": {<argument>: <value>}}}"""


@dataclass
class Diversity:
    """Knobs that vary the requests; each request draws one persona, style and noise kind."""

    personas: list[str] = field(default_factory=lambda: ["a customer"])
    styles: list[str] = field(default_factory=lambda: ["plain"])
    noise: list[str] = field(default_factory=lambda: ["none"])
    # Weights of 1, 2, 3, ... user turns (its length is the maximum multi-turn depth).
    turn_weights: list[float] = field(default_factory=lambda: [1.0])
    off_domain_share: float = 0.0
    # The tool an off-domain request should end in (e.g. intent_unclear); None lets the teacher pick.
    off_domain_tool: str | None = None
    examples_per_prompt: int = 3


@dataclass
class RequestPlan:
    """One teacher request: what conversation to ask for and which seed examples to show."""

    request_id: int
    target_tool: str | None
    user_turns: int
    persona: str
    style: str
    noise: str
    off_domain: bool
    seed_examples: list[int]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the raw JSONL (so a resumed run can check it asks the same thing)."""
        return asdict(self)


def plan_requests(count: int, tool_names: list[str], seed_tools: list[str], diversity: Diversity, seed: int) -> list[RequestPlan]:
    """`count` deterministic request plans balanced over `tool_names`.

    `seed_tools[i]` is the next-call name of seed i: each prompt shows one seed of its target tool
    (when there is one) plus randomly drawn others.
    """
    if not tool_names:
        raise ValueError("the job description defines no tools")
    if not diversity.turn_weights or min(diversity.turn_weights) < 0 or sum(diversity.turn_weights) <= 0:
        raise ValueError(f"diversity.turn_weights must be non-negative with a positive sum, got {diversity.turn_weights}")
    if not 0.0 <= diversity.off_domain_share <= 1.0:
        raise ValueError(f"diversity.off_domain_share must be in [0, 1], got {diversity.off_domain_share}")
    if diversity.off_domain_share > 0 and diversity.off_domain_tool not in (None, *tool_names):
        raise ValueError(f"diversity.off_domain_tool {diversity.off_domain_tool!r} is not one of the tools: {tool_names}")
    rng = random.Random(seed)
    deck: list[str] = []
    plans = []
    for request_id in range(count):
        off_domain = rng.random() < diversity.off_domain_share
        if off_domain:
            target = diversity.off_domain_tool
        else:
            if not deck:
                deck = list(tool_names)
                rng.shuffle(deck)
            target = deck.pop()
        turns = rng.choices(range(1, len(diversity.turn_weights) + 1), weights=diversity.turn_weights)[0]
        shown = _pick_examples(rng, target, seed_tools, diversity.examples_per_prompt)
        plans.append(
            RequestPlan(
                request_id=request_id,
                target_tool=target,
                user_turns=turns,
                persona=rng.choice(diversity.personas),
                style=rng.choice(diversity.styles),
                noise=rng.choice(diversity.noise),
                off_domain=off_domain,
                seed_examples=shown,
            )
        )
    return plans


def _pick_examples(rng: random.Random, target: str | None, seed_tools: list[str], count: int) -> list[int]:
    count = min(count, len(seed_tools))
    if count <= 0:
        return []
    same_tool = [i for i, name in enumerate(seed_tools) if name == target]
    first = [rng.choice(same_tool)] if same_tool else []
    rest = [i for i in range(len(seed_tools)) if i not in first]
    return first + rng.sample(rest, count - len(first))


def teacher_format(conversation: Conversation) -> dict[str, Any]:
    """A conversation in the JSON form the teacher is asked to write (used to show seed examples)."""
    turns = []
    for message in conversation.messages:
        if message["role"] == "assistant" and message.get("tool_calls"):
            for entry in message["tool_calls"]:
                turns.append({"role": "assistant", "tool_call": dict(entry["function"])})
        else:
            turns.append({"role": message["role"], "content": message["content"]})
    return {"conversation": turns, "next_call": {"name": conversation.next_call.name, "arguments": conversation.next_call.arguments}}


def build_messages(plan: RequestPlan, task_description: str, tools: list[dict], seeds: list[Conversation]) -> list[dict[str, str]]:
    """The chat sent to the teacher for one plan: instructions + tools + examples, then the request."""
    system = (
        "You write training data for a small assistant that answers every user turn with one tool call.\n\n"
        f"The assistant's task:\n{task_description}\n\n"
        f"Its tools (JSON schemas):\n{json.dumps(tools, ensure_ascii=False)}\n\n"
        "Reply with exactly one JSON object of this form and nothing else:\n"
        f"{REPLY_FORMAT}\n\n"
        "Rules: the conversation starts and ends with a user turn; earlier assistant turns are tool calls "
        "made in answer to the user turn before them; next_call is the single correct call for the last "
        "user turn given everything said before; use only the tools above, their argument names, types and "
        "allowed enum values; take argument values from what the user said and omit arguments the user did "
        "not give."
    )
    examples = "\n".join(json.dumps(teacher_format(seeds[i]), ensure_ascii=False) for i in plan.seed_examples)
    if plan.off_domain:
        goal = "The user asks for something this assistant cannot do (off-domain)."
        if plan.target_tool:
            goal += f" next_call must be {plan.target_tool}."
    else:
        goal = f"next_call must be a call to {plan.target_tool}."
    request = (
        f"Examples of good conversations:\n{examples}\n\n"
        "Write one new conversation, different from the examples.\n"
        f"- {goal}\n"
        f"- Number of user turns: {plan.user_turns}.\n"
        f"- The user is {plan.persona}.\n"
        f"- Phrasing style: {plan.style}.\n"
        f"- Noise in the user's text: {plan.noise}."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": request}]
