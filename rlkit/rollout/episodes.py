"""Multi-turn tool episodes over any rollout engine, token-in/token-out.

Each episode runs generate -> parse the calls (rlkit.toolcall, never executed as code) -> `env.step`
-> append the tool responses -> generate again, until the model answers in text, an episode limit
is hit, or the env says it is done. All live episodes advance together: one `engine.generate` call
per turn for the whole batch.

Token-in/token-out: the sequence is never re-tokenized. The prompt is rendered and tokenized once;
each turn appends the sampled token ids exactly as the engine returned them (with their logprobs),
and everything the template writes between two assistant turns (the tool messages, a following user
message, the next assistant header) is rendered by the chat template once and appended as tokens
(`continuation_text`). The next turn's prompt is that token sequence itself. `completion_mask` is 1
on the model's own tokens and 0 on the template's, so training sees exactly what was sampled (the
re-tokenization drift of text-level tool loops cannot happen). `messages` holds the same conversation
as chat messages, with each assistant turn's content being the model's text verbatim: rendering
`messages` with the template reproduces the decoded token ids (tests/integration/test_rollout_episodes.py).

Episodes with several user turns (the eval harness's whole episodes) list the later user messages in
`EpisodeTask.follow_ups`: when a user turn ends (a text reply, a parse error, or `max_steps_per_turn`
call steps), the next one is appended; the episode ends after the last one.

`transport="chat"` plays the same loop with chat prompts instead of token ids, for engines that
only take conversations (OpenAI-compatible servers rendering their own template, test oracles):
the model's calls then go back into the history as structured `tool_calls` for the server to
render, and no token ids, mask or logprobs are kept. The eval harness plays its episodes this way
(rlkit.eval.episodes), so training and eval share one multi-turn loop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Sequence

from rlkit.chat import ToolStyle, render_prompt
from rlkit.model import end_of_turn_id
from rlkit.rollout.base import ChatPrompt, Completion, RolloutEngine, SamplingParams
from rlkit.toolcall import ToolCall, parse_tool_calls

Stop = Literal["answer", "parse_error", "max_steps", "max_turns", "token_budget", "length", "env_done"]
Transport = Literal["tokens", "chat"]


class StepEnv(Protocol):
    """What the runner needs of an env (rlkit.envs' `Env.step`)."""

    def step(self, tool_calls: list[ToolCall]) -> tuple[list[str], bool, dict]:
        """Run the calls; one response string per call, whether the dialogue ended, info."""
        ...


@dataclass
class EpisodeTask:
    """One episode to play: the prompt conversation, its tool schemas, a live env, later user turns."""

    messages: list[dict[str, Any]]
    tools: str | list[dict[str, Any]] | None
    env: StepEnv
    follow_ups: list[str] = field(default_factory=list)


@dataclass
class UserTurn:
    """What the model did in one user turn: the calls it made, its reply text, a parse error."""

    calls: list[ToolCall] = field(default_factory=list)
    steps: int = 0  # model generations in this turn
    reply: str = ""  # the closing text when the turn ended with an answer
    error: str | None = None  # the parse error that ended the turn
    last: Completion | None = None  # the turn's last completion


@dataclass
class EpisodeRollout:
    """One played episode as training data (token ids, mask, logprobs) and as a conversation."""

    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    completion_mask: list[int] = field(default_factory=list)  # 1: sampled by the model; 0: template/tool tokens
    logprobs: list[float] | None = field(default_factory=list)  # sampling logprobs; 0.0 on mask-0 tokens
    messages: list[dict[str, Any]] = field(default_factory=list)  # rendered by the template = the decoded ids
    calls: list[ToolCall] = field(default_factory=list)
    turns: list[UserTurn] = field(default_factory=list)
    generations: int = 0
    stop: Stop | None = None  # why the episode ended
    unsent: list[dict[str, Any]] = field(default_factory=list)  # tool responses after the last generation

    @property
    def model_token_ids(self) -> list[int]:
        """The model's own tokens only (mask 1), in order."""
        return [t for t, m in zip(self.completion_ids, self.completion_mask) if m]

    @property
    def model_text(self) -> str:
        """The assistant turns' texts joined by newlines (what text rewards should read)."""
        return "\n".join(m["content"] for m in self.messages if m["role"] == "assistant")


@dataclass
class EpisodeLimits:
    """When an episode stops even though the model keeps calling tools."""

    max_turns: int = 8  # model generations per episode
    max_steps_per_turn: int = 0  # generations per user turn (0 = up to max_turns)
    max_completion_tokens: int = 0  # model + tool tokens after the prompt (0 = no budget)
    stop_on_length: bool = True  # a generation cut by max_tokens ends the episode (False: parse it as written)
    stop_on_env_done: bool = True  # the env reporting the dialogue over ends the episode


def continuation_text(tokenizer: Any, assistant_text: str, new_messages: list[dict[str, Any]],
                      tool_style: ToolStyle = "compact") -> str:
    """What the chat template writes after an assistant turn's end-of-turn token, up to the next assistant header.

    Rendered as the difference of two renderings of a short conversation ending with that assistant
    turn, with and without `new_messages` (tool responses, a user message). Raises when the longer
    rendering does not extend the shorter one: such a template rewrites history, so appended tokens
    could not match what it renders.
    """
    eot = tokenizer.decode([end_of_turn_id(tokenizer)], skip_special_tokens=False)
    base = [{"role": "user", "content": "."}, {"role": "assistant", "content": assistant_text}]
    before = render_prompt(tokenizer, base, None, tool_style, add_generation_prompt=False)
    after = render_prompt(tokenizer, base + list(new_messages), None, tool_style, add_generation_prompt=True)
    cut = before.rfind(eot)
    if cut < 0:
        raise ValueError(f"the chat template does not end an assistant turn with {eot!r}; cannot append tool turns")
    cut += len(eot)
    if not after.startswith(before[:cut]):
        raise ValueError("the chat template renders earlier turns differently once tool/user messages follow; "
                         "token-in/token-out episodes need a template that only appends")
    return after[cut:]


class _Playing:
    """An episode in progress (the runner's private state)."""

    def __init__(self, task: EpisodeTask, prompt_ids: list[int]):
        if not task.messages:
            raise ValueError("an episode task needs at least one prompt message")
        self.task = task
        self.out = EpisodeRollout(prompt_ids=prompt_ids, messages=[dict(m) for m in task.messages])
        self.turn = UserTurn()
        self.follow_ups = list(task.follow_ups)


def run_episodes(
    engine: RolloutEngine,
    tokenizer: Any,
    tasks: Sequence[EpisodeTask],
    params: SamplingParams,
    limits: EpisodeLimits = EpisodeLimits(),
    tool_style: ToolStyle = "compact",
    transport: Transport = "tokens",
) -> list[EpisodeRollout]:
    """Play every task to its end (see the module docstring); one `EpisodeRollout` per task, in order.

    `params.max_tokens` caps each generation; `params.n` is ignored (one sample per episode: repeat a
    task for a group). Seeded params give every episode of a call the same seed on engines that seed
    per request (vLLM), so leave `seed` unset for groups of identical prompts. `tokenizer` may be
    None with `transport="chat"`.
    """
    if limits.max_turns < 1:
        raise ValueError(f"max_turns must be >= 1, got {limits.max_turns}")
    if transport not in ("tokens", "chat"):
        raise ValueError(f"transport must be 'tokens' or 'chat', got {transport!r}")
    playing = []
    for task in tasks:
        ids = []
        if transport == "tokens":
            ids = tokenizer(render_prompt(tokenizer, task.messages, task.tools, tool_style), add_special_tokens=False).input_ids
        playing.append(_Playing(task, ids))
    params = dataclasses.replace(params, n=1)
    runner = _Runner(tokenizer, limits, tool_style, transport)
    while active := [p for p in playing if p.out.stop is None]:
        if transport == "tokens":
            prompts: list[Any] = [p.out.prompt_ids + p.out.completion_ids for p in active]
        else:
            prompts = [ChatPrompt(list(p.out.messages), p.task.tools) for p in active]  # a snapshot: the history grows
        outputs = engine.generate(prompts, params)
        for state, group in zip(active, outputs, strict=True):
            runner.advance(state, group[0])
    return [p.out for p in playing]


class _Runner:
    """The per-episode step logic, with the few settings it needs."""

    def __init__(self, tokenizer: Any, limits: EpisodeLimits, tool_style: ToolStyle, transport: Transport):
        self.tokenizer = tokenizer
        self.limits = limits
        self.tool_style = tool_style
        self.tokens = transport == "tokens"
        self.stop_id = end_of_turn_id(tokenizer) if self.tokens else None

    def advance(self, state: _Playing, completion: Completion) -> None:
        """Append one generation, then run its calls, end its user turn, or end the episode."""
        out, limits = state.out, self.limits
        cut_by_budget = False
        if self.tokens:
            completion, cut_by_budget = self._fit_budget(out, completion)
            self._append(out, completion.token_ids, 1, completion.logprobs)
        parsed = parse_tool_calls(completion.text)
        out.messages.append(self._assistant_message(completion, parsed))
        out.generations += 1
        state.turn.steps += 1
        state.turn.last = completion
        if completion.finish_reason == "length" and (limits.stop_on_length or cut_by_budget):
            self._end_turn(state, [], "token_budget" if cut_by_budget else "length", force=True)
            return
        if parsed.error:
            state.turn.error = parsed.error
            self._end_turn(state, [], "parse_error")
            return
        if not parsed.calls:
            state.turn.reply = parsed.text
            self._end_turn(state, [], "answer")
            return
        responses, done, _ = state.task.env.step(parsed.calls)
        state.turn.calls.extend(parsed.calls)
        out.calls.extend(parsed.calls)
        tool_messages = [{"role": "tool", "content": response} for response in responses]
        if done and limits.stop_on_env_done:
            self._end_turn(state, tool_messages, "env_done", force=True)
        elif limits.max_steps_per_turn and state.turn.steps >= limits.max_steps_per_turn:
            self._end_turn(state, tool_messages, "max_steps")
        else:
            self._continue(state, tool_messages, "max_turns")

    def _assistant_message(self, completion: Completion, parsed: Any) -> dict[str, Any]:
        """The model's turn in the history: its text verbatim (tokens), or calls as structured `tool_calls` (chat)."""
        if self.tokens or parsed.error:
            return {"role": "assistant", "content": completion.text}
        if parsed.calls:
            return {"role": "assistant", "content": parsed.text, "tool_calls": [c.to_openai() for c in parsed.calls]}
        return {"role": "assistant", "content": parsed.text}

    def _fit_budget(self, out: EpisodeRollout, completion: Completion) -> tuple[Completion, bool]:
        """The completion cut to the episode's remaining token budget (a cut one finished by length)."""
        budget = self.limits.max_completion_tokens
        room = budget - len(out.completion_ids) if budget else len(completion.token_ids)
        if len(completion.token_ids) <= room:
            return completion, False
        ids = completion.token_ids[:room]
        # Sampling is left to right, so the first `room` tokens are what a smaller max_tokens would give.
        return Completion(
            text=self.tokenizer.decode(ids, skip_special_tokens=False),
            token_ids=ids,
            finish_reason="length",
            logprobs=completion.logprobs[:room] if completion.logprobs is not None else None,
        ), True

    def _end_turn(self, state: _Playing, pending: list[dict[str, Any]], reason: Stop, force: bool = False) -> None:
        """Close the user turn; start the next one (after `pending` tool messages) or end the episode."""
        state.out.turns.append(state.turn)
        state.turn = UserTurn()
        if force or not state.follow_ups:
            state.out.stop = reason
            state.out.unsent = pending
            return
        user = {"role": "user", "content": state.follow_ups.pop(0)}
        self._continue(state, pending + [user], "max_turns")

    def _continue(self, state: _Playing, new_messages: list[dict[str, Any]], limit_reason: Stop) -> None:
        """Append the template's tokens for `new_messages` and the next assistant header, within the limits."""
        out = state.out
        if out.generations >= self.limits.max_turns:
            out.stop, out.unsent = limit_reason, new_messages
            if state.turn.steps:
                out.turns.append(state.turn)
            return
        if not self.tokens:
            out.messages.extend(new_messages)
            return
        text = continuation_text(self.tokenizer, out.messages[-1]["content"], new_messages, self.tool_style)
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        if out.completion_ids[-1] != self.stop_id:  # a turn cut by max_tokens: the template closes it
            ids = [self.stop_id] + ids
        budget = self.limits.max_completion_tokens
        if budget and len(out.completion_ids) + len(ids) >= budget:  # no room left for the model to write
            out.stop, out.unsent = "token_budget", new_messages
            if state.turn.steps:
                out.turns.append(state.turn)
            return
        self._append(out, ids, 0, None)
        out.messages.extend(new_messages)

    def _append(self, out: EpisodeRollout, ids: list[int], mask: int, logprobs: list[float] | None) -> None:
        out.completion_ids.extend(ids)
        out.completion_mask.extend([mask] * len(ids))
        if out.logprobs is not None:
            if mask and logprobs is None:
                out.logprobs = None  # the engine gave none for this turn: none for the episode
            else:
                out.logprobs.extend(logprobs if mask else [0.0] * len(ids))
