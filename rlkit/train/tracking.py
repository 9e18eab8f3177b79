"""Experiment tracking with wandb: offline unless a config says online, and never a secret logged.

`start_run` opens one wandb run per recipe run (named after its output folder unless told
otherwise) with the recipe's resolved config, after `redact_secrets` has replaced every value that
looks like a credential: values under secret-looking keys (`api_key`, `hf_token`, `password`, ...),
any string that contains the value of a secret-looking environment variable (`OPENAI_API_KEY`,
`WANDB_API_KEY`, `HF_TOKEN`, ...), strings shaped like well-known key formats, and passwords in
URLs. The command line wandb records is redacted the same way, and console capture is off by
default because anything a recipe prints would be uploaded verbatim.

A transformers/TRL Trainer started afterwards reuses the open run (its WandbCallback logs to
`wandb.run` when one exists), so trainer losses and rlkit's loop/tool/jury metrics share one run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

REDACTED = "***REDACTED***"
# Config keys whose values are credentials. Deliberately narrow: `max_tokens`, `pad_token` and
# `tokenizer` are not secrets, `hf_token` and `api_key` are.
_SECRET_KEY = re.compile(
    r"(^token$)|((^|[_.-])(api_?key|apikey|secret(_?key)?|password|passwd|credentials?|private_?key|"
    r"(access|auth|hf|hub|bearer|refresh|github|wandb|openai)_?token)$)",
    re.IGNORECASE,
)
# Environment variable names whose values are treated as secrets wherever they appear.
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_NOT_SECRET_ENV = re.compile(r"^(TOKENIZERS_PARALLELISM|.*_KEY_PATH|.*_KEYFILE)$", re.IGNORECASE)
_MIN_SECRET_LEN = 8  # shorter env values ("1", "false") would redact innocent text
# Well-known credential shapes: OpenAI/Anthropic-style sk-..., Hugging Face hf_..., GitHub, Slack, AWS.
_SECRET_SHAPES = re.compile(
    r"(sk-[A-Za-z0-9_\-]{16,}|hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|xox[abpr]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16})"
)
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]+):(?P<password>[^@/\s]+)@", re.IGNORECASE)


@dataclass
class TrackingSettings:
    """The `tracking:` section of a recipe config."""

    backend: Literal["wandb", "none"] = "wandb"
    mode: Literal["offline", "online", "disabled"] = "offline"  # offline needs no account or network
    project: str = "rlkit"
    entity: str = ""
    run_name: str = ""  # empty: the output folder's name
    group: str = ""  # e.g. a sweep's name
    tags: list[str] = field(default_factory=list)
    capture_console: bool = False  # console text is uploaded verbatim, so it is off unless asked for


def secret_env_values(environ: Mapping[str, str] | None = None) -> set[str]:
    """Values of environment variables whose names look like credentials."""
    environ = os.environ if environ is None else environ
    return {
        value
        for name, value in environ.items()
        if _SECRET_ENV.search(name) and not _NOT_SECRET_ENV.match(name) and len(value) >= _MIN_SECRET_LEN
    }


def redact_text(text: str, secrets: set[str]) -> str:
    """`text` with known secret values, key-shaped strings and URL passwords replaced."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _SECRET_SHAPES.sub(REDACTED, text)
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)


def redact_secrets(value: Any, secrets: set[str] | None = None) -> Any:
    """A copy of a nested config (dicts, lists, dataclasses, strings) with every credential replaced."""
    secrets = secret_env_values() if secrets is None else secrets
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if _SECRET_KEY.search(str(key)) and item not in (None, ""):
                out[key] = REDACTED
            else:
                out[key] = redact_secrets(item, secrets)
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(redact_secrets(item, secrets) for item in value)
    if isinstance(value, str):
        return redact_text(value, secrets)
    return value


def redact_argv(argv: list[str], secrets: set[str] | None = None) -> list[str]:
    """Command-line arguments with `key=secret` overrides and secret values redacted."""
    secrets = secret_env_values() if secrets is None else secrets
    out: list[str] = []
    for i, arg in enumerate(argv):
        key, sep, _ = arg.lstrip("-").partition("=")
        previous = argv[i - 1] if i else ""
        if sep and _SECRET_KEY.search(key):
            out.append(f"{arg.split('=', 1)[0]}={REDACTED}")
        elif previous.startswith("--") and "=" not in previous and _SECRET_KEY.search(previous.lstrip("-")):
            out.append(REDACTED)  # the value of `--api_key VALUE`
        else:
            out.append(redact_text(arg, secrets))
    return out


def start_run(settings: TrackingSettings, config: Any, output_dir: str | Path) -> Any | None:
    """Open the wandb run for a recipe run (None when tracking is off); files go under output_dir."""
    if settings.backend == "none" or settings.mode == "disabled":
        os.environ["WANDB_MODE"] = "disabled"
        return None
    import wandb

    # The Trainer's WandbCallback reads these, so it agrees with this run instead of opening its own.
    os.environ["WANDB_MODE"] = settings.mode
    os.environ["WANDB_PROJECT"] = settings.project
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    wandb_settings = wandb.Settings(
        console="wrap" if settings.capture_console else "off",
        save_code=False,
        disable_code=True,
        disable_git=True,
        x_disable_stats=True,
        silent=True,
    )
    secrets = secret_env_values()
    with _redacted_argv(secrets):
        run = wandb.init(
            project=settings.project,
            entity=settings.entity or None,
            name=settings.run_name or output_dir.resolve().name,
            group=settings.group or None,
            tags=list(settings.tags) or None,
            config=redact_secrets(config, secrets),
            dir=str(output_dir),
            mode=settings.mode,
            settings=wandb_settings,
            reinit="finish_previous",
        )
    log.info("wandb run %s (%s) in %s", run.name, settings.mode, output_dir)
    return run


@contextlib.contextmanager
def tracked_run(settings: TrackingSettings, config: Any, output_dir: str | Path, enabled: bool = True) -> Iterator[Any | None]:
    """The one tracking path of every recipe: a redacted wandb run around the block (None when off).

    `enabled` is the recipe's own switch (its trainer's `report_to`); only the main process tracks.
    """
    from rlkit.train.distributed import process_state

    if not enabled or not process_state().is_main_process:
        yield None
        return
    run = start_run(settings, config, output_dir)
    try:
        yield run
    finally:
        finish_run(run)


def log_metrics(run: Any | None, metrics: Mapping[str, Any], step: int | None = None, prefix: str = "") -> None:
    """Log scalar metrics (e.g. loop_rate, tool_call_accuracy, jury agreement) to the run, if any."""
    if run is None:
        return
    scalars = {f"{prefix}{k}": v for k, v in metrics.items() if isinstance(v, (int, float, bool)) and not isinstance(v, str)}
    run.log(scalars, step=step)


def write_metrics(output_dir: str | Path, metrics: Mapping[str, Any]) -> Path:
    """Write a run's final metrics to `<output_dir>/metrics.json` (what launch/sweep.py tabulates)."""
    path = Path(output_dir) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".metrics.json.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(redact_secrets(dict(metrics)), indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)
    return path


def finish_run(run: Any | None) -> None:
    """Close the run (flushes the offline files)."""
    if run is not None:
        run.finish()


@contextlib.contextmanager
def _redacted_argv(secrets: set[str]) -> Iterator[None]:
    # wandb copies sys.argv into the run's metadata while starting the run; `python recipes/x.py
    # jury.api_key=...` would otherwise be stored as typed.
    original = sys.argv
    sys.argv = [original[0], *redact_argv(original[1:], secrets)] if original else original
    try:
        yield
    finally:
        sys.argv = original
