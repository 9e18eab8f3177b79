"""Play env episodes on the model's own history: its calls run in a live env, the env's real
responses go back into the conversation, and each user turn is scored against the reference.

The loop is rlkit.rollout.episodes' (the one GRPO trains with), over chat prompts
(`transport="chat"`), because eval engines include servers that render their own template: all
episodes advance in lockstep, one batched `generate` call per round. Within a user turn the model
may make several call steps (each answered by the env) until it writes text without calls — that
text is the turn's reply — or `max_steps_per_turn` is reached. A turn is right when all the calls
made during it are equivalent (order-free) to the reference calls of that turn. A parse error ends
the turn as wrong; its text still enters the history. A reply cut by the token limit is scored as
written, and the episode goes on to its next user turn.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from rlkit.eval.metrics import facts_mentioned
from rlkit.eval.records import EpisodeRecord, TurnRecord
from rlkit.eval.scoring import loop_report
from rlkit.rollout.base import RolloutEngine, SamplingParams
from rlkit.rollout.episodes import EpisodeLimits, EpisodeTask, UserTurn, run_episodes
from rlkit.toolcall import PARSE_ERROR, check_calls, expected_from_answer


def play_episodes(
    engine: RolloutEngine,
    episodes: list[Any],
    env_factory: Callable[[Any], Any],
    setting: str,
    params: SamplingParams,
    max_steps_per_turn: int = 4,
) -> list[EpisodeRecord]:
    """Play every episode to its last user turn on the model's own history; one record each."""
    playable = [episode for episode in episodes if episode.turns]
    tasks = [
        EpisodeTask([{"role": "system", "content": episode.system}, {"role": "user", "content": episode.turns[0].user}],
                    json.dumps(episode.tools), env_factory(episode), follow_ups=[turn.user for turn in episode.turns[1:]])
        for episode in playable
    ]
    # Only the per-turn step limit ends turns; the episode limit is never the one that binds.
    most_turns = max((len(episode.turns) for episode in playable), default=1)
    limits = EpisodeLimits(max_turns=max_steps_per_turn * most_turns + 1, max_steps_per_turn=max_steps_per_turn,
                           stop_on_length=False, stop_on_env_done=False)
    played = dict(zip((id(e) for e in playable), zip(tasks, run_episodes(engine, None, tasks, params, limits, transport="chat"))))
    records = []
    for episode in episodes:
        record = EpisodeRecord(episode.episode_id, setting, episode.env, num_turns=len(episode.turns))
        if id(episode) in played:
            task, rollout = played[id(episode)]
            tools = json.dumps(episode.tools)
            record.turns = [_turn_record(episode, index, turn, tools) for index, turn in enumerate(rollout.turns)]
            record.final_state_match = task.env.state() == episode.final_state
        else:
            record.final_state_match = env_factory(episode).state() == episode.final_state
        records.append(record)
    return records


def _turn_record(episode: Any, index: int, played: UserTurn, tools: str) -> TurnRecord:
    """One user turn of the played episode scored against the episode's reference turn."""
    turn = episode.turns[index]
    reference = [call for step in turn.steps for call in step.calls]
    facts = [fact for step in turn.steps for fact in step.facts]
    expected = expected_from_answer([{"name": c.name, "arguments": c.arguments} for c in reference])
    if played.error:
        ok, reason = False, PARSE_ERROR
    else:
        verdict = check_calls(played.calls, expected, tools)
        ok, reason = verdict.ok, verdict.reason
    # A turn loops when its reply text cycles to the token limit or its call steps repeat one call.
    looped = loop_report(played.last, played.calls)[0]
    return TurnRecord(
        turn_index=index,
        ok=ok,
        reason=reason,
        calls=[{"name": c.name, "arguments": c.arguments} for c in played.calls],
        expected=[{"name": c.name, "arguments": c.arguments} for c in reference],
        reply=played.reply,
        looped=looped,
        facts=facts,
        facts_mentioned=facts_mentioned(played.reply, facts) if played.reply else [],
        steps=played.steps,
    )
