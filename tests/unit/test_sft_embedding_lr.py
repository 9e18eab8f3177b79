"""Full-weight SFT's optimizer: the (tied) embedding matrix at its own learning rate, everything else at the base rate."""

from __future__ import annotations

import torch

from rlkit.sft.trainer import embedding_lr_optimizer


class TiedLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.body = torch.nn.Linear(4, 4)
        self.head = torch.nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight  # tied, as SmolLM2's

    def get_input_embeddings(self):
        return self.embed


def test_the_embeddings_get_their_own_rate_once():
    model = TiedLM()
    optimizer = embedding_lr_optimizer(model, learning_rate=1e-4, embedding_learning_rate=1e-3)
    rest, embeddings = optimizer.param_groups
    assert (rest["lr"], embeddings["lr"]) == (1e-4, 1e-3)
    assert len(embeddings["params"]) == 1 and embeddings["params"][0] is model.embed.weight
    assert {id(p) for p in rest["params"]} == {id(model.body.weight), id(model.body.bias)}  # the tied head is not counted twice


def test_one_step_moves_embedding_rows_ten_times_further():
    # Adam's first step moves each weight by lr (sign of its gradient): 1e-3 for embeddings, 1e-4 for the body.
    model = TiedLM()
    before = model.embed.weight.detach().clone(), model.body.weight.detach().clone()
    optimizer = embedding_lr_optimizer(model, 1e-4, 1e-3)
    model.head(model.body(model.embed(torch.tensor([1, 2])))).sum().backward()
    optimizer.step()
    moved_embed = (model.embed.weight - before[0]).abs().max().item()
    moved_body = (model.body.weight - before[1]).abs().max().item()
    assert abs(moved_embed - 1e-3) < 1e-6 and abs(moved_body - 1e-4) < 1e-7
