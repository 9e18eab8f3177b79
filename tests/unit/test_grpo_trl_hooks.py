"""ToolCallGRPOTrainer overrides three private GRPOTrainer hooks; these tests fail loudly when a TRL
release renames them, changes their arguments, or stops producing what the overrides read."""

from __future__ import annotations

import inspect

import pytest
from trl import GRPOTrainer

from rlkit.grpo.trainer import ToolCallGRPOTrainer

HOOKS = {
    "_tokenize_prompts": ["self", "prompts"],
    "_calculate_rewards": ["self", "inputs", "prompts", "completions", "completion_ids_list"],
    "_generate_and_score_completions": ["self", "inputs"],
}


@pytest.mark.parametrize("hook", sorted(HOOKS))
def test_trl_still_has_the_hook_with_the_same_arguments(hook):
    assert hasattr(GRPOTrainer, hook), f"TRL's GRPOTrainer has no {hook} any more: review rlkit/grpo/trainer.py"
    assert list(inspect.signature(getattr(GRPOTrainer, hook)).parameters) == HOOKS[hook]
    # ...and the override is really the one TRL calls (same name, same arguments).
    assert list(inspect.signature(getattr(ToolCallGRPOTrainer, hook)).parameters)[: len(HOOKS[hook])] == HOOKS[hook]


def test_the_batch_still_carries_what_dynamic_sampling_and_metrics_read():
    source = inspect.getsource(GRPOTrainer._generate_and_score_completions)
    for key in ("advantages", "completion_ids", "completion_mask", "num_items_in_batch"):
        assert f'"{key}"' in source, f"TRL's scored batch has no {key!r}: review rlkit/grpo/trainer.py"


def test_trl_still_calls_the_hooks_and_keeps_the_attributes_the_overrides_use():
    source = inspect.getsource(GRPOTrainer)
    assert "self._tokenize_prompts(" in source and "self._calculate_rewards(" in source
    for attribute in ("self.environment_factories", "self._tokenizer", "self._metrics", "self.num_generations"):
        assert attribute in source, f"TRL's GRPOTrainer no longer sets {attribute}"
