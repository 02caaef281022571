"""Experiment configuration: one tree of frozen dataclasses.

Defaults live here; YAML files in `configs/` and `--set key=value` only override.
Unknown keys and wrong types fail with the full dotted path of the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config file or override names an unknown key or has a bad value."""


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel front end (see `asr.features`)."""

    sample_rate: int = 16000
    win_length: int = 400  # 25 ms; also the FFT size, as in librosa's n_fft
    hop_length: int = 160  # 10 ms
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float | None = None
    log_floor: float = 1e-6


@dataclass(frozen=True)
class AugmentConfig:
    """Training-only augmentation. Waveform options run in the input pipeline,
    SpecAugment runs inside the model after the features."""

    spec_time_masks: int = 2
    spec_time_width: int = 40  # frames, at most
    spec_freq_masks: int = 2
    spec_freq_width: int = 15  # mel bands, at most
    noise_dir: str | None = None
    noise_prob: float = 0.0
    noise_snr_db: tuple[float, float] = (5.0, 30.0)
    speed_factors: tuple[float, ...] = ()  # e.g. (0.9, 1.0, 1.1)
    time_shift_ms: float = 0.0
    gain_db: float = 0.0  # random gain in [-gain_db, +gain_db]


@dataclass(frozen=True)
class DataConfig:
    train_manifest: str | None = None
    val_manifest: str | None = None
    test_manifest: str | None = None
    batch_size: int = 16
    max_duration: float = 30.0  # seconds; longer utterances are skipped and reported
    num_buckets: int = 8
    shuffle_buffer: int = 2048


@dataclass(frozen=True)
class ModelConfig:
    head: str = "ctc"  # "ctc" (transcription) or "classifier" (many-to-one keywords)
    classes: tuple[str, ...] = ()  # classifier labels; empty: taken from the data
    conv_filters: tuple[int, ...] = (32, 32)
    conv_kernels: tuple[tuple[int, int], ...] = ((11, 41), (11, 21))  # (time, freq)
    conv_strides: tuple[tuple[int, int], ...] = ((2, 2), (1, 2))
    conv_activation: str = "relu"  # "relu" or "clipped_relu" (min(relu, 20))
    causal: bool = False  # convolutions see no future frames
    rnn_cell: str = "lstm"  # "lstm", "gru" or "simple_rnn"
    rnn_units: int = 256
    rnn_layers: int = 3
    bidirectional: bool = True  # False gives the streaming model
    dropout: float = 0.1  # between recurrent layers
    rnn_norm: str = "none"  # "none", "batch" or "layer", between recurrent layers
    initializer: str = "glorot_uniform"  # "glorot_uniform", "he_normal", "orthogonal"
    l1: float = 0.0
    l2: float = 0.0


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    optimizer: str = "adamw"  # "adam" or "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 500
    schedule: str = "cosine"  # "cosine", "constant" or "plateau"
    clip_norm: float = 5.0
    early_stopping_patience: int = 0  # epochs; 0 disables
    mixed_precision: bool = False
    seed: int = 1234
    init_from: str | None = None
    freeze_frontend: bool = False
    nan_policy: str = "stop"  # "stop" or "skip"
    strategy: str = "default"  # "default", "mirrored" or "multiworker"
    steps_per_epoch: int | None = None
    val_max_utterances: int = 500  # WER each epoch on at most this many


@dataclass(frozen=True)
class StreamingConfig:
    chunk_ms: int = 100
    endpoint_silence_ms: int = 800


@dataclass(frozen=True)
class ExperimentConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    streaming: StreamingConfig = field(default_factory=StreamingConfig)


_CHOICES = {
    "model.head": ("ctc", "classifier"),
    "model.conv_activation": ("relu", "clipped_relu"),
    "model.rnn_cell": ("lstm", "gru", "simple_rnn"),
    "model.rnn_norm": ("none", "batch", "layer"),
    "model.initializer": ("glorot_uniform", "he_normal", "orthogonal"),
    "train.optimizer": ("adam", "adamw"),
    "train.schedule": ("cosine", "constant", "plateau"),
    "train.nan_policy": ("stop", "skip"),
    "train.strategy": ("default", "mirrored", "multiworker"),
}


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
            return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
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
            raise ConfigError(f"{path}: unknown key; known: {', '.join(sorted(fields))}")
        current = getattr(cfg, key)
        if dataclasses.is_dataclass(current):
            changes[key] = merge(current, value, path)
        else:
            value = _coerce(value, hints[key], path)
            choices = _CHOICES.get(path)
            if choices and value not in choices:
                raise ConfigError(f"{path}: {value!r} is not one of {', '.join(choices)}")
            changes[key] = value
    return dataclasses.replace(cfg, **changes)


def validate(cfg: ExperimentConfig) -> ExperimentConfig:
    """Checks values that are each valid alone but impossible together."""
    m, f = cfg.model, cfg.features
    n = len(m.conv_filters)
    if not (len(m.conv_kernels) == len(m.conv_strides) == n):
        raise ConfigError(
            "model.conv_kernels / model.conv_strides: need one entry per conv_filters "
            f"({n}), got {len(m.conv_kernels)} and {len(m.conv_strides)}"
        )
    freq = f.n_mels
    for i, ((_kt, _kf), (st, sf)) in enumerate(zip(m.conv_kernels, m.conv_strides)):
        if st < 1 or sf < 1:
            raise ConfigError(f"model.conv_strides[{i}]: strides must be >= 1")
        if sf > freq:
            raise ConfigError(
                f"model.conv_strides[{i}]: frequency stride {sf} is larger than its "
                f"input ({freq} bands)"
            )
        freq = -(-freq // sf)
    for name in ("rnn_units", "rnn_layers"):
        if getattr(m, name) < 1:
            raise ConfigError(f"model.{name}: must be >= 1")
    if not 0.0 <= m.dropout < 1.0:
        raise ConfigError("model.dropout: must be in [0, 1)")
    if f.win_length < f.hop_length:
        raise ConfigError("features.win_length: must be >= features.hop_length")
    if cfg.data.batch_size < 1:
        raise ConfigError("data.batch_size: must be >= 1")
    if cfg.train.learning_rate <= 0:
        raise ConfigError("train.learning_rate: must be > 0")
    return cfg


def parse_set(items: list[str]) -> dict:
    """Turns `["model.rnn_units=512", ...]` into a nested override dict."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item}: expected key=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw)
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
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
            loaded = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({e})") from None
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
    return validate(merge(ExperimentConfig(), tree))


def dump_yaml(cfg: ExperimentConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
