"""Synthetic room impulse responses and their reverberation time (numpy only).

`room_impulse_response(rt60, drr_db, rng)` builds a statistical room response:
a direct-path impulse at sample 0, a few early reflections in the first 30 ms
and a diffuse tail of Gaussian noise under an exponential envelope that falls
60 dB in `rt60` seconds (energy decays as exp(-13.8 t / rt60)). The direct path
sits at sample 0, so convolving and keeping the first `len(audio)` samples
leaves every sound where it was (a CTC alignment does not shift). The response
is scaled to unit energy, so reverberation keeps the clip's level roughly.

`impulse_response_pool` draws many such responses from one seed (the training
pipeline builds one pool and picks from it per utterance); `estimate_rt60`
measures RT60 back from a response by Schroeder backward integration with a
line fitted between -5 and -35 dB (T30), as ISO 3382 does.

No room geometry: pyroomacoustics simulates shoebox rooms if one needs that,
but these responses have the two properties a recogniser must learn to ignore,
the decay time and the direct-to-reverberant energy ratio (DRR).
"""

from __future__ import annotations

import math

import numpy as np

from asr.audio import SAMPLE_RATE

# The response runs until the envelope is this many times RT60 long (72 dB down).
_LENGTH_RT60 = 1.2
_DECAY_DB = 60.0


def room_impulse_response(
    rt60: float,
    drr_db: float,
    rng: np.random.Generator,
    sample_rate: int = SAMPLE_RATE,
    reflections: int = 6,
) -> np.ndarray:
    """One synthetic room response.

    Args:
        rt60: reverberation time in seconds (60 dB decay), > 0.
        drr_db: direct-to-reverberant ratio: direct-path energy over the
            energy of everything after it, in dB.
        rng: the source of randomness.
        reflections: early reflections between 2 and 30 ms, each a signed
            impulse under the same envelope (0 for none).
    Returns:
        (ceil(1.2 * rt60 * sample_rate),) float32 with sum of squares 1 and
        its largest value (the direct path) at index 0.
    Raises:
        ValueError: rt60 <= 0.
    """
    if not rt60 > 0:
        raise ValueError(f"room_impulse_response: rt60 must be > 0, got {rt60}")
    n = max(2, math.ceil(_LENGTH_RT60 * rt60 * sample_rate))
    t = np.arange(n) / sample_rate
    # Amplitude falls 60 dB over rt60: exp(-a t) with a = 3 ln(10) / rt60.
    envelope = np.exp(-(_DECAY_DB / 20.0) * math.log(10.0) * t / rt60)
    tail = rng.standard_normal(n) * envelope
    tail[0] = 0.0
    if reflections:
        lo, hi = int(0.002 * sample_rate), min(n - 1, int(0.030 * sample_rate))
        if hi > lo:
            where = rng.integers(lo, hi, reflections)
            signs = rng.choice([-1.0, 1.0], reflections)
            # As strong as the tail's standard deviation up to 3x, at that delay.
            tail[where] += signs * envelope[where] * rng.uniform(1.0, 3.0, reflections)
    tail *= math.sqrt(10.0 ** (-drr_db / 10.0) / np.sum(tail**2))
    h = tail
    h[0] = 1.0
    return (h / math.sqrt(np.sum(h**2))).astype(np.float32)


def impulse_response_pool(
    count: int,
    rt60_range: tuple[float, float],
    drr_db_range: tuple[float, float],
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
) -> tuple[np.ndarray, np.ndarray]:
    """`count` responses with RT60 and DRR drawn uniformly from the ranges.

    Returns:
        irs: (count, longest) float32, shorter responses zero-padded at the end.
        rt60s: (count,) float64, the RT60 each was built with.
    """
    rng = np.random.default_rng(seed)
    rt60s = rng.uniform(rt60_range[0], rt60_range[1], count)
    drrs = rng.uniform(drr_db_range[0], drr_db_range[1], count)
    irs = [room_impulse_response(r, d, rng, sample_rate) for r, d in zip(rt60s, drrs)]
    out = np.zeros((count, max(len(h) for h in irs)), np.float32)
    for i, h in enumerate(irs):
        out[i, : len(h)] = h
    return out, rt60s


def estimate_rt60(
    ir: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    fit_db: tuple[float, float] = (-5.0, -35.0),
) -> float:
    """RT60 of a response by Schroeder backward integration (T30 by default).

    The energy decay curve EDC(t) = sum of h^2 from t to the end, in dB
    relative to its start; a least-squares line through the points between
    `fit_db[0]` and `fit_db[1]` is extended to -60 dB.

    Args:
        ir: (samples,) the response.
    Returns:
        Seconds.
    Raises:
        ValueError: the decay never reaches `fit_db[1]`.
    """
    energy = np.asarray(ir, np.float64) ** 2
    edc = np.cumsum(energy[::-1])[::-1]
    edc_db = 10.0 * np.log10(np.maximum(edc / edc[0], 1e-300))
    inside = np.flatnonzero((edc_db <= fit_db[0]) & (edc_db >= fit_db[1]))
    if len(inside) < 2 or edc_db.min() > fit_db[1]:
        raise ValueError(f"estimate_rt60: the decay never reaches {fit_db[1]} dB")
    slope, _ = np.polyfit(inside / sample_rate, edc_db[inside], 1)  # dB per second
    return float(-_DECAY_DB / slope)
