"""Dataclass configs for every recipe: YAML file + `section.key=value` CLI overrides, one mechanism.

A recipe declares its config as a (nested) dataclass. `load_config` builds it from defaults, then a
YAML file, then CLI overrides, checking every key and value type on the way. Errors name the key and
suggest the closest valid one, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

C = TypeVar("C")


class ConfigError(ValueError):
    """A config key or value that does not fit the recipe's config dataclass."""


def load_config(cls: type[C], path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> C:
    """Build `cls` from its defaults, then the YAML file at `path`, then `key=value` overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping of config keys")
        values = loaded
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {override!r} is not of the form section.key=value")
        _set_dotted(values, key.strip(), yaml.safe_load(raw) if raw.strip() else "")
    return _build(cls, values, prefix="")


def parse_cli(cls: type[C], argv: list[str], default_path: str | Path | None = None) -> C:
    """Parse `[--config FILE] key=value ...` into `cls`.

    `--key value` and `--key=value` work too; a bare `--key` (followed by nothing, another flag or
    a `key=value`) means `key=true`.
    """
    path = default_path
    overrides: list[str] = []
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("--config", "-c"):
            if not args:
                raise ConfigError("--config needs a file path")
            path = args.pop(0)
        elif arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        elif arg.startswith("--"):
            name = arg[2:].replace("-", "_")
            if "=" in name:
                overrides.append(name)
            elif args and not args[0].startswith("--") and "=" not in args[0]:
                overrides.append(f"{name}={args.pop(0)}")
            else:
                overrides.append(f"{name}=true")
        else:
            overrides.append(arg)
    return load_config(cls, path, overrides)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The config as plain nested dicts (for saving and for wandb)."""
    return dataclasses.asdict(cfg)


def save_config(cfg: Any, path: str | Path) -> Path:
    """Write the resolved config as YAML beside a run's outputs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return path


def flatten_dotted(values: Any, prefix: str = "") -> dict[str, Any]:
    """`{"train": {"max_steps": 5}}` → `{"train.max_steps": 5}` (the inverse of how overrides nest)."""
    if not isinstance(values, dict):
        return {prefix.rstrip("."): values} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in values.items():
        out.update(flatten_dotted(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def flatten_overrides(values: dict[str, Any]) -> list[str]:
    """`{"train": {"max_steps": 5}}` → `["train.max_steps=5"]` (values as JSON, which YAML reads back)."""
    return [f"{key}={json.dumps(value)}" for key, value in flatten_dotted(values).items()]


def _set_dotted(values: dict[str, Any], dotted: str, value: Any) -> None:
    node = values
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _build(cls: type[C], values: dict[str, Any], prefix: str) -> C:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [key for key in values if key not in fields]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, list(fields), n=1)
        hint = f"; did you mean {prefix + close[0]!r}?" if close else f"; valid keys: {', '.join(fields)}"
        raise ConfigError(f"unknown config key {prefix + key!r}{hint}")
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(hints[name], value, f"{prefix}{name}")
    # Sections left out of the file still get their defaults from the dataclass itself.
    return cls(**kwargs)


def _coerce(annotation: Any, value: Any, key: str) -> Any:
    """Check `value` against `annotation`, converting only where no information is lost."""
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r} is a section; give it a mapping, not {value!r}")
        return _build(annotation, value, prefix=f"{key}.")
    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"config key {key!r}: bad value {value!r}")
    if origin is Literal:
        choices = typing.get_args(annotation)
        if value not in choices:
            raise ConfigError(f"config key {key!r} must be one of {list(choices)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if isinstance(value, (list, tuple)):
            (item_type, *_) = typing.get_args(annotation) or (Any,)
            return [_coerce(item_type, item, f"{key}[{i}]") for i, item in enumerate(value)]
        raise ConfigError(f"config key {key!r} expects a list, got {value!r}")
    if origin is dict:
        if isinstance(value, dict):
            return value
        raise ConfigError(f"config key {key!r} expects a mapping, got {value!r}")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r} expects true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r} expects an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML reads "5e-7" as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key {key!r} expects a number, got {value!r}")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"config key {key!r} expects a string, got {value!r}")
    return value
