"""The search space of `asr tune`: a YAML file of config keys -> `Dimension`s.

The file maps dotted config keys to the values to try:

    model.rnn_units: [128, 256, 384]           # a choice
    model.rnn_cell: [lstm, gru]
    model.conv_filters: [[16, 16], [32, 32]]   # a choice of lists
    train.learning_rate: {log: [1e-4, 3e-3]}   # a range, log-uniform
    model.dropout: {linear: [0.0, 0.3], step: 0.1}
    model.rnn_layers: {linear: [2, 4]}         # integer bounds: integers

`read_space` checks every value against the config before any training: an
unknown key or a bad value is a `SearchSpaceError` naming `SPACE.yaml:line`.
A `Dimension` declares itself on KerasTuner's `HyperParameters` (choices
KerasTuner cannot hold, such as lists, travel as JSON text) and
`trial_values` turns a trial's KerasTuner values back into config values;
`apply_values` applies them to a config. KerasTuner itself is not imported here.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from asr.config import ConfigError, ExperimentConfig, merge, validate
from asr.yaml12 import yaml_load


class SearchSpaceError(ConfigError):
    """A search space file has a bad entry; the message names file and line."""


@dataclass(frozen=True)
class Dimension:
    """One searched config key.

    Attributes:
        key: dotted config key, e.g. `model.rnn_units`.
        kind: "choice", "linear" or "log".
        values: the choices (kind "choice").
        low, high, step: the range (kinds "linear" and "log"); integers when
            both bounds (and the step) are integers.
    """

    key: str
    kind: str
    values: tuple = ()
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def declare(self, hp) -> None:
        """Declares this dimension on KerasTuner `HyperParameters` `hp`."""
        if self.kind == "choice":
            hp.Choice(self.key, _encode_choices(self.values))
        elif isinstance(self.low, int) and isinstance(self.high, int):
            hp.Int(self.key, self.low, self.high, step=self.step, sampling=self.kind)
        else:
            step = None if self.step is None else float(self.step)
            hp.Float(self.key, self.low, self.high, step=step, sampling=self.kind)

    def decode(self, value):
        """The config value of KerasTuner's `value` for this dimension."""
        if self.kind == "choice" and _needs_encoding(self.values):
            return json.loads(value)
        return value


def _needs_encoding(values: tuple) -> bool:
    """KerasTuner's choices are ints, floats, strings or bools, all of one
    type; anything else (lists, None, mixed types) goes as JSON text."""
    kinds = {type(v) for v in values}
    return not (kinds <= {int, float} or kinds in ({str}, {bool}))


def _encode_choices(values: tuple) -> list:
    if _needs_encoding(values):
        return [json.dumps(v) for v in values]
    if {type(v) for v in values} == {int, float}:
        return [float(v) for v in values]
    return list(values)


def _nest(values: dict[str, Any]) -> dict:
    """`{"model.rnn_units": 8}` -> `{"model": {"rnn_units": 8}}`."""
    out: dict = {}
    for key, value in values.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def apply_values(cfg: ExperimentConfig, values: dict[str, Any]) -> ExperimentConfig:
    """`cfg` with dotted-key `values` applied, then validated.

    Raises:
        ConfigError: naming the key, for an unknown key or a bad value.
    """
    return validate(merge(cfg, _nest(values)))


def _line_numbers(text: str) -> dict[str, int]:
    """The line of each top-level key of a YAML mapping (1-based)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value}


def _number(value, where: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SearchSpaceError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(value):
        raise SearchSpaceError(f"{where}: expected a finite number, got {value!r}")
    return value


def _dimension(key: str, spec, where: str) -> Dimension:
    if isinstance(spec, list):
        if not spec:
            raise SearchSpaceError(f"{where}: empty list of choices")
        values = tuple(spec)
        if len({json.dumps(v, sort_keys=True) for v in values}) < len(values):
            raise SearchSpaceError(f"{where}: a choice is listed twice")
        return Dimension(key, "choice", values=values)
    if isinstance(spec, dict):
        kinds = [k for k in ("log", "linear") if k in spec]
        unknown = sorted(set(spec) - {"log", "linear", "step"})
        if len(kinds) != 1 or unknown:
            raise SearchSpaceError(
                f"{where}: a range is {{log: [low, high]}} or "
                f"{{linear: [low, high], step: S}}, got {spec!r}"
            )
        kind = kinds[0]
        bounds = spec[kind]
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise SearchSpaceError(f"{where}: {kind}: expected [low, high]")
        low, high = (_number(b, f"{where}: {kind}") for b in bounds)
        if not low < high:
            raise SearchSpaceError(f"{where}: {kind}: needs low < high, got {bounds}")
        if kind == "log" and low <= 0:
            raise SearchSpaceError(f"{where}: log: bounds must be > 0, got {bounds}")
        step = spec.get("step")
        if step is not None and _number(step, f"{where}: step") <= 0:
            raise SearchSpaceError(f"{where}: step must be > 0, got {step!r}")
        if isinstance(step, float) and isinstance(low, int) and isinstance(high, int):
            low, high = float(low), float(high)
        return Dimension(key, kind, low=low, high=high, step=step)
    raise SearchSpaceError(
        f"{where}: expected a list of values to choose from, or "
        "{log: [low, high]} / {linear: [low, high]}; got "
        f"{spec!r} (a fixed value goes in the config or --set)"
    )


def read_space(path: str | os.PathLike, cfg: ExperimentConfig) -> list[Dimension]:
    """Reads a search space file and checks every value against `cfg`.

    Raises:
        SearchSpaceError: `path:line: key: problem` for a bad entry (unknown
            key, a value the config refuses, a bad range), or `path: problem`
            for a missing or malformed file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError):
        raise SearchSpaceError(f"{path}: search space file not found") from None
    try:
        tree = yaml_load(text)
    except yaml.YAMLError as e:
        problem = " ".join(str(e).split())
        raise SearchSpaceError(f"{path}: not valid YAML ({problem})") from None
    if not isinstance(tree, dict) or not tree:
        raise SearchSpaceError(
            f"{path}: expected a mapping of dotted config keys to values, e.g. "
            "'model.rnn_units: [128, 256]'"
        )
    lines = _line_numbers(text)
    dims = []
    for key, spec in tree.items():
        where = f"{path}:{lines.get(str(key), '?')}: {key}"
        if not isinstance(key, str) or "." not in key or key.startswith("tuner/"):
            raise SearchSpaceError(
                f"{where}: expected a dotted config key such as model.rnn_units"
            )
        if key == "train.epochs":
            raise SearchSpaceError(f"{where}: set by the trial budget (--epochs)")
        dim = _dimension(key, spec, where)
        probes = dim.values if dim.kind == "choice" else (dim.low, dim.high)
        for value in probes:
            try:
                apply_values(cfg, {key: value})
            except ConfigError as e:
                raise SearchSpaceError(f"{path}:{lines.get(key, '?')}: {e}") from None
        dims.append(dim)
    return dims


def trial_values(dims: list[Dimension], hp_values: dict) -> dict[str, Any]:
    """The config values (dotted keys) of a trial's KerasTuner values."""
    return {d.key: d.decode(hp_values[d.key]) for d in dims if d.key in hp_values}
