"""`validate`: values out of range, or valid alone but impossible together."""

from __future__ import annotations

import math

from asr.config.schema import ConfigError, ExperimentConfig


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
    _check(
        a.noise_mix_db[0] <= a.noise_mix_db[1],
        "augment.noise_mix_db",
        "needs [low, high] with low <= high",
    )
    probs = (
        "trim_prob",
        "noise_mix_prob",
        "vtlp_prob",
        "reverb_prob",
        "pad_silence_prob",
        "noise_floor_prob",
    )
    for name in (*probs, "bandwidth_prob"):
        value = getattr(a, name)
        _check(0.0 <= value <= 1.0, f"augment.{name}", "must be in [0, 1]")
    ranges = (
        ("vtlp_range", 0.5, 2.0),
        ("rt60_range", 0.05, 5.0),
        ("reverb_drr_db", -20.0, 40.0),
        ("noise_floor_dbfs", -150.0, 0.0),
        ("bandwidth_hz", 500.0, 8000.0),
        ("trim_margin_ms", 0.0, 1000.0),
    )
    for name, low, high in ranges:
        lo, hi = getattr(a, name)
        _check(
            low <= lo <= hi <= high,
            f"augment.{name}",
            f"needs [low, high] with {low:g} <= low <= high <= {high:g}",
        )
    _check(0 < a.trim_db <= 120, "augment.trim_db", "must be in (0, 120] dB")
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
