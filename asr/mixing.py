"""Noise mixing at an exact SNR and silence padding: pure numpy, no I/O.

Used by `asr evaluate --noise/--snr/--pad-silence` (`asr.robustness`) and
reusable by training augmentation. Signals are (samples,) float arrays at one
sample rate; outputs are float32.

Definitions:
- power: the mean square of the samples;
- SNR (dB): `10 * log10(power(speech) / power(noise))`, the noise measured
  over the samples where the speech is (padding excluded);
- dBFS: RMS relative to an amplitude of 1.0 (a full-scale sine is -3 dBFS),
  so white noise at -60 dBFS has a standard deviation of 0.001.

Determinism: every random choice comes from the `rng` passed in;
`utterance_rng(seed, key)` gives a generator that depends only on the seed
and a key (e.g. the utterance's path), not on the order of processing.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np


def utterance_rng(seed: int, key: str) -> np.random.Generator:
    """A generator seeded from `seed` and `key` only (stable across runs,
    machines and Python versions: a BLAKE2 hash, not `hash()`)."""
    digest = hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def power(x: np.ndarray) -> float:
    """Mean square of `x` (float64); 0.0 for an empty array."""
    x = np.asarray(x, np.float64)
    return float(np.mean(np.square(x))) if x.size else 0.0


def snr_db(speech: np.ndarray, noise: np.ndarray) -> float:
    """`10 log10(power(speech) / power(noise))`; inf for silent noise."""
    p_noise = power(noise)
    if p_noise == 0.0:
        return math.inf
    p_speech = power(speech)
    return -math.inf if p_speech == 0.0 else 10 * math.log10(p_speech / p_noise)


def noise_segment(
    noise: np.ndarray, length: int, rng: np.random.Generator
) -> np.ndarray:
    """`length` samples of `noise` from a random offset, wrapping around (the
    noise is tiled) when it is shorter than what is needed.

    Args:
        noise: (m,) with m >= 1.
        length: samples wanted, >= 0.
    Returns:
        (length,) float32.
    Raises:
        ValueError: `noise` is empty or `length` negative.
    """
    noise = np.asarray(noise, np.float32)
    if noise.ndim != 1 or noise.size == 0:
        raise ValueError(f"noise must be a non-empty 1-D array, got {noise.shape}")
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    start = int(rng.integers(noise.size))
    return noise[(start + np.arange(length)) % noise.size]


def snr_gain(speech: np.ndarray, noise: np.ndarray, snr: float) -> float:
    """The factor `g` with `snr_db(speech, g * noise) == snr` (0.0 for silent
    speech, which no noise level can put at a finite SNR).

    Raises:
        ValueError: `snr` is not finite, or `noise` is silent.
    """
    if not math.isfinite(snr):
        raise ValueError(f"snr must be finite, got {snr}")
    p_noise = power(noise)
    if p_noise == 0.0:
        raise ValueError("noise is silent (all zeros): no gain reaches an SNR")
    return math.sqrt(power(speech) / (p_noise * 10.0 ** (snr / 10.0)))


def mix_at_snr(
    speech: np.ndarray,
    noise: np.ndarray,
    snr: float,
    rng: np.random.Generator,
    pad_samples: int = 0,
) -> np.ndarray:
    """Speech plus noise at exactly `snr` dB, optionally padded with noise.

    A segment of `len(speech) + 2 * pad_samples` noise samples is taken from a
    random offset (`noise_segment`); its gain is set from the part under the
    speech, so the SNR over the speech is `snr` (to float32 rounding), and the
    padding before and after carries the same noise at the same level.

    Args:
        speech: (n,) float, the clean signal.
        noise: (m,) float, any length >= 1 (tiled if shorter).
        snr: dB, finite.
        rng: the only source of randomness (the offset).
        pad_samples: samples added before and after, >= 0.
    Returns:
        (n + 2 * pad_samples,) float32.
    Raises:
        ValueError: empty or silent noise, a non-finite `snr`, negative pad.
    """
    if pad_samples < 0:
        raise ValueError(f"pad_samples must be >= 0, got {pad_samples}")
    speech = np.asarray(speech, np.float32)
    seg = noise_segment(noise, speech.size + 2 * pad_samples, rng)
    under = seg[pad_samples : pad_samples + speech.size]
    gain = snr_gain(speech, under, snr)
    out = (gain * seg.astype(np.float64)).astype(np.float32)
    out[pad_samples : pad_samples + speech.size] += speech
    return out


def pad_silence(
    audio: np.ndarray,
    pad_samples: int,
    level_dbfs: float = -math.inf,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """`audio` with `pad_samples` of near-silence before and after.

    Args:
        audio: (n,) float.
        pad_samples: >= 0.
        level_dbfs: Gaussian white noise at this RMS level in the padding;
            `-inf` gives digital silence (zeros).
        rng: needed for a finite `level_dbfs`.
    Returns:
        (n + 2 * pad_samples,) float32; the middle is `audio` unchanged.
    Raises:
        ValueError: negative pad, a level above 0 dBFS, or no `rng` for noise.
    """
    if pad_samples < 0:
        raise ValueError(f"pad_samples must be >= 0, got {pad_samples}")
    if level_dbfs > 0 or math.isnan(level_dbfs):
        raise ValueError(f"level_dbfs must be <= 0 or -inf, got {level_dbfs}")
    audio = np.asarray(audio, np.float32)
    out = np.zeros(audio.size + 2 * pad_samples, np.float32)
    if pad_samples and math.isfinite(level_dbfs):
        if rng is None:
            raise ValueError("pad_silence needs an rng for a noise floor")
        sigma = 10.0 ** (level_dbfs / 20.0)
        out[:] = sigma * rng.standard_normal(out.size)
    out[pad_samples : pad_samples + audio.size] = audio
    return out
