"""Play env episodes on the model's own history: its calls run in a live env, the env's real
responses go back into the conversation, and each user turn is scored against the reference.

All episodes advance in lockstep, so every round is one batched `generate` call. Within a user
turn the model may make several call steps (each answered by the env) until it writes text
without calls — that text is the turn's reply — or `max_steps_per_turn` is reached.
A turn is right when all the calls made during it are equivalent (order-free) to the reference
calls of that turn. A parse error ends the turn as wrong; its text still enters the history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from rlkit.eval.metrics import facts_mentioned
from rlkit.eval.records import EpisodeRecord, TurnRecord
from rlkit.eval.scoring import loop_report
from rlkit.rollout.base import ChatPrompt, Completion, RolloutEngine, SamplingParams
from rlkit.toolcall import PARSE_ERROR, ToolCall, check_calls, expected_from_answer, parse_tool_calls


@dataclass
class _Playing:
    """One episode in progress."""

    episode: Any
    env: Any
    messages: list[dict[str, Any]]
    record: EpisodeRecord
    tools: str = ""
    turn: int = 0
    steps: int = 0
    calls: list[ToolCall] = field(default_factory=list)
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.turn >= len(self.episode.turns)


def play_episodes(
    engine: RolloutEngine,
    episodes: list[Any],
    env_factory: Callable[[Any], Any],
    setting: str,
    params: SamplingParams,
    max_steps_per_turn: int = 4,
) -> list[EpisodeRecord]:
    """Play every episode to its last user turn on the model's own history; one record each."""
    playing = []
    for episode in episodes:
        env = env_factory(episode)
        record = EpisodeRecord(episode.episode_id, setting, episode.env, num_turns=len(episode.turns))
        state = _Playing(episode, env, [{"role": "system", "content": episode.system}], record, json.dumps(episode.tools))
        _start_turn(state)
        playing.append(state)
    params = SamplingParams(**{**vars(params), "n": 1})
    while active := [p for p in playing if not p.finished]:
        prompts = [ChatPrompt(p.messages, p.tools) for p in active]
        outputs = engine.generate(prompts, params)
        for state, group in zip(active, outputs):
            _advance(state, group[0], max_steps_per_turn)
    for state in playing:
        state.record.final_state_match = state.env.state() == state.episode.final_state
    return [p.record for p in playing]


def _start_turn(state: _Playing) -> None:
    if not state.finished:
        state.messages.append({"role": "user", "content": state.episode.turns[state.turn].user})
        state.steps, state.calls, state.error = 0, [], None


def _advance(state: _Playing, completion: Completion, max_steps: int) -> None:
    """Feed one completion into the episode: run its calls, or close the turn with its reply."""
    parsed = parse_tool_calls(completion.text)
    state.steps += 1
    if parsed.error:
        state.error = parsed.error
        state.messages.append({"role": "assistant", "content": completion.text})
        _finish_turn(state, completion, reply="")
        return
    if parsed.calls:
        responses, _, _ = state.env.step(parsed.calls)
        state.calls.extend(parsed.calls)
        state.messages.append(
            {"role": "assistant", "content": parsed.text, "tool_calls": [c.to_openai() for c in parsed.calls]}
        )
        state.messages.extend({"role": "tool", "content": response} for response in responses)
        if state.steps >= max_steps:
            _finish_turn(state, completion, reply="")
        return
    state.messages.append({"role": "assistant", "content": parsed.text})
    _finish_turn(state, completion, reply=parsed.text)


def _finish_turn(state: _Playing, last: Completion, reply: str) -> None:
    turn = state.episode.turns[state.turn]
    reference = [call for step in turn.steps for call in step.calls]
    facts = [fact for step in turn.steps for fact in step.facts]
    expected = expected_from_answer([{"name": c.name, "arguments": c.arguments} for c in reference])
    if state.error:
        ok, reason = False, PARSE_ERROR
    else:
        verdict = check_calls(state.calls, expected, state.tools)
        ok, reason = verdict.ok, verdict.reason
    # A turn loops when its reply text cycles to the token limit or its call steps repeat one call.
    looped = loop_report(last, state.calls)[0]
    state.record.turns.append(
        TurnRecord(
            turn_index=state.turn,
            ok=ok,
            reason=reason,
            calls=[{"name": c.name, "arguments": c.arguments} for c in state.calls],
            expected=[{"name": c.name, "arguments": c.arguments} for c in reference],
            reply=reply,
            looped=looped,
            facts=facts,
            facts_mentioned=facts_mentioned(reply, facts) if reply else [],
            steps=state.steps,
        )
    )
    state.turn += 1
    _start_turn(state)
