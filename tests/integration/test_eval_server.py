"""End to end: the tiny model on a smart-home test split, evaluated through HF generate and through a
real OpenAI-compatible server (`transformers serve` on 127.0.0.1, same checkpoint), gives the same
greedy outputs and the same verdicts, in the correct-history examples and in own-history episodes.
"""

from __future__ import annotations

import pytest

from rlkit.eval import GREEDY, evaluate
from rlkit.eval.backends import engine_for_model
from rlkit.eval.sources import load_env_split
from rlkit.rollout.hf import HFRollout
from tests.integration.servers import server_fixture

pytestmark = pytest.mark.integration

transformers_server = server_fixture("transformers")
MAX_TOKENS = 24


@pytest.fixture
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def verdicts(result):
    return [(r.example_id, r.kind, r.ok, r.reason, tuple(r.facts_mentioned), r.looped) for r in result.records]


def test_hf_and_server_give_the_same_verdicts(tiny_model, tiny_model_dir, transformers_server, one_thread):
    model, tokenizer = tiny_model
    data = load_env_split("smart_home", split="test", n_episodes=3, seed=0)
    args = dict(max_tokens=MAX_TOKENS, episodes=data.episodes, env_factory=data.env_factory, max_steps_per_turn=2)
    local = evaluate(HFRollout(model, tokenizer), data.examples, [GREEDY], **args)
    engine = engine_for_model(transformers_server.base_url, endpoint_model=transformers_server.model,
                              tokenizer=str(tiny_model_dir), max_concurrency=2)
    served = evaluate(engine, data.examples, [GREEDY], **args)

    assert len(local.records) == len(served.records) == len(data.examples) > 0
    # Same greedy outputs (the server's text has no special tokens; the tiny model's outputs here have none).
    assert [r.completion for r in served.records] == [r.completion for r in local.records]
    assert [r.finish_reason for r in served.records] == [r.finish_reason for r in local.records]
    assert verdicts(served) == verdicts(local)
    assert served.metrics["greedy"]["calls"] == local.metrics["greedy"]["calls"]
    # Own-history episodes: the same turns, verdicts and final states through both paths.
    assert [[(t.ok, t.reason, t.steps) for t in e.turns] for e in served.episodes] == \
        [[(t.ok, t.reason, t.steps) for t in e.turns] for e in local.episodes]
    assert served.summary_line() == local.summary_line()
