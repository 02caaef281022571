"""Experiment configuration: one tree of frozen dataclasses.

Defaults live here; YAML files in `configs/` and `--set key=value` only override.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from asr.yaml12 import YAML_BOOLS, yaml_dump, yaml_load


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
    """Training-only augmentation. Waveform options run in the input pipeline
    (`asr.augment.waveform_augmenter`, in this order: speed, VTLP, reverb,
    gain, time shift, silence padding, noise, noise floor, band limit),
    SpecAugment runs inside the model after the features. Every waveform
    option is off by default; `configs/augment_real.yaml` turns them on for
    real recordings.
    Probabilities are per utterance; ranges are [low, high], drawn uniformly."""

    spec_time_masks: int = 2
    spec_time_width: int = 40  # frames, at most
    spec_freq_masks: int = 2
    spec_freq_width: int = 15  # mel bands, at most
    # Audio files (any length, any number; `asr prepare noise` makes some):
    # one is picked per utterance, at a random offset, tiled if short, and
    # mixed at an SNR in noise_snr_db against the clip before padding.
    noise_dir: str | None = None
    noise_prob: float = 0.0
    noise_snr_db: tuple[float, float] = (5.0, 30.0)
    speed_factors: tuple[float, ...] = ()  # e.g. (0.9, 1.0, 1.1)
    # Vocal-tract-length perturbation: all frequencies times a factor drawn
    # from vtlp_range (> 1 is higher), duration unchanged.
    vtlp_prob: float = 0.0
    vtlp_range: tuple[float, float] = (0.9, 1.1)
    # Room reverberation: synthetic responses, RT60 (s, 60 dB decay) and
    # direct-to-reverberant ratio (dB) drawn from these ranges.
    reverb_prob: float = 0.0
    rt60_range: tuple[float, float] = (0.2, 0.8)
    reverb_drr_db: tuple[float, float] = (0.0, 10.0)
    time_shift_ms: float = 0.0
    gain_db: float = 0.0  # random gain in [-gain_db, +gain_db]
    # Band limit (a telephone line, an 8 kHz recording, a cheap microphone):
    # everything above a cutoff drawn from bandwidth_hz removed, last, over
    # the noise too, as the recording channel would.
    bandwidth_prob: float = 0.0
    bandwidth_hz: tuple[float, float] = (3400.0, 8000.0)
    # Silence (digital zeros) before and after, each of a length drawn from
    # [0, pad_silence_max_s] seconds; then noise and floor cover it.
    pad_silence_prob: float = 0.0
    pad_silence_max_s: float = 1.0
    # White or pink Gaussian noise over the whole clip at an RMS level drawn
    # from noise_floor_dbfs (dB relative to full scale 1.0).
    noise_floor_prob: float = 0.0
    noise_floor_dbfs: tuple[float, float] = (-80.0, -45.0)


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
    # "fused" (asr.rnn.layer.FusedRNN: faster on CPU) or "keras" (keras.layers.LSTM
    # etc.: cuDNN on a GPU). Same function and weights; asr.rnn.convert converts.
    rnn_impl: str = "fused"
    rnn_units: int = 256
    rnn_layers: int = 3
    bidirectional: bool = True  # False gives the streaming model
    dropout: float = 0.1  # between recurrent layers
    rnn_norm: str = "none"  # "none", "batch" or "layer", between recurrent layers
    # Future output frames each output sees, after the recurrent layers
    # (DeepSpeech2's lookahead convolution); for forward-only models: the
    # streaming latency grows by lookahead * the output frame (20 ms).
    lookahead: int = 0
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
    # Mid-epoch checkpoints in backup/ (besides the one at every epoch's end):
    # every N steps and/or every N minutes of training; 0 turns either off.
    # A rerun resumes at the last one, with the same batches to come.
    checkpoint_every_steps: int = 0
    checkpoint_every_minutes: float = 30.0
    # A wall-time budget: training stops after the step during which this
    # many minutes (of this command's training) were spent, with a checkpoint
    # to resume from; 0: no budget. See asr.training.callbacks.TimeBudget.
    max_minutes: float = 0.0
    val_max_utterances: int = 500  # WER each epoch on at most this many
    # > 1: keep the weights of the N best epochs (validation WER) and, at the
    # end, average them; the average becomes model.keras if its WER is better.
    average_best: int = 0
    # Knowledge distillation: a teacher model (anything `load_model` takes)
    # whose per-frame posteriors the student also matches, KL(teacher ||
    # student) at `distill_temperature`, weighted by `distill_weight`, with the
    # student's frame t against the teacher's frame t - `distill_shift` (a
    # causal student emits later than a bidirectional teacher:
    # scripts/spike_offset.py measures by how much).
    distill_from: str | None = None
    distill_weight: float = 1.0
    distill_shift: int = 0
    distill_temperature: float = 1.0


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
    "model.rnn_impl": ("fused", "keras"),
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


def _check(ok: bool, key: str, problem: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {problem}")


def validate(cfg: ExperimentConfig) -> ExperimentConfig:
    """Checks values that are out of range, or each valid alone but impossible
    together. Each error is one line naming the key.

    Raises:
        ConfigError: `dotted.key: problem`.
    """
    m, f, a, d, t = cfg.model, cfg.features, cfg.augment, cfg.data, cfg.train
    _check(f.sample_rate > 0, "features.sample_rate", "must be > 0")
    _check(f.hop_length >= 1, "features.hop_length", "must be >= 1")
    _check(
        f.win_length >= f.hop_length,
        "features.win_length",
        "must be >= features.hop_length",
    )
    _check(f.n_mels >= 1, "features.n_mels", "must be >= 1")
    nyquist = f.sample_rate / 2
    _check(0 <= f.fmin < nyquist, "features.fmin", f"must be in [0, {nyquist:g}) Hz")
    if f.fmax is not None:
        _check(
            f.fmin < f.fmax <= nyquist,
            "features.fmax",
            f"must be above features.fmin ({f.fmin:g}) and at most {nyquist:g} Hz",
        )
    _check(f.log_floor > 0, "features.log_floor", "must be > 0")

    n = len(m.conv_filters)
    for name in ("conv_kernels", "conv_strides"):
        got = len(getattr(m, name))
        _check(
            got == n,
            f"model.{name}",
            f"has {got} entries but model.conv_filters has {n} (one per conv layer)",
        )
    for i, filters in enumerate(m.conv_filters):
        _check(filters >= 1, f"model.conv_filters[{i}]", f"must be >= 1, got {filters}")
    for i, (kt, kf) in enumerate(m.conv_kernels):
        _check(kt >= 1 and kf >= 1, f"model.conv_kernels[{i}]", "sizes must be >= 1")
    freq = f.n_mels
    for i, (st, sf) in enumerate(m.conv_strides):
        _check(st >= 1 and sf >= 1, f"model.conv_strides[{i}]", "strides must be >= 1")
        _check(
            sf <= freq,
            f"model.conv_strides[{i}]",
            f"frequency stride {sf} is larger than its input ({freq} bands)",
        )
        freq = -(-freq // sf)
    for name in ("rnn_units", "rnn_layers"):
        _check(getattr(m, name) >= 1, f"model.{name}", "must be >= 1")
    _check(0.0 <= m.dropout < 1.0, "model.dropout", "must be in [0, 1)")
    _check(m.lookahead >= 0, "model.lookahead", "must be >= 0")
    _check(m.l1 >= 0, "model.l1", "must be >= 0")
    _check(m.l2 >= 0, "model.l2", "must be >= 0")
    dupes = sorted({c for c in m.classes if m.classes.count(c) > 1})
    _check(not dupes, "model.classes", f"repeated labels {dupes}")

    for name in ("spec_time_masks", "spec_time_width", "spec_freq_masks"):
        _check(getattr(a, name) >= 0, f"augment.{name}", "must be >= 0")
    _check(a.spec_freq_width >= 0, "augment.spec_freq_width", "must be >= 0")
    _check(0.0 <= a.noise_prob <= 1.0, "augment.noise_prob", "must be in [0, 1]")
    _check(
        a.noise_snr_db[0] <= a.noise_snr_db[1],
        "augment.noise_snr_db",
        "needs [low, high] with low <= high",
    )
    _check(all(s > 0 for s in a.speed_factors), "augment.speed_factors", "must be > 0")
    _check(a.time_shift_ms >= 0, "augment.time_shift_ms", "must be >= 0")
    _check(a.gain_db >= 0, "augment.gain_db", "must be >= 0")
    probs = ("vtlp_prob", "reverb_prob", "pad_silence_prob", "noise_floor_prob")
    for name in (*probs, "bandwidth_prob"):
        value = getattr(a, name)
        _check(0.0 <= value <= 1.0, f"augment.{name}", "must be in [0, 1]")
    ranges = (
        ("vtlp_range", 0.5, 2.0),
        ("rt60_range", 0.05, 5.0),
        ("reverb_drr_db", -20.0, 40.0),
        ("noise_floor_dbfs", -150.0, 0.0),
        ("bandwidth_hz", 500.0, 8000.0),
    )
    for name, low, high in ranges:
        lo, hi = getattr(a, name)
        _check(
            low <= lo <= hi <= high,
            f"augment.{name}",
            f"needs [low, high] with {low:g} <= low <= high <= {high:g}",
        )
    _check(
        0 <= a.pad_silence_max_s <= 30,
        "augment.pad_silence_max_s",
        "must be in [0, 30] seconds",
    )

    _check(d.batch_size >= 1, "data.batch_size", "must be >= 1")
    _check(d.max_duration > 0, "data.max_duration", "must be > 0")
    _check(d.num_buckets >= 1, "data.num_buckets", "must be >= 1")
    _check(d.shuffle_buffer >= 0, "data.shuffle_buffer", "must be >= 0")

    _check(t.epochs >= 1, "train.epochs", "must be >= 1")
    _check(0 < t.learning_rate < math.inf, "train.learning_rate", "must be > 0")
    _check(t.weight_decay >= 0, "train.weight_decay", "must be >= 0")
    _check(t.warmup_steps >= 0, "train.warmup_steps", "must be >= 0")
    _check(t.clip_norm >= 0, "train.clip_norm", "must be >= 0 (0 disables)")
    _check(
        t.early_stopping_patience >= 0,
        "train.early_stopping_patience",
        "must be >= 0 (0 disables)",
    )
    if t.steps_per_epoch is not None:
        _check(t.steps_per_epoch >= 1, "train.steps_per_epoch", "must be >= 1")
    _check(
        t.checkpoint_every_steps >= 0,
        "train.checkpoint_every_steps",
        "must be >= 0 (0 disables)",
    )
    _check(
        0 <= t.checkpoint_every_minutes < math.inf,
        "train.checkpoint_every_minutes",
        "must be >= 0 (0 disables)",
    )
    _check(
        0 <= t.max_minutes < math.inf,
        "train.max_minutes",
        "must be >= 0 (0: no budget)",
    )
    _check(t.val_max_utterances >= 0, "train.val_max_utterances", "must be >= 0")
    _check(t.average_best >= 0, "train.average_best", "must be >= 0")
    _check(t.distill_weight >= 0, "train.distill_weight", "must be >= 0")
    _check(t.distill_shift >= 0, "train.distill_shift", "must be >= 0 (frames)")
    _check(t.distill_temperature > 0, "train.distill_temperature", "must be > 0")
    _check(
        not t.distill_from or m.head == "ctc",
        "train.distill_from",
        "distillation needs model.head: ctc (frame posteriors)",
    )

    s = cfg.streaming
    _check(s.chunk_ms > 0, "streaming.chunk_ms", "must be > 0")
    _check(s.endpoint_silence_ms >= 0, "streaming.endpoint_silence_ms", "must be >= 0")
    return cfg


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
