"""TRL's length-normalized DPO loss (`sigmoid_norm`) on a hand-built batch equals the formula.

loss = mean over pairs of -log σ(β·[(1/|y_w|)·Σ log πθ/πref(y_w) − (1/|y_l|)·Σ log πθ/πref(y_l)])
computed here from the models' raw logits, independently of TRL.
"""

from __future__ import annotations

import math

import pytest
import torch
from datasets import Dataset

from rlkit.dpo.trainer import DPOSettings, dpo_config, make_dpo_trainer

# (prompt ids, chosen ids, rejected ids) with different completion lengths, so normalization matters.
EXAMPLES = [([1, 6, 40, 41, 42], [50, 51, 7], [60, 61, 62, 63, 64, 7]), ([1, 6, 43, 44], [52, 7], [65, 66, 67])]
BETA = 2.0


def _batch(pad_id: int) -> dict[str, torch.Tensor]:
    """TRL's batch layout: rows [chosen_1, chosen_2, rejected_1, rejected_2], right-padded."""
    rows = [(p, c) for p, c, _ in EXAMPLES] + [(p, r) for p, _, r in EXAMPLES]
    width = max(len(p) + len(c) for p, c in rows)
    input_ids = torch.full((len(rows), width), pad_id)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    completion = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (p, c) in enumerate(rows):
        input_ids[i, : len(p) + len(c)] = torch.tensor(p + c)
        attention[i, : len(p) + len(c)] = 1
        completion[i, len(p) : len(p) + len(c)] = 1
    return {"input_ids": input_ids, "attention_mask": attention, "completion_mask": completion}


def _completion_logp(model, prompt: list[int], completion: list[int]) -> float:
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logps = model(input_ids=ids).logits[0].double().log_softmax(-1)
    # token at position t is predicted by the logits at position t-1
    return sum(logps[len(prompt) + k - 1, tok].item() for k, tok in enumerate(completion))


@pytest.fixture
def models(tiny_model_dir):
    from rlkit.model import load_model_and_tokenizer

    policy, tokenizer = load_model_and_tokenizer(str(tiny_model_dir))
    ref, _ = load_model_and_tokenizer(str(tiny_model_dir))
    torch.manual_seed(0)
    with torch.no_grad():  # make the policy differ from the reference
        for p in policy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return policy.eval(), ref.eval(), tokenizer


def test_dpo_config_uses_length_normalized_sigmoid(tmp_path):
    args = dpo_config(DPOSettings(beta=3.0, steps_per_round=7, sft_weight=0.0), str(tmp_path))
    assert args.loss_type == ["sigmoid_norm"] and args.beta == 3.0 and args.max_steps == 7


def _hand_loss(policy, ref, normalized: bool = True) -> float:
    """Mean over EXAMPLES of -log σ(β·Δ), Δ = chosen minus rejected log-ratio (per token if normalized)."""
    losses = []
    for prompt, chosen, rejected in EXAMPLES:
        chosen_ratio = _completion_logp(policy, prompt, chosen) - _completion_logp(ref, prompt, chosen)
        rejected_ratio = _completion_logp(policy, prompt, rejected) - _completion_logp(ref, prompt, rejected)
        if normalized:
            chosen_ratio, rejected_ratio = chosen_ratio / len(chosen), rejected_ratio / len(rejected)
        losses.append(-math.log(1.0 / (1.0 + math.exp(-BETA * (chosen_ratio - rejected_ratio)))))
    return sum(losses) / len(losses)


def _trainer_loss(trainer, tokenizer) -> float:
    """TRL's loss on the hand-built batch, in eval mode."""
    trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, _batch(tokenizer.pad_token_id))
    return (loss[0] if isinstance(loss, tuple) else loss).item()


def test_sigmoid_norm_loss_matches_hand_computation(models, tmp_path):
    policy, ref, tokenizer = models
    pairs = Dataset.from_dict({"prompt": ["<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"],
                               "chosen": ["ok<|im_end|>"], "rejected": ["no no no<|im_end|>"], "task_id": ["t"]})
    trainer = make_dpo_trainer(policy, tokenizer, pairs, DPOSettings(beta=BETA, report_to="none", sft_weight=0.0), str(tmp_path), ref_model=ref)
    assert "task_id" not in trainer.train_dataset.column_names  # audit columns never reach TRL
    loss = _trainer_loss(trainer, tokenizer)
    hand = _hand_loss(policy, ref)
    assert abs(hand - math.log(2)) > 1e-4  # the policy really differs from the reference
    assert loss == pytest.approx(hand, abs=1e-5)
    # Plain (unnormalized) DPO would give a different value: the normalization is really applied.
    assert abs(_hand_loss(policy, ref, normalized=False) - loss) > 1e-3


def test_sft_weight_adds_the_chosen_token_mean_nll(models, tmp_path):
    policy, ref, tokenizer = models
    pairs = Dataset.from_dict({"prompt": ["p"], "chosen": ["c"], "rejected": ["r"]})
    settings = DPOSettings(beta=BETA, report_to="none", sft_weight=0.5)
    assert dpo_config(settings, str(tmp_path)).loss_type == ["sigmoid_norm", "sft"]
    trainer = make_dpo_trainer(policy, tokenizer, pairs, settings, str(tmp_path), ref_model=ref)
    chosen_nll = -sum(_completion_logp(policy, p, c) for p, c, _ in EXAMPLES) / sum(len(c) for _, c, _ in EXAMPLES)
    assert _trainer_loss(trainer, tokenizer) == pytest.approx(_hand_loss(policy, ref) + 0.5 * chosen_nll, abs=1e-5)
