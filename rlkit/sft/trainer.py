"""SFTTrainer whose loss skips TRL's fused LM head where that head is slow (CPU).

TRL 1.16 patches the model with a tiled "fused LM head" that computes log-probabilities, entropy
and top-1 flags without materializing the logits. On a GPU that saves memory through a Triton
kernel; on CPU it runs as a Python loop of torch tiles, and on the tiny LFM2 it took half of every
SFT step (profiled: 0.98 s vs 0.56 s per step for the same batch, same losses to 4 digits).

`DirectLossSFTTrainer` computes the same token-mean negative log-likelihood from the ordinary
logits, restricted to the positions TRL trains on (labels != -100), and logs the same
`mean_token_accuracy`. It goes through `model(...)` so DDP/PEFT wrappers stay in charge of the
forward (gradient sync and adapters work as usual).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from trl import SFTTrainer


def use_direct_loss(setting: bool | None) -> bool:
    """`train.fused_lm_head`: None = TRL's fused head only where it is fast (CUDA)."""
    return not setting if setting is not None else not torch.cuda.is_available()


class DirectLossSFTTrainer(SFTTrainer):
    """SFTTrainer with TRL's loss computed from plain logits (no entropy metric)."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs["labels"]
        logits = model(**{k: v for k, v in inputs.items() if k != "labels"}, use_cache=False).logits
        targets = labels[:, 1:]
        trained = targets != -100
        picked_logits = logits[:, :-1][trained].float()
        picked_targets = targets[trained]
        count = num_items_in_batch if num_items_in_batch is not None else trained.sum()
        loss = F.cross_entropy(picked_logits, picked_targets, reduction="sum") / torch.as_tensor(count).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes  # as TRL does: DDP averages gradients across ranks

        mode = "train" if model.training else "eval"
        with torch.no_grad():
            correct = self.accelerator.gather_for_metrics((picked_logits.argmax(-1) == picked_targets).sum()).sum()
            valid = self.accelerator.gather_for_metrics(trained.sum()).sum()
            self._metrics[mode]["mean_token_accuracy"].append((correct / valid).item() if valid > 0 else 0.0)
        if return_outputs:
            return loss, {"logits": logits}
        return loss
