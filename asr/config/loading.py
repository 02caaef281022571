"""Reading configs: defaults, then a YAML file, then `--set` overrides.

Unknown keys and wrong types fail with the full dotted path of the key.
YAML is read with YAML 1.2 scalars: only `true`/`false` are booleans (so the
keywords `yes`, `no`, `on`, `off` stay strings), `1e-3` is a number, and dates
stay strings. Boolean keys still accept `yes`/`no`/`on`/`off`.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from asr.config.checks import validate
from asr.config.schema import _CHOICES, ConfigError, ExperimentConfig
from asr.yaml12 import YAML_BOOLS, yaml_dump, yaml_load


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Checks `value` against a type annotation, converting lists to tuples."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(
                _coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)
            )
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}")
        return tuple(
            _coerce(v, a, f"{where}[{i}]")
            for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if annotation is float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or math.isnan(value)
        ):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
        if isinstance(value, str) and value.lower() in YAML_BOOLS:
            return YAML_BOOLS[value.lower()]
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def merge(cfg: Any, overrides: dict, where: str = "") -> Any:
    """Returns a copy of dataclass `cfg` with `overrides` applied.

    Raises:
        ConfigError: naming the dotted key, for unknown keys or wrong types.
    """
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {overrides!r}")
    hints = typing.get_type_hints(type(cfg))
    fields = {f.name for f in dataclasses.fields(cfg)}
    changes = {}
    for key, value in overrides.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in fields:
            raise ConfigError(
                f"{path}: unknown key; known: {', '.join(sorted(fields))}"
            )
        current = getattr(cfg, key)
        if dataclasses.is_dataclass(current):
            changes[key] = merge(current, value, path)
        else:
            value = _coerce(value, hints[key], path)
            choices = _CHOICES.get(path)
            if choices and value not in choices:
                raise ConfigError(
                    f"{path}: {value!r} is not one of {', '.join(choices)}"
                )
            changes[key] = value
    return dataclasses.replace(cfg, **changes)


def parse_set(items: list[str]) -> dict:
    """Turns `["model.rnn_units=512", ...]` into a nested override dict.

    Each item splits on its first `=`; the value is read as YAML (`512` is an
    int, `1e-3` a float, `[8, 16]` a list, `null` None); later items win.

    Raises:
        ConfigError: naming the item, for a missing `=`, an empty key part, a
            value that is not YAML, or a key nested under one already set.
    """
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item}: expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        if not all(parts):
            raise ConfigError(f"--set {item}: empty key name in {key!r}")
        try:
            value = yaml_load(raw)
        except yaml.YAMLError as e:
            problem = " ".join(str(e).split())
            raise ConfigError(
                f"--set {key}: value is not valid YAML ({problem})"
            ) from None
        node = out
        for depth, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                parent = ".".join(parts[: depth + 1])
                raise ConfigError(
                    f"--set {key}: {parent} was already set to a value, not a section"
                )
        node[parts[-1]] = value
    return out


def _deep_update(base: dict, extra: dict) -> dict:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


def load_config(
    path: str | Path | None = None, overrides: list[str] | dict | None = None
) -> ExperimentConfig:
    """Defaults, then the YAML file at `path`, then `--set` style overrides."""
    tree: dict = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml_load(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, IsADirectoryError):
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as e:
            problem = " ".join(str(e).split())
            raise ConfigError(f"{path}: not valid YAML ({problem})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        tree = loaded or {}
    if overrides:
        extra = parse_set(overrides) if isinstance(overrides, list) else overrides
        tree = _deep_update(tree, extra)
    return validate(merge(ExperimentConfig(), tree))


def to_dict(cfg: Any) -> dict:
    """Plain nested dict (tuples as lists) for YAML."""

    def plain(v):
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        return v

    return {
        f.name: to_dict(getattr(cfg, f.name))
        if dataclasses.is_dataclass(getattr(cfg, f.name))
        else plain(getattr(cfg, f.name))
        for f in dataclasses.fields(cfg)
    }


def from_dict(tree: dict) -> ExperimentConfig:
    """Inverse of `to_dict`: defaults overridden by `tree`, then validated."""
    return validate(merge(ExperimentConfig(), tree))


def dump_yaml(cfg: ExperimentConfig) -> str:
    """The whole resolved tree as YAML; `load_config` of it gives `cfg` back."""
    return yaml_dump(to_dict(cfg))
