"""python tests/integration/launch_toy_recipe.py [key=value ...]

A recipe-shaped script small enough for launcher tests: gradient descent on f(w) = (w - target)^2
from w = 0. After `steps` steps w = target * (1 - (1 - 2 lr)^steps), so the final loss is
target^2 * (1 - 2 lr)^(2 steps), which tests compute by hand. Like the real recipes it parses
rlkit's CLI, saves the resolved config and writes metrics.json into output_dir; `fail=true` exits 3.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rlkit.config import parse_cli, save_config


@dataclass
class ToyTrain:
    """The `train:` section."""

    learning_rate: float = 0.1
    steps: int = 3


@dataclass
class ToyConfig:
    """Everything the toy recipe reads."""

    output_dir: str = "runs/toy"
    target: float = 3.0
    fail: bool = False
    train: ToyTrain = field(default_factory=ToyTrain)


def main(config: ToyConfig) -> float:
    """Run the descent; return the final loss."""
    out = Path(config.output_dir)
    save_config(config, out / "config.yaml")
    if config.fail:
        sys.exit(3)
    w = 0.0
    for _ in range(config.train.steps):
        w -= config.train.learning_rate * 2 * (w - config.target)
    loss = (w - config.target) ** 2
    (out / "metrics.json").write_text(json.dumps({"train": {"loss": loss}, "w": w}))
    return loss


if __name__ == "__main__":
    main(parse_cli(ToyConfig, sys.argv[1:]))
