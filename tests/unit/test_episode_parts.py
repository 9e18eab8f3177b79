"""The episode runner's pieces: the template continuation between turns, and the episode limits."""

from __future__ import annotations

import copy

import pytest

from rlkit.envs.registry import make_env
from rlkit.rollout import HFRollout, SamplingParams
from rlkit.rollout.episodes import EpisodeLimits, EpisodeTask, continuation_text, run_episodes

TOOL = {"role": "tool", "content": '{"ok": true}'}


def test_continuation_is_what_lfm2_writes_after_the_end_of_turn_token(tiny_model):
    _, tokenizer = tiny_model
    text = continuation_text(tokenizer, "<|tool_call_start|>[f(a=1)]<|tool_call_end|>", [TOOL])
    assert text == ("\n<|im_start|>tool\n<|tool_response_start|>{\"ok\": true}<|tool_response_end|><|im_end|>\n"
                    "<|im_start|>assistant\n")
    both = continuation_text(tokenizer, "x", [TOOL, {"role": "user", "content": "next"}])
    assert both.endswith("<|im_start|>user\nnext<|im_end|>\n<|im_start|>assistant\n")


def test_a_template_that_rewrites_earlier_turns_is_refused(tiny_model):
    _, tokenizer = tiny_model
    rewriting = copy.copy(tokenizer)
    # Shows the assistant's text only while it is the last message, as thinking-stripping templates do.
    rewriting.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n"
        "{% if m.role != 'assistant' or loop.last %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    with pytest.raises(ValueError, match="renders earlier turns differently"):
        continuation_text(rewriting, "hello", [TOOL])


def test_token_budget_and_turn_limit_end_episodes(tiny_model, one_thread):
    model, tokenizer = tiny_model
    engine = HFRollout(model, tokenizer)
    tasks = [EpisodeTask([{"role": "user", "content": "hello"}], None, make_env("smart_home")) for _ in range(2)]
    params = SamplingParams.greedy(max_tokens=16)
    cut = run_episodes(engine, tokenizer, tasks, params, EpisodeLimits(max_completion_tokens=5))
    for episode in cut:  # the random tiny model does not stop within 5 tokens
        assert episode.stop == "token_budget" and len(episode.completion_ids) == 5 == sum(episode.completion_mask)
        assert episode.generations == 1 and episode.turns[0].last.finish_reason == "length"
    free = run_episodes(engine, tokenizer, tasks, params, EpisodeLimits(max_completion_tokens=0))
    assert [e.stop for e in free] == ["length", "length"] and len(free[0].completion_ids) == 16
    assert free[0].completion_ids[:5] == cut[0].completion_ids  # the budget cuts, it does not resample
    with pytest.raises(ValueError, match="max_turns"):
        run_episodes(engine, tokenizer, tasks, params, EpisodeLimits(max_turns=0))


def test_grpo_episode_helpers_doctests():
    import doctest

    import rlkit.grpo.rollout

    result = doctest.testmod(rlkit.grpo.rollout)
    assert result.attempted >= 2 and result.failed == 0


def test_rows_with_a_repeated_prompt_are_dropped_and_counted():
    from datasets import Dataset

    from rlkit.grpo.rollout import reference_steps, unique_prompt_rows

    prompt = [{"role": "user", "content": "lights off"}]
    rows = Dataset.from_list([
        {"prompt": prompt, "env_seed": 1, "reference_steps": "", "answer": '[{"name": "f", "arguments": {"a": 1}}]'},
        {"prompt": prompt, "env_seed": 2, "reference_steps": "", "answer": "[]"},
        {"prompt": [{"role": "user", "content": "lights on"}], "env_seed": 3, "answer": "[]",
         "reference_steps": '[[{"name": "g", "arguments": {}}], [{"name": "h", "arguments": {"b": 2}}]]'},
    ])
    kept, dropped = unique_prompt_rows(rows)
    assert dropped == 1 and kept["env_seed"] == [1, 3]
    assert [[c.name for c in step] for step in reference_steps(kept[0])] == [["f"]]
    assert [[(c.name, c.arguments) for c in s] for s in reference_steps(kept[1])] == [[("g", {})], [("h", {"b": 2})]]


def test_turns_cut_by_max_tokens_can_continue_and_the_template_closes_them(tiny_model, one_thread):
    from rlkit.chat import render_prompt

    model, tokenizer = tiny_model
    eot = "<|im_end|>"
    task = EpisodeTask([{"role": "user", "content": "hello"}], None, make_env("smart_home"), follow_ups=["and now?"])
    limits = EpisodeLimits(stop_on_length=False)
    [episode] = run_episodes(HFRollout(model, tokenizer), tokenizer, [task], SamplingParams.greedy(max_tokens=4), limits)
    assert episode.generations == 2 and len(episode.turns) == 2 and episode.stop != "length"
    decoded = tokenizer.decode(episode.prompt_ids + episode.completion_ids, skip_special_tokens=False)
    rendered = render_prompt(tokenizer, episode.messages, None, add_generation_prompt=False)
    assert decoded == rendered[: rendered.rfind(eot)]  # the last turn is still open
    assert sum(episode.completion_mask) == 8  # 2 x 4 model tokens; the closing end token is the template's


def test_chat_transport_sends_conversations_with_structured_calls(tiny_model):
    model, tokenizer = tiny_model

    class Recorder:
        """HF generate on the tiny model, keeping the prompts it was given."""

        def __init__(self):
            self.engine, self.prompts = HFRollout(model, tokenizer), []
            self.stats = self.engine.stats

        def generate(self, prompts, params):
            self.prompts.append(prompts)
            return self.engine.generate(prompts, params)

    recorder = Recorder()
    task = EpisodeTask([{"role": "user", "content": "hi"}], None, make_env("smart_home"), follow_ups=["more"])
    [episode] = run_episodes(recorder, None, [task], SamplingParams.greedy(max_tokens=4),
                             EpisodeLimits(stop_on_length=False), transport="chat")
    assert episode.completion_ids == [] and episode.prompt_ids == []
    assert len(recorder.prompts) == 2 and recorder.prompts[1][0].messages[-1] == {"role": "user", "content": "more"}
    assert [m["role"] for m in episode.messages] == ["user", "assistant", "user", "assistant"]
