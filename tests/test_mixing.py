"""asr.mixing: exact SNR, exact padding, determinism."""

import math

import numpy as np
import pytest

from asr.mixing import (
    mix_at_snr,
    noise_segment,
    pad_silence,
    snr_db,
    utterance_rng,
)
from tests.conftest import speechlike


@pytest.fixture(scope="module")
def speech():
    return speechlike(1.0, seed=3)


@pytest.fixture(scope="module")
def noise():
    # Coloured, non-stationary noise, shorter than the speech: it must be tiled.
    r = np.random.default_rng(7)
    n = np.cumsum(r.standard_normal(5000)).astype(np.float32)
    return (n - n.mean()) / 50 * np.linspace(0.2, 1.0, 5000, dtype=np.float32)


@pytest.mark.parametrize("snr", [30.0, 20.0, 10.0, 5.0, 0.0, -5.0, 7.5])
@pytest.mark.parametrize("pad", [0, 4000])
def test_mix_reaches_the_requested_snr_over_the_speech(speech, noise, snr, pad):
    out = mix_at_snr(speech, noise, snr, utterance_rng(0, "u"), pad_samples=pad)
    assert out.dtype == np.float32
    assert len(out) == len(speech) + 2 * pad
    added = out[pad : pad + len(speech)].astype(np.float64) - speech
    assert abs(snr_db(speech, added) - snr) < 0.1
    if pad:  # the padding carries the same noise at the same gain
        assert np.std(out[:pad]) > 0 and np.std(out[-pad:]) > 0


def test_noise_shorter_than_needed_is_tiled(noise):
    seg = noise_segment(noise, 3 * len(noise), np.random.default_rng(1))
    assert len(seg) == 3 * len(noise)
    np.testing.assert_array_equal(seg[: len(noise)], seg[len(noise) : 2 * len(noise)])
    start = int(np.flatnonzero(noise == seg[0])[0])
    np.testing.assert_array_equal(seg[: len(noise) - start], noise[start:])


@pytest.mark.parametrize("pad", [0, 1, 160, 16000])
def test_pad_silence_adds_exactly_pad_samples_each_side(speech, pad):
    out = pad_silence(speech, pad, -60.0, np.random.default_rng(0))
    assert len(out) == len(speech) + 2 * pad
    np.testing.assert_array_equal(out[pad : pad + len(speech)], speech)
    zeros = pad_silence(speech, pad, -math.inf)
    assert len(zeros) == len(speech) + 2 * pad
    assert not zeros[:pad].any() and not zeros[pad + len(speech) :].any()


def test_pad_floor_has_the_requested_level(speech):
    out = pad_silence(speech, 16000, -60.0, np.random.default_rng(0))
    edges = np.concatenate([out[:16000], out[-16000:]]).astype(np.float64)
    level = 20 * math.log10(np.sqrt(np.mean(edges**2)))
    assert abs(level - -60.0) < 0.2


def test_same_seed_and_key_give_the_same_mix_another_seed_differs(speech, noise):
    def mix(seed, key):
        return mix_at_snr(speech, noise, 5.0, utterance_rng(seed, key), 800)

    np.testing.assert_array_equal(mix(0, "a.wav"), mix(0, "a.wav"))
    assert not np.array_equal(mix(0, "a.wav"), mix(1, "a.wav"))
    assert not np.array_equal(mix(0, "a.wav"), mix(0, "b.wav"))
    # Stable across processes and machines (a hash, not `hash()`): pinned.
    assert utterance_rng(0, "a.wav").integers(1 << 30) == 101366451


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: mix_at_snr(s, np.zeros(100), 10, np.random.default_rng()), "silent"),
        (lambda s: mix_at_snr(s, np.zeros(0), 10, np.random.default_rng()), "empty"),
        (lambda s: mix_at_snr(s, s, math.inf, np.random.default_rng()), "finite"),
        (lambda s: mix_at_snr(s, s, 10, np.random.default_rng(), -1), ">= 0"),
        (lambda s: pad_silence(s, -5), ">= 0"),
        (lambda s: pad_silence(s, 5, 3.0), "<= 0"),
        (lambda s: pad_silence(s, 5, -60.0), "rng"),
    ],
)
def test_bad_arguments_raise_value_error(speech, call, message):
    with pytest.raises(ValueError, match=message):
        call(speech)


def test_silent_speech_gets_no_noise(noise):
    out = mix_at_snr(np.zeros(1000, np.float32), noise, 10, np.random.default_rng())
    assert not out.any()
