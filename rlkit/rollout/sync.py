"""Weight-sync verification: the rollout engine must score tokens exactly as the trainer does.

A sync that silently skips some weights (LFM2's short-conv kernels were skipped elsewhere) or
leaves a stale copy (a tied LM head packed before the update) still generates fluent text, so
only a numeric check catches it: score fixed token sequences with both models and compare the
per-token logprobs. Engines that can be checked expose `score(sequences) -> list[list[float]]`.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, Sequence

import torch

log = logging.getLogger(__name__)


class SyncError(RuntimeError):
    """The rollout engine's logprobs disagree with the trainer's beyond the tolerance."""


class LogprobScorer(Protocol):
    """An engine that can score fixed token sequences (every backend with in-process weights)."""

    def score(self, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
        """For each sequence, logprob of tokens 1..L-1 given their prefix (L-1 values)."""
        ...


@torch.no_grad()
def score_with_model(model: Any, sequences: Sequence[Sequence[int]]) -> list[list[float]]:
    """Per-token logprobs (tokens 1..L-1 given their prefix) from a transformers causal LM, in fp32.

    Under mixed precision, accelerate's `prepare` replaces `model.forward` with one that enters
    bf16 autocast itself, so a disabled autocast around the call changes nothing; the forward it
    replaced (kept as `_original_forward`) computes in the weights' own dtype, as the engine does.
    """
    forward = model.__dict__.get("_original_forward", model.forward)
    scores = []
    for ids in sequences:
        if len(ids) < 2:
            raise ValueError(f"a sequence to score needs at least 2 tokens, got {len(ids)}")
        input_ids = torch.tensor([list(ids)], dtype=torch.long, device=model.device)
        with torch.autocast(device_type=model.device.type, enabled=False):
            logits = forward(input_ids=input_ids).logits[0, :-1].float()
        logprobs = logits.log_softmax(-1).gather(-1, input_ids[0, 1:].unsqueeze(-1)).squeeze(-1)
        scores.append(logprobs.cpu().tolist())
    return scores


def max_logprob_gap(expected: list[list[float]], actual: list[list[float]]) -> tuple[float, int, int]:
    """(max |Δlogprob|, sequence index, token position) between two score lists of equal shapes."""
    worst = (0.0, -1, -1)
    if len(expected) != len(actual):
        raise SyncError(f"scored {len(actual)} sequences, expected {len(expected)}")
    for i, (a, b) in enumerate(zip(expected, actual)):
        if len(a) != len(b):
            raise SyncError(f"sequence {i}: engine returned {len(b)} logprobs, trainer {len(a)}")
        for j, (x, y) in enumerate(zip(a, b)):
            gap = abs(x - y)
            if gap > worst[0] or gap != gap:  # NaN counts as the worst possible gap
                worst = (float("inf") if gap != gap else gap, i, j)
    return worst


def verify_sync(
    trainer_model: Any, engine: LogprobScorer, sequences: Sequence[Sequence[int]], tol: float = 1e-4
) -> float:
    """Raise `SyncError` when engine and trainer logprobs on `sequences` differ by more than `tol`.

    Returns the max absolute gap. Use fp32 on both sides for tight tolerances (~1e-5 is typical;
    bf16 engines need ~0.1).
    """
    was_training = trainer_model.training
    trainer_model.eval()  # dropout would make the trainer's own scores random
    try:
        expected = score_with_model(trainer_model, sequences)
    finally:
        trainer_model.train(was_training)
    actual = engine.score(sequences)
    gap, seq, pos = max_logprob_gap(expected, actual)
    if gap > tol:
        raise SyncError(
            f"weight sync check failed: max |logprob(engine) - logprob(trainer)| = {gap:.3g} > tol {tol:g} "
            f"(sequence {seq}, token {pos + 1}: trainer {expected[seq][pos]:.5f}, engine {actual[seq][pos]:.5f}). "
            "Some weights did not reach the rollout engine (skipped modules, a stale tied LM head, "
            "or a dtype mismatch)."
        )
    log.info("weight sync verified: max |Δlogprob| = %.2g over %d sequences", gap, len(sequences))
    return gap
