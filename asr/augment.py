"""Training-only augmentation.

`SpecAugment` (`asr.spec_augment`) is a model layer after the features.
`waveform_augmenter(cfg, noise)` returns the TF function the
input pipeline maps over single training utterances: speed perturbation,
vocal-tract-length perturbation (`warp_frequencies`), room reverberation
(`reverberate` with responses from `asr.reverb`), gain, time shift, leading and
trailing silence, noise at a random SNR, a low noise floor (noise files:
`asr.datasets.noise.prepare_noise`, `asr prepare noise`) and a band limit
(`band_limit`). Every step is off by
default; `configs/augment_real.yaml` turns them all on for real recordings.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from asr.audio import SAMPLE_RATE
from asr.config import AugmentConfig
from asr.datasets.sounds import colored_noise
from asr.reverb import impulse_response_pool

REVERB_POOL = 64  # room responses drawn once per pipeline, picked per utterance


def _interpolate(audio: tf.Tensor, pos: tf.Tensor) -> tf.Tensor:
    """`audio` (samples,) read at float positions `pos` (m,), linearly
    interpolated; positions past the end read the last sample."""
    n = tf.shape(audio)[0]
    lo = tf.minimum(tf.cast(tf.floor(pos), tf.int32), n - 1)
    hi = tf.minimum(lo + 1, n - 1)
    frac = pos - tf.cast(lo, tf.float32)
    return tf.gather(audio, lo) * (1.0 - frac) + tf.gather(audio, hi) * frac


def _speed(audio: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """Resamples by `factor` (>1 is faster and higher, as sox `speed`), by
    linear interpolation."""
    n = tf.shape(audio)[0]
    new_n = tf.maximum(tf.cast(tf.cast(n, tf.float32) / factor, tf.int32), 1)
    return _interpolate(audio, tf.cast(tf.range(new_n), tf.float32) * factor)


def _nearest_peak(mag: tf.Tensor) -> tf.Tensor:
    """For `mag` (frames, bins): (frames, bins) int32, the index of the local
    magnitude maximum nearest to each bin in its frame."""
    frames, bins = tf.shape(mag)[0], tf.shape(mag)[1]
    low = tf.fill([frames, 1], -1.0)
    left = tf.concat([low, mag[:, :-1]], 1)
    right = tf.concat([mag[:, 1:], low], 1)
    is_peak = (mag > left) & (mag >= right)  # a row's first maximum always is
    k = tf.broadcast_to(tf.range(bins)[None, :], tf.shape(mag))
    # Bins numbered by the peaks at or below them: each run of one number
    # starts at its peak, so the run's smallest bin is that peak.
    seen = tf.cumsum(tf.cast(is_peak, tf.int32), axis=1)
    runs = bins + 2
    row = tf.range(frames)[:, None] * runs
    start = tf.math.unsorted_segment_min(k, row + seen, frames * runs)
    count = seen[:, -1:]
    prev = tf.gather(start, row + tf.maximum(seen, 1))
    after = tf.gather(start, row + tf.minimum(seen + 1, count))
    return tf.where(
        (seen > 0) & ((k - prev <= after - k) | (seen == count)), prev, after
    )


def warp_frequencies(
    audio: tf.Tensor, alpha: tf.Tensor | float, n_fft: int = 512, hop: int = 128
) -> tf.Tensor:
    """Vocal-tract-length perturbation: every frequency times `alpha`, the
    duration and timing unchanged.

    A phase vocoder stretches the clip to `alpha` times its length (frame
    magnitudes interpolated, phase advanced by each bin's measured frequency),
    then reading it back at `alpha` samples per sample scales all frequencies
    (harmonics and formants) by `alpha`. Sample `s` of the input stays at `s`.
    Frequencies that would pass the Nyquist frequency are removed first.
    Voiced sound keeps its level (within 0.2 dB); noise-like sound (fricatives,
    babble) loses 1-4 dB, as in any phase vocoder.

    Args:
        audio: (samples,) float32.
        alpha: scalar; > 1 moves the spectrum up (a shorter vocal tract).
    Returns:
        (samples,) float32.
    """
    alpha = tf.cast(alpha, tf.float32)
    n = tf.shape(audio)[0]
    x = tf.pad(audio, [[n_fft, n_fft]])  # full overlap at both ends
    spec = tf.signal.stft(x, n_fft, hop, n_fft, window_fn=tf.signal.hann_window)
    frames = tf.shape(spec)[0]
    bins = n_fft // 2 + 1
    mag, phase = tf.abs(spec), tf.math.angle(spec)
    out_frames = tf.cast(
        tf.math.ceil(tf.cast(frames - 1, tf.float32) * alpha), tf.int32
    )
    steps = tf.cast(tf.range(out_frames + 1), tf.float32) / alpha
    i0 = tf.minimum(tf.cast(tf.floor(steps), tf.int32), frames - 2)
    frac = tf.minimum(steps - tf.cast(i0, tf.float32), 1.0)[:, None]
    m = tf.gather(mag, i0) * (1.0 - frac) + tf.gather(mag, i0 + 1) * frac
    two_pi = 2.0 * np.pi
    advance = two_pi * hop * tf.range(bins, dtype=tf.float32) / n_fft
    dphi = phase[1:] - phase[:-1] - advance
    dphi = dphi - two_pi * tf.round(dphi / two_pi) + advance  # (frames - 1, bins)
    acc = phase[0] + tf.concat(
        [tf.zeros([1, bins]), tf.cumsum(tf.gather(dphi, i0[:-1]), axis=0)], 0
    )
    # Identity phase locking (Laroche & Dolson, 1999): a bin takes its peak's
    # running phase plus the phase difference it had to that peak in the
    # input, so the bins of one partial stay coherent and do not cancel.
    peak = _nearest_peak(m)
    ref = tf.gather(phase, i0)
    out_phase = (
        tf.gather(acc, peak, batch_dims=1) + ref - tf.gather(ref, peak, batch_dims=1)
    )
    keep = tf.cast(tf.range(bins, dtype=tf.float32) * alpha < bins - 1, tf.float32)
    m = m * keep
    stretched = tf.signal.inverse_stft(
        tf.complex(m * tf.cos(out_phase), m * tf.sin(out_phase)),
        n_fft,
        hop,
        n_fft,
        window_fn=tf.signal.inverse_stft_window_fn(hop),
    )
    pos = (tf.cast(tf.range(n), tf.float32) + n_fft) * alpha
    return _interpolate(stretched, pos)


def band_limit(
    audio: tf.Tensor, cutoff_hz: tf.Tensor | float, transition_hz: float = 200.0
) -> tf.Tensor:
    """Removes everything above `cutoff_hz`, as a recording channel of that
    bandwidth does (an 8 kHz file: 4 kHz; a telephone line: 3.4 kHz).

    One FFT over the clip; the gain falls from 1 to 0 as a raised cosine over
    the `transition_hz` below the cutoff (no ringing from a brick wall).

    Args:
        audio: (samples,) float32 at 16 kHz.
        cutoff_hz: scalar; 8000 or more keeps the clip as it is.
    Returns:
        (samples,) float32.
    """
    n = tf.shape(audio)[0]
    fft = tf.reshape(n + n % 2, [1])  # even, so irfft gives back n (+1) samples
    spectrum = tf.signal.rfft(audio, fft)
    freqs = tf.cast(tf.range(tf.shape(spectrum)[0]), tf.float32) * (
        SAMPLE_RATE / tf.cast(fft[0], tf.float32)
    )
    cutoff = tf.cast(cutoff_hz, tf.float32)
    x = tf.clip_by_value((cutoff - freqs) / transition_hz, 0.0, 1.0)
    gain = tf.where(cutoff >= SAMPLE_RATE / 2, 1.0, 0.5 - 0.5 * tf.cos(np.pi * x))
    return tf.signal.irfft(spectrum * tf.cast(gain, tf.complex64), fft)[:n]


def reverberate(audio: tf.Tensor, ir: tf.Tensor) -> tf.Tensor:
    """`audio` convolved with room response `ir` (FFT), cut to the input length.

    The response's direct path at index 0 keeps every sound at its sample; the
    reverberation past the clip's end is dropped.

    Args:
        audio: (samples,) float32.
        ir: (ir_samples,) float32 (`asr.reverb.room_impulse_response`).
    Returns:
        (samples,) float32.
    """
    n = tf.shape(audio)[0]
    size = n + tf.shape(ir)[0] - 1
    fft = tf.cast(
        2 ** tf.math.ceil(tf.math.log(tf.cast(size, tf.float32)) / np.log(2.0)),
        tf.int32,
    )
    fft = tf.reshape(fft, [1])
    y = tf.signal.irfft(tf.signal.rfft(audio, fft) * tf.signal.rfft(ir, fft), fft)
    return y[:n]


class _Signals:
    """Noise signals stored end to end, for a random `(n,)` excerpt of a random
    one (wrapping round a signal shorter than `n`)."""

    def __init__(self, signals: list[np.ndarray]):
        lengths = [len(s) for s in signals]
        self.flat = tf.constant(np.concatenate(signals).astype(np.float32))
        self.offsets = tf.constant(np.cumsum([0, *lengths[:-1]]), tf.int32)
        self.lengths = tf.constant(lengths, tf.int32)
        self.count = len(signals)

    def excerpt(self, n: tf.Tensor) -> tf.Tensor:
        k = tf.random.uniform([], 0, self.count, tf.int32)
        length = self.lengths[k]
        start = tf.random.uniform([], 0, length, tf.int32)
        return tf.gather(self.flat, self.offsets[k] + (start + tf.range(n)) % length)


def trim_to_speech(
    audio: tf.Tensor, below_db: float, margins: tf.Tensor, frame: int = 160
) -> tf.Tensor:
    """`audio` from its first to its last 10 ms frame within `below_db` of
    its loudest frame's power, widened by `margins` = (before, after) samples
    (within the clip). A clip shorter than a frame is returned whole.

    Args:
        audio: (samples,) float32.
        below_db: frames quieter than the loudest by more than this are
            silence.
        margins: (2,) int32 samples kept before the first and after the last
            speech frame.
    """
    n = tf.shape(audio)[0]
    frames = n // frame

    def cut():
        power = tf.reduce_mean(
            tf.reshape(audio[: frames * frame], [frames, frame]) ** 2, 1
        )
        loud = power >= tf.reduce_max(power) * 10.0 ** (-below_db / 10.0)
        idx = tf.where(loud)[:, 0]
        first = tf.cast(idx[0], tf.int32) * frame
        last = (tf.cast(idx[-1], tf.int32) + 1) * frame
        start = tf.maximum(0, first - margins[0])
        end = tf.minimum(n, last + margins[1])
        return audio[start:end]

    return tf.cond(frames >= 1, cut, lambda: audio)


def _power(x: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.square(x))


def _maybe(prob: float, fn, audio: tf.Tensor) -> tf.Tensor:
    if prob >= 1.0:
        return fn(audio)
    return tf.cond(tf.random.uniform([]) < prob, lambda: fn(audio), lambda: audio)


def _as_signals(noise) -> list[np.ndarray]:
    if noise is None:
        return []
    if isinstance(noise, np.ndarray) and noise.ndim == 1:
        noise = [noise]
    return [np.asarray(s, np.float32) for s in noise if len(s) > 0]


def waveform_augmenter(
    cfg: AugmentConfig,
    noise: np.ndarray | Sequence[np.ndarray] | None = None,
    seed: int = 0,
):
    """Returns `fn(audio (samples,) float32) -> audio' (samples',) float32`, a
    TF function for `tf.data` `map` over single utterances, or None if `cfg`
    asks for no waveform augmentation (the audio then stays bit-identical).

    Steps, each drawn per utterance and skipped when its key is off:
    trim to the speech (`trim_prob`, `trim_margin_ms`, `trim_db`; a trimmed
    clip is not time-shifted, which could cut into the speech; with
    `trim_noisy` false only a clip that gets no added noise) -> speed
    (`speed_factors`) -> VTLP (`vtlp_prob`, `vtlp_range`) -> reverberation
    (`reverb_prob`, `rt60_range`, `reverb_drr_db`) -> gain (`gain_db`) -> time
    shift (`time_shift_ms`, digital zeros) -> silence padding before and after
    (`pad_silence_prob`, `pad_silence_max_s`, digital zeros) -> additive noise
    (`noise_prob`, `noise_snr_db`, one of the `noise` signals at a random
    offset, tiled; with `noise_mix_prob` a second one over it at
    `noise_mix_db` relative power) -> noise floor (`noise_floor_prob`,
    `noise_floor_dbfs`) -> band limit (`bandwidth_prob`, `bandwidth_hz`, over
    speech and noise alike).

    The SNR is measured against the power of the clip before time shift and
    padding, and the noise (and floor) cover the whole padded clip, so padding
    changes neither the SNR nor the level.

    Args:
        cfg: the augment section.
        noise: the noise signals (16 kHz): one array or a list, e.g. the
            files of `augment.noise_dir`; None or empty turns noise mixing off.
        seed: seeds the room-response and noise-floor pools built here (the
            per-utterance draws come from TF's random state).
    """
    signals = _as_signals(noise)
    use_noise = bool(signals) and cfg.noise_prob > 0
    use_vtlp = cfg.vtlp_prob > 0 and cfg.vtlp_range != (1.0, 1.0)
    active = (
        cfg.trim_prob > 0,
        use_noise,
        cfg.speed_factors,
        cfg.time_shift_ms,
        cfg.gain_db,
        use_vtlp,
        cfg.reverb_prob > 0,
        cfg.pad_silence_prob > 0 and cfg.pad_silence_max_s > 0,
        cfg.noise_floor_prob > 0,
        cfg.bandwidth_prob > 0,
    )
    if not any(active):
        return None
    noise_bank = _Signals(signals) if use_noise else None
    factors = tf.constant(cfg.speed_factors or (1.0,), tf.float32)
    max_shift = int(cfg.time_shift_ms * 16)
    max_pad = int(round(cfg.pad_silence_max_s * SAMPLE_RATE))
    rng = np.random.default_rng(seed)
    if cfg.reverb_prob > 0:
        irs, _ = impulse_response_pool(
            REVERB_POOL, cfg.rt60_range, cfg.reverb_drr_db, seed=seed
        )
        irs = tf.constant(irs)
    if cfg.noise_floor_prob > 0:
        floors = _Signals([colored_noise(k, 2**16, rng) for k in ("white", "pink")])

    def vtlp(audio):
        alpha = tf.random.uniform([], cfg.vtlp_range[0], cfg.vtlp_range[1])
        # Too short for two STFT frames: nothing to warp.
        return tf.cond(
            tf.shape(audio)[0] >= 512,
            lambda: warp_frequencies(audio, alpha),
            lambda: audio,
        )

    def reverb(audio):
        return reverberate(audio, irs[tf.random.uniform([], 0, REVERB_POOL, tf.int32)])

    def pad(audio):
        before = tf.random.uniform([], 0, max_pad + 1, tf.int32)
        after = tf.random.uniform([], 0, max_pad + 1, tf.int32)
        return tf.concat([tf.zeros([before]), audio, tf.zeros([after])], 0)

    def floor(audio):
        seg = floors.excerpt(tf.shape(audio)[0])
        dbfs = tf.random.uniform([], cfg.noise_floor_dbfs[0], cfg.noise_floor_dbfs[1])
        rms = tf.pow(10.0, dbfs / 20.0)
        return audio + seg * rms / tf.sqrt(_power(seg) + 1e-20)

    def narrow(audio):
        return band_limit(
            audio, tf.random.uniform([], cfg.bandwidth_hz[0], cfg.bandwidth_hz[1])
        )

    def trim(audio):
        margins = tf.random.uniform(
            [2], cfg.trim_margin_ms[0], cfg.trim_margin_ms[1] + 1e-3
        )
        return trim_to_speech(audio, cfg.trim_db, tf.cast(margins * 16.0, tf.int32))

    def augment(audio):
        noisy = None  # drawn here only when it decides the trim
        if use_noise and cfg.trim_prob > 0 and not cfg.trim_noisy:
            noisy = tf.random.uniform([]) < cfg.noise_prob
        trimmed = tf.constant(False)
        if cfg.trim_prob > 0:
            trimmed = tf.random.uniform([]) < cfg.trim_prob
            if noisy is not None:
                trimmed = trimmed & ~noisy
            audio = tf.cond(trimmed, lambda: trim(audio), lambda: audio)
        if cfg.speed_factors:
            idx = tf.random.uniform([], 0, len(cfg.speed_factors), tf.int32)
            audio = _speed(audio, factors[idx])
        if use_vtlp:
            audio = _maybe(cfg.vtlp_prob, vtlp, audio)
        if cfg.reverb_prob > 0:
            audio = _maybe(cfg.reverb_prob, reverb, audio)
        if cfg.gain_db:
            gain_db = tf.random.uniform([], -cfg.gain_db, cfg.gain_db)
            audio = audio * tf.pow(10.0, gain_db / 20.0)
        p_sig = _power(audio) + 1e-10  # the speech, before any padding
        if max_shift:
            shift = tf.random.uniform([], -max_shift, max_shift + 1, tf.int32)
            shift = tf.where(trimmed, 0, shift)  # a trimmed clip keeps its margins
            audio = tf.cond(
                shift >= 0,
                lambda: tf.concat([tf.zeros([shift]), audio], 0),
                lambda: audio[-shift:],
            )
        if cfg.pad_silence_prob > 0 and max_pad > 0:
            audio = _maybe(cfg.pad_silence_prob, pad, audio)
        if use_noise:

            def second(seg):
                other = noise_bank.excerpt(tf.shape(seg)[0])
                rel = tf.random.uniform([], cfg.noise_mix_db[0], cfg.noise_mix_db[1])
                gain = tf.sqrt(
                    (_power(seg) + 1e-10)
                    * tf.pow(10.0, rel / 10.0)
                    / (_power(other) + 1e-10)
                )
                return seg + gain * other

            def add_noise(audio):
                seg = noise_bank.excerpt(tf.shape(audio)[0])
                if cfg.noise_mix_prob > 0:
                    seg = _maybe(cfg.noise_mix_prob, second, seg)
                snr = tf.random.uniform([], cfg.noise_snr_db[0], cfg.noise_snr_db[1])
                p_noise = _power(seg) + 1e-10
                scale = tf.sqrt(p_sig / (p_noise * tf.pow(10.0, snr / 10.0)))
                return audio + scale * seg

            if noisy is None:
                audio = _maybe(cfg.noise_prob, add_noise, audio)
            else:
                audio = tf.cond(noisy, lambda: add_noise(audio), lambda: audio)
        if cfg.noise_floor_prob > 0:
            audio = _maybe(cfg.noise_floor_prob, floor, audio)
        if cfg.bandwidth_prob > 0:
            audio = _maybe(cfg.bandwidth_prob, narrow, audio)
        return audio

    return augment
