"""The multi-turn episode runner through HF generate and the vLLM CPU engine: token-in/token-out.

The model is the tiny LFM2 overfit on a few chats (tests/integration/servers.py); asked "lights off
in the bedroom" it writes a tool call, so its episode goes model -> env -> model. For every episode:
the token ids decode to exactly the conversation the chat template renders from `messages` (the
model's turns verbatim), the mask is 1 on exactly the model's own tokens, the logprobs are the
trainer's for those tokens, and all live episodes advance in one `generate` call per turn.
"""

from __future__ import annotations

import os

import pytest

from rlkit.chat import render_prompt
from rlkit.envs.registry import make_env
from rlkit.model import cache_root
from rlkit.rollout import SamplingParams
from rlkit.rollout.episodes import EpisodeLimits, EpisodeTask, continuation_text, run_episodes
from rlkit.rollout.sync import score_with_model
from rlkit.rollout.vllm_engine import vllm_available
from tests.integration.servers import SKIP_NO_VLLM, TRAINING_CHATS

pytestmark = pytest.mark.integration

CALLING = TRAINING_CHATS[4][0]  # "lights off in the bedroom": the model answers with a call


class CountingEngine:
    """A real engine, with its `generate` calls counted (to check one call per turn)."""

    def __init__(self, engine):
        self.engine, self.calls, self.stats = engine, 0, engine.stats

    def generate(self, prompts, params):
        self.calls += 1
        return self.engine.generate(prompts, params)


def _tasks():
    return [
        EpisodeTask(list(CALLING), None, make_env("smart_home", 1)),
        EpisodeTask(list(TRAINING_CHATS[0][0]), None, make_env("smart_home", 2)),
        # Two user turns: a call turn, then another request after the model's reply.
        EpisodeTask(list(CALLING), None, make_env("smart_home", 3), follow_ups=["lights off in the bedroom"]),
        EpisodeTask([{"role": "system", "content": "You control a smart home."}, *CALLING],
                    make_env("smart_home").tools, make_env("smart_home", 4)),
    ]


def _runs(tokenizer, ids, mask):
    """Consecutive (mask value, token ids) runs."""
    runs = []
    for token, m in zip(ids, mask):
        if runs and runs[-1][0] == m:
            runs[-1][1].append(token)
        else:
            runs.append((m, [token]))
    return runs


def check_episode(tokenizer, task, episode):
    """No drift, and the mask covers exactly the model's tokens (see module docstring)."""
    eot = tokenizer.decode([tokenizer.convert_tokens_to_ids("<|im_end|>")])
    decoded = tokenizer.decode(episode.prompt_ids + episode.completion_ids, skip_special_tokens=False)
    rendered = render_prompt(tokenizer, episode.messages, task.tools, add_generation_prompt=False)
    # The template closes every assistant turn; a turn cut by its token limit has no end token yet.
    finished = episode.stop not in ("length", "token_budget")
    expected = rendered[: rendered.rfind(eot) + (len(eot) if finished else 0)]
    assert decoded == expected
    assert len(episode.completion_ids) == len(episode.completion_mask) == len(episode.logprobs)

    assistant = [m["content"] for m in episode.messages[len(task.messages):] if m["role"] == "assistant"]
    runs = _runs(tokenizer, episode.completion_ids, episode.completion_mask)
    model_runs = [ids for m, ids in runs if m == 1]
    assert len(model_runs) == episode.generations == len(assistant)
    for k, ids in enumerate(model_runs):  # each model run is one assistant turn, its end token included
        closed = finished or k < len(model_runs) - 1
        assert tokenizer.decode(ids, skip_special_tokens=False) == assistant[k] + (eot if closed else "")
    # Each template run is the rendering of the messages between two assistant turns.
    later = episode.messages[len(task.messages):]
    starts = [i for i, m in enumerate(later) if m["role"] == "assistant"]
    for k, (m, ids) in enumerate(r for r in runs if r[0] == 0):
        between = later[starts[k] + 1: starts[k + 1]]
        assert between and all(x["role"] in ("tool", "user") for x in between)
        assert tokenizer.decode(ids, skip_special_tokens=False) == continuation_text(tokenizer, assistant[k], between)
    assert all(lp == 0.0 for lp, m in zip(episode.logprobs, episode.completion_mask) if not m)


def _play(engine, tokenizer, trained_model):
    counting = CountingEngine(engine)
    tasks = _tasks()
    params = SamplingParams.greedy(max_tokens=40, logprobs=True)
    episodes = run_episodes(counting, tokenizer, tasks, params, EpisodeLimits(max_turns=4, max_completion_tokens=200))
    for task, episode in zip(tasks, episodes):
        check_episode(tokenizer, task, episode)
        # The sampling logprobs are the trainer's logprobs of the model's tokens.
        full = episode.prompt_ids + episode.completion_ids
        trainer = score_with_model(trained_model, [full])[0][len(episode.prompt_ids) - 1:]
        gaps = [abs(a - b) for a, b, m in zip(episode.logprobs, trainer, episode.completion_mask) if m]
        assert max(gaps) < 1e-3
    assert counting.calls == max(e.generations for e in episodes)  # one generate call per turn
    assert episodes[0].calls and episodes[0].generations >= 2  # model -> env -> model
    assert 0 in episodes[0].completion_mask
    assert len(episodes[2].turns) == 2 or episodes[2].stop in ("max_turns", "token_budget", "length")
    return episodes


def test_hf_episodes_have_no_tokenization_drift(reference):
    episodes = _play(reference, reference.tokenizer, reference.model)
    assert {e.stop for e in episodes} <= {"answer", "max_turns", "token_budget", "length", "parse_error", "max_steps"}


@pytest.mark.skipif(not vllm_available(), reason=SKIP_NO_VLLM)
def test_vllm_episodes_have_no_tokenization_drift_and_match_hf(trained_dir, reference):
    from rlkit.rollout.vllm_engine import VLLMRollout

    os.environ.setdefault("VLLM_CACHE_ROOT", str(cache_root() / "vllm"))
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_root() / "inductor"))
    engine = VLLMRollout(trained_dir, reference.tokenizer, enforce_eager=True, max_model_len=512)
    ours = _play(engine, reference.tokenizer, reference.model)
    theirs = run_episodes(reference, reference.tokenizer, _tasks(), SamplingParams.greedy(max_tokens=40),
                          EpisodeLimits(max_turns=4, max_completion_tokens=200))
    # Greedy on the same weights: the same episodes token for token.
    assert [e.completion_ids for e in ours] == [e.completion_ids for e in theirs]
    assert [e.completion_mask for e in ours] == [e.completion_mask for e in theirs]
