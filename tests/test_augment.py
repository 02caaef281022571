"""Waveform augmentation measured: SNR, silence lengths, noise floor level,
RT60, VTLP frequency shift, gain, generated noise spectra, and that it is all
off (bit-identical audio) by default."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import tensorflow as tf

from asr.audio import load_audio
from asr.augment import (
    band_limit,
    reverberate,
    warp_frequencies,
    waveform_augmenter,
)
from asr.cli import main
from asr.config import AugmentConfig, ConfigError, load_config
from asr.datasets.noise import KINDS, WORLD_KINDS, make_noise, prepare_noise
from asr.datasets.sounds import colored_noise
from asr.manifest import Utterance
from asr.reverb import estimate_rt60, impulse_response_pool, room_impulse_response
from asr.spec_augment import SpecAugment
from asr.training.pipeline import make_dataset
from tests.conftest import speechlike
from tests.layers_test_case import run_layer_test

SR = 16000


def _run(cfg: AugmentConfig, audio: np.ndarray, noise=None, times: int = 1):
    fn = tf.function(waveform_augmenter(cfg, noise))
    x = tf.constant(audio, tf.float32)
    return [fn(x).numpy() for _ in range(times)]


def _db(power_ratio: float) -> float:
    return float(10 * np.log10(power_ratio))


def _tone(freq: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _centroid(audio: np.ndarray) -> float:
    power = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    return float(np.sum(power * np.fft.rfftfreq(len(audio), 1 / SR)) / power.sum())


def _slope_db_per_octave(audio: np.ndarray, lo=100.0, hi=6000.0) -> float:
    n = 4096
    frames = audio[: len(audio) // n * n].reshape(-1, n) * np.hanning(n)
    psd = np.mean(np.abs(np.fft.rfft(frames)) ** 2, axis=0)
    f = np.fft.rfftfreq(n, 1 / SR)
    band = (f >= lo) & (f <= hi)
    return float(np.polyfit(np.log2(f[band]), 10 * np.log10(psd[band]), 1)[0])


# -- off by default ----------------------------------------------------------------
def test_default_config_and_zero_probabilities_augment_nothing():
    assert waveform_augmenter(AugmentConfig()) is None
    zero = AugmentConfig(
        vtlp_range=(0.8, 1.2),
        rt60_range=(0.5, 1.0),
        pad_silence_max_s=2.0,
        noise_floor_dbfs=(-60.0, -40.0),
        noise_dir="somewhere",
    )
    assert waveform_augmenter(zero, np.ones(100, np.float32)) is None


def test_training_pipeline_with_defaults_is_bit_identical(tmp_path):
    audio = speechlike(0.6)
    sf.write(tmp_path / "a.wav", audio, SR, subtype="FLOAT")
    rows = [Utterance(str(tmp_path / "a.wav"), 0.6, "ab")]
    cfg = load_config()
    (x_train, _), (x_eval, _) = (
        next(iter(make_dataset(rows, cfg, training=t))) for t in (True, False)
    )
    np.testing.assert_array_equal(x_train["audio"].numpy(), x_eval["audio"].numpy())
    np.testing.assert_array_equal(x_train["audio"].numpy()[0], audio)


# -- additive noise and silence padding --------------------------------------------
def test_noise_snr_counts_the_clip_before_padding():
    """A constant noise file makes the mixed noise a constant `d` everywhere:
    the padded stretches equal `d` exactly, and SNR = P(clean) / d^2."""
    rng = np.random.default_rng(0)
    clean = (0.2 * rng.standard_normal(4000)).astype(np.float32)
    p_clean = float(np.mean(clean.astype(np.float64) ** 2))
    cfg = AugmentConfig(
        noise_prob=1.0,
        noise_snr_db=(12.0, 12.0),
        pad_silence_prob=1.0,
        pad_silence_max_s=0.1,
    )
    befores = set()
    for out in _run(cfg, clean, [np.full(700, 0.25, np.float32)], times=12):
        extra = len(out) - len(clean)
        assert 0 <= extra <= 2 * 1600
        # Padding ends where the output first changes: at that sample or next.
        first = int(np.flatnonzero(np.diff(out) != 0)[0])
        before = min(
            (first, first + 1),
            key=lambda b: np.std(out[b : b + len(clean)] - clean),
        )
        after = extra - before
        assert 0 <= before <= 1600 and 0 <= after <= 1600
        d = float(np.mean(out[before : before + len(clean)] - clean))
        pads = np.concatenate([out[:before], out[len(out) - after :]])
        np.testing.assert_allclose(pads, d, rtol=1e-6)  # silence plus noise only
        np.testing.assert_allclose(
            out[before : before + len(clean)], clean + d, atol=1e-6
        )
        assert abs(_db(p_clean / d**2) - 12.0) < 0.5
        befores.add(before)
    assert len(befores) > 3  # lengths are drawn, not fixed


def test_noise_from_short_files_is_tiled_and_mixed_at_the_drawn_snr():
    rng = np.random.default_rng(1)
    clean = (0.1 * rng.standard_normal(SR)).astype(np.float32)
    short = rng.standard_normal(3000).astype(np.float32)
    cfg = AugmentConfig(noise_prob=1.0, noise_snr_db=(0.0, 25.0))
    snrs = []
    for out in _run(cfg, clean, [short], times=8):
        mixed = out.astype(np.float64) - clean
        np.testing.assert_allclose(mixed[:-3000], mixed[3000:], atol=1e-6)  # period
        snrs.append(_db(np.mean(clean.astype(np.float64) ** 2) / np.mean(mixed**2)))
    assert all(-0.5 <= s <= 25.5 for s in snrs)
    assert max(snrs) - min(snrs) > 3.0


def test_one_noise_file_is_picked_per_utterance():
    clean = np.full(800, 0.1, np.float32)
    files = [np.full(50, 1.0, np.float32), np.full(90, -1.0, np.float32)]
    cfg = AugmentConfig(noise_prob=1.0, noise_snr_db=(10.0, 10.0))
    signs = {
        float(np.sign(np.mean(out - clean))) for out in _run(cfg, clean, files, 20)
    }
    assert signs == {1.0, -1.0}


@pytest.mark.parametrize("mix_prob", [1.0, 0.0])
def test_noise_mix_adds_a_second_excerpt_at_the_relative_level(mix_prob):
    """A constant file and an alternating one: a mixture of the two is a DC
    part plus a +-1 part whose powers differ by `noise_mix_db`, and the sum
    still meets the drawn SNR."""
    rng = np.random.default_rng(2)
    clean = (0.1 * rng.standard_normal(4000)).astype(np.float32)
    p_clean = float(np.mean(clean.astype(np.float64) ** 2))
    files = [np.full(50, 1.0, np.float32), np.tile([1.0, -1.0], 45).astype(np.float32)]
    cfg = AugmentConfig(
        noise_prob=1.0,
        noise_snr_db=(10.0, 10.0),
        noise_mix_prob=mix_prob,
        noise_mix_db=(-6.0, -6.0),
    )
    mixtures = 0
    for out in _run(cfg, clean, files, times=24):
        noise = out.astype(np.float64) - clean
        assert abs(_db(p_clean / np.mean(noise**2)) - 10.0) < 0.5
        dc = float(np.mean(noise))
        ac = float(np.mean((noise - dc) ** 2))
        if dc**2 > 1e-9 and ac > 1e-9:  # one excerpt of each file
            assert abs(abs(_db(ac / dc**2)) - 6.0) < 0.5
            mixtures += 1
    assert (mixtures > 0) == (mix_prob > 0)


def test_silence_padding_lengths_match_the_zero_runs():
    clean = np.linspace(0.2, 0.6, 3000, dtype=np.float32)  # no zeros inside
    cfg = AugmentConfig(pad_silence_prob=1.0, pad_silence_max_s=0.05)  # 800
    lengths = set()
    for out in _run(cfg, clean, times=15):
        nonzero = np.flatnonzero(out)
        before, after = int(nonzero[0]), len(out) - 1 - int(nonzero[-1])
        assert 0 <= before <= 800 and 0 <= after <= 800
        assert len(out) == len(clean) + before + after
        np.testing.assert_array_equal(out[before : before + len(clean)], clean)
        lengths.update((before, after))
    assert len(lengths) > 5


def _quiet_speech_quiet():
    rng = np.random.default_rng(0)
    hiss = lambda n: (rng.standard_normal(n) * 10 ** (-70 / 20)).astype(np.float32)  # noqa: E731
    speech = _tone(440.0, 0.3)
    return np.concatenate([hiss(8000), speech, hiss(6400)]), 8000, len(speech)


def test_trim_cuts_the_silence_to_the_margins():
    clip, onset, length = _quiet_speech_quiet()
    cfg = AugmentConfig(trim_prob=1.0, trim_margin_ms=(0.0, 50.0), time_shift_ms=100.0)
    befores = set()
    for out in _run(cfg, clip, times=12):
        start = int(np.flatnonzero(np.abs(out) > 0.01)[0]) - 1  # the tone starts at 0
        after = len(out) - start - length
        assert 0 <= start <= 800 + 160 and -160 <= after <= 800 + 160  # 50 ms, a frame
        # not time-shifted: the speech is whole
        np.testing.assert_array_equal(
            out[start : start + 100], clip[onset : onset + 100]
        )
        befores.add(start)
    assert len(befores) > 4  # the margins are drawn
    tight = _run(AugmentConfig(trim_prob=1.0, trim_margin_ms=(0.0, 0.0)), clip)[0]
    assert abs(len(tight) - length) <= 2 * 160  # only frame rounding is left


@pytest.mark.parametrize("noise_prob", [1.0, 0.0])
def test_trim_noisy_false_trims_only_clips_without_added_noise(noise_prob):
    """`trim_noisy=False`: a clip that gets noise keeps its silences (its
    length), one that gets none is trimmed as before."""
    clip, _, length = _quiet_speech_quiet()
    noise = np.random.default_rng(1).standard_normal(SR).astype(np.float32)
    cfg = AugmentConfig(
        trim_prob=1.0,
        trim_margin_ms=(0.0, 0.0),
        trim_noisy=False,
        noise_prob=noise_prob,
        noise_snr_db=(20.0, 20.0),
    )
    for out in _run(cfg, clip, noise, times=4):
        if noise_prob:
            assert len(out) == len(clip) and not np.array_equal(out, clip)
        else:
            assert abs(len(out) - length) <= 2 * 160
    noisy_and_trimmed = replace(cfg, trim_noisy=True)
    assert abs(len(_run(noisy_and_trimmed, clip, noise)[0]) - length) <= 2 * 160


def test_trim_keeps_a_clip_without_silence_and_a_short_one():
    cfg = AugmentConfig(trim_prob=1.0)
    tone = _tone(300.0, 0.5)
    np.testing.assert_array_equal(_run(cfg, tone)[0], tone)
    short = np.full(100, 0.2, np.float32)  # under one 10 ms frame
    np.testing.assert_array_equal(_run(cfg, short)[0], short)
    np.testing.assert_array_equal(_run(cfg, np.zeros(SR, np.float32))[0], np.zeros(SR))


def test_noise_floor_sets_the_level_over_the_padded_clip():
    cfg = AugmentConfig(
        pad_silence_prob=1.0,
        pad_silence_max_s=0.1,
        noise_floor_prob=1.0,
        noise_floor_dbfs=(-60.0, -60.0),
    )
    out = _run(cfg, np.zeros(SR, np.float32), times=4)
    for o in out:
        assert np.count_nonzero(o == 0) < 5  # no digital silence left
        assert abs(_db(np.mean(o.astype(np.float64) ** 2)) - -60.0) < 0.1
    wide = replace(cfg, noise_floor_dbfs=(-80.0, -45.0))
    for o in _run(wide, np.zeros(SR, np.float32), times=6):
        assert -80.1 <= _db(np.mean(o.astype(np.float64) ** 2)) <= -44.9


# -- gain -------------------------------------------------------------------------
def test_gain_is_one_factor_within_the_range():
    clean = speechlike(0.3)
    gains = []
    for out in _run(AugmentConfig(gain_db=6.0), clean, times=10):
        ratio = out / np.where(clean == 0, 1, clean)
        g = float(np.median(ratio))
        np.testing.assert_allclose(out, clean * g, rtol=1e-5, atol=1e-8)
        gains.append(20 * np.log10(g))
    assert all(-6.0 <= g <= 6.0 for g in gains)
    assert max(gains) - min(gains) > 2.0


# -- band limit -------------------------------------------------------------------
def _level_db(audio: np.ndarray, freq: float) -> float:
    """The level of `freq` in `audio` (dB, a Hann-windowed FFT bin)."""
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(20 * np.log10(spectrum[int(round(freq * len(audio) / SR))] + 1e-12))


@pytest.mark.parametrize("cutoff", [3400.0, 4000.0, 6000.0])
def test_band_limit_keeps_what_is_below_and_removes_what_is_above(cutoff):
    low, high = _tone(1000.0, 1.1), _tone(cutoff + 300.0, 1.1)
    for n in (SR, SR + 1):  # odd lengths too
        out = band_limit(tf.constant((low + high)[:n]), cutoff).numpy()
        assert out.shape == (n,)
        assert abs(_level_db(out, 1000.0) - _level_db(low[:n], 1000.0)) < 0.1
        assert _level_db(out, cutoff + 300.0) < _level_db(high[:n], cutoff + 300.0) - 60


def test_band_limit_at_nyquist_changes_nothing():
    clean = speechlike(0.5)
    np.testing.assert_allclose(band_limit(tf.constant(clean), 8000.0), clean, atol=1e-5)


def test_bandwidth_is_drawn_from_the_range_and_covers_the_noise_floor():
    cfg = AugmentConfig(
        bandwidth_prob=1.0,
        bandwidth_hz=(3000.0, 5000.0),
        noise_floor_prob=1.0,
        noise_floor_dbfs=(-40.0, -40.0),
    )
    edges = []
    for out in _run(cfg, np.zeros(SR, np.float32), times=8):
        power = np.abs(np.fft.rfft(out)) ** 2
        freqs = np.fft.rfftfreq(len(out), 1 / SR)
        assert power[freqs > 5000].sum() < 1e-9 * power.sum()
        # the highest frequency with 1 % of the floor's mean power
        loud = np.nonzero(power > 0.01 * power[freqs < 2000].mean())[0]
        edges.append(freqs[loud[-1]])
    assert all(2800 <= e <= 5000 for e in edges)
    assert max(edges) - min(edges) > 300  # drawn per utterance


# -- reverberation ----------------------------------------------------------------
@pytest.mark.parametrize("rt60_range", [(0.2, 0.8), (0.8, 1.5)])
def test_generated_responses_have_the_requested_rt60(rt60_range):
    irs, rt60s = impulse_response_pool(16, rt60_range, (0.0, 10.0), seed=3)
    assert rt60_range[0] <= rt60s.min() and rt60s.max() <= rt60_range[1]
    for ir, rt60 in zip(irs, rt60s):
        assert abs(estimate_rt60(ir) / rt60 - 1) < 0.15
        assert np.argmax(np.abs(ir)) == 0  # direct path first
        assert abs(np.sum(ir.astype(np.float64) ** 2) - 1) < 1e-4


def test_response_pool_is_deterministic_given_the_seed():
    a, _ = impulse_response_pool(4, (0.2, 0.8), (0.0, 10.0), seed=7)
    b, _ = impulse_response_pool(4, (0.2, 0.8), (0.0, 10.0), seed=7)
    c, _ = impulse_response_pool(4, (0.2, 0.8), (0.0, 10.0), seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_reverb_keeps_length_and_alignment():
    ir = room_impulse_response(0.5, 3.0, np.random.default_rng(0))
    audio = np.zeros(SR, np.float32)
    audio[1000] = 1.0
    out = reverberate(tf.constant(audio), tf.constant(ir)).numpy()
    assert len(out) == SR
    assert int(np.argmax(np.abs(out))) == 1000
    np.testing.assert_allclose(out[1000:1200], ir[:200], atol=1e-5)
    assert np.abs(out[:1000]).max() < 1e-5  # nothing before the direct sound
    cfg = AugmentConfig(reverb_prob=1.0, rt60_range=(0.3, 0.3))
    (out,) = _run(cfg, audio)
    assert len(out) == SR and int(np.argmax(np.abs(out))) == 1000


# -- VTLP -------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.9, 1.1])
def test_vtlp_moves_a_tone_by_alpha_and_keeps_the_length(alpha):
    tone = _tone(1000.0)
    out = warp_frequencies(tf.constant(tone), alpha).numpy()
    assert len(out) == len(tone)
    assert abs(_centroid(out) - 1000.0 * alpha) < 10.0
    level = _db(np.mean(out[2000:-2000] ** 2) / np.mean(tone**2))
    assert abs(level) < 0.5


def test_vtlp_shifts_the_formants_of_a_harmonic_sound():
    t = np.arange(SR) / SR
    # 120 Hz harmonics under one formant at 1 kHz.
    wave = sum(
        np.exp(-(((k * 120 - 1000) / 300) ** 2)) * np.sin(2 * np.pi * k * 120 * t)
        for k in range(1, 40)
    ).astype(np.float32)
    base = _centroid(wave)
    up = _centroid(warp_frequencies(tf.constant(wave), 1.1).numpy())
    down = _centroid(warp_frequencies(tf.constant(wave), 0.9).numpy())
    assert down < base < up
    assert abs(up / base - 1.1) < 0.03 and abs(down / base - 0.9) < 0.03
    cfg = AugmentConfig(vtlp_prob=1.0, vtlp_range=(1.1, 1.1))
    (out,) = _run(cfg, wave)
    assert len(out) == len(wave) and abs(_centroid(out) / base - 1.1) < 0.03


# -- everything at once, in the pipeline ------------------------------------------
def test_augment_real_config_trains_through_the_pipeline(tmp_path):
    audio = speechlike(0.8)
    sf.write(tmp_path / "a.wav", audio, SR, subtype="FLOAT")
    rows = [Utterance(str(tmp_path / "a.wav"), 0.8, "ab")]
    cfg = load_config("configs/augment_real.yaml")
    cfg = replace(cfg, augment=replace(cfg.augment, noise_dir=None))
    noise = [make_noise("pink", 0, 4000)]
    x, _ = next(iter(make_dataset(rows, cfg, training=True, noise=noise)))
    n = int(x["audio_lengths"][0])
    assert 0.8 / 1.1 * SR - 1 <= n <= (0.8 / 0.9 + 2.0) * SR + 1
    assert np.isfinite(x["audio"].numpy()).all()
    x_eval, _ = next(iter(make_dataset(rows, cfg, training=False, noise=noise)))
    np.testing.assert_array_equal(x_eval["audio"].numpy()[0], audio)


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ("augment.vtlp_range=[1.2, 1.1]", "augment.vtlp_range"),
        ("augment.vtlp_prob=1.5", "augment.vtlp_prob"),
        ("augment.rt60_range=[0, 1]", "augment.rt60_range"),
        ("augment.reverb_prob=-0.1", "augment.reverb_prob"),
        ("augment.noise_floor_dbfs=[-40, 5]", "augment.noise_floor_dbfs"),
        ("augment.pad_silence_max_s=-1", "augment.pad_silence_max_s"),
        ("augment.pad_silence_prob=2", "augment.pad_silence_prob"),
        ("augment.reverb_drr_db=[5]", "augment.reverb_drr_db"),
        ("augment.bandwidth_hz=[4000, 9000]", "augment.bandwidth_hz"),
        ("augment.bandwidth_prob=-1", "augment.bandwidth_prob"),
        ("augment.trim_prob=1.5", "augment.trim_prob"),
        ("augment.trim_margin_ms=[50, 10]", "augment.trim_margin_ms"),
        ("augment.trim_db=0", "augment.trim_db"),
    ],
)
def test_bad_augment_values_name_their_key(item, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(overrides=[item])


# -- generated noise --------------------------------------------------------------
@pytest.mark.parametrize(("kind", "slope"), [("white", 0), ("pink", -3), ("brown", -6)])
def test_colored_noise_spectral_slope(kind, slope):
    noise = colored_noise(kind, 5 * SR, np.random.default_rng(0))
    assert abs(_slope_db_per_octave(noise) - slope) < 0.5
    assert abs(np.sqrt(np.mean(noise**2)) - 1) < 1e-3


def test_babble_is_several_voices_of_the_requested_length():
    out = make_noise("babble", 0, 2 * SR, seed=0)
    assert out.shape == (2 * SR,)
    assert abs(_db(np.mean(out.astype(np.float64) ** 2)) - -20.0) < 0.5
    frames = out[: len(out) // 1600 * 1600].reshape(-1, 1600)
    # Overlapping talkers: no 100 ms stretch is silent.
    assert _db(np.mean(frames**2, axis=1).min()) > -40.0
    np.testing.assert_array_equal(out, make_noise("babble", 0, 2 * SR, seed=0))
    assert not np.array_equal(out, make_noise("babble", 0, 2 * SR, seed=1))


def test_hum_sits_at_the_mains_frequency():
    for index, mains in ((0, 50), (1, 60)):
        spectrum = np.abs(np.fft.rfft(make_noise("hum", index, SR)))
        assert int(np.argmax(spectrum)) in (mains, 3 * mains)  # 1 Hz bins


def test_music_is_tonal_rhythmic_and_left_out_of_the_default_kinds():
    assert "music" not in KINDS  # recipes train on the defaults
    out = make_noise("music", 0, 8 * SR, seed=0).astype(np.float64)
    assert out.shape == (8 * SR,)
    assert abs(_db(np.mean(out**2)) - -20.0) < 0.5
    np.testing.assert_array_equal(out, make_noise("music", 0, 8 * SR, seed=0))
    assert not np.array_equal(out, make_noise("music", 1, 8 * SR, seed=0))
    # Tonal: harmonic peaks, far from white noise's flat spectrum (flatness ~0.56).
    power = np.abs(np.fft.rfft(out[: 2 * SR])) ** 2
    band = power[100:8000]  # 50 Hz - 4 kHz (0.5 Hz bins)
    assert np.exp(np.mean(np.log(band + 1e-20))) / np.mean(band) < 0.05
    # Rhythmic: the hi-hat band's 10 ms energy envelope repeats every eighth
    # note (0.21-0.38 s at 80-140 bpm).
    spec = np.abs(np.fft.rfft(out[: len(out) // 160 * 160].reshape(-1, 160), axis=1))
    envelope = np.log(np.sum(spec[:, 50:] ** 2, axis=1) + 1e-12)  # >= 5 kHz
    envelope -= envelope.mean()
    corr = np.correlate(envelope, envelope, "full")[len(envelope) - 1 :]
    corr /= corr[0]
    peak = 21 + int(np.argmax(corr[21:39]))
    assert corr[peak] > 0.3 and corr[peak] - corr[5:peak].min() > 0.1


def _frame_db(x: np.ndarray, frame: int) -> np.ndarray:
    frames = x[: len(x) // frame * frame].reshape(-1, frame)
    return 10 * np.log10(np.mean(frames**2, axis=1))


def test_everyday_sounds_have_their_character():
    assert not set(WORLD_KINDS) & set(KINDS)  # opt-in: old recipes reproduce
    sounds = {}
    for kind in WORLD_KINDS:
        out = make_noise(kind, 0, 10 * SR, seed=0).astype(np.float64)
        assert abs(_db(np.mean(out**2)) - -20.0) < 0.5, kind
        assert np.abs(out).max() < 0.99, kind  # not clipped
        np.testing.assert_array_equal(out, make_noise(kind, 0, 10 * SR, seed=0))
        assert not np.array_equal(out, make_noise(kind, 1, 10 * SR, seed=0))
        sounds[kind] = out
    white = make_noise("white", 0, 10 * SR).astype(np.float64)

    def kurtosis(x):
        return np.mean((x - x.mean()) ** 4) / np.var(x) ** 2

    def flatness(x):
        band = (np.abs(np.fft.rfft(x[: 2 * SR])) ** 2)[100:8000]  # 50 Hz-4 kHz
        return np.exp(np.mean(np.log(band + 1e-20))) / np.mean(band)

    assert kurtosis(sounds["clatter"]) > 3 * kurtosis(white)  # impacts
    assert flatness(sounds["alarms"]) < 0.1 < flatness(white)  # tones
    seconds = _frame_db(sounds["traffic"], SR)
    assert seconds.max() - seconds.min() > 3  # vehicles pass
    assert np.ptp(_frame_db(sounds["machine"], SR)) < 2  # steady
    spectrum = np.abs(np.fft.rfft(sounds["machine"][: 4 * SR]))[160:8000]  # 40-2000 Hz
    assert _db(spectrum.max() ** 2 / np.median(spectrum) ** 2) > 25  # blade tone


def test_prepare_noise_cli_writes_each_kind_deterministically(tmp_path, capsys):
    args = ["prepare", "noise", "--seconds", "0.5", "--count", "1", "--seed", "4"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--kinds", "pink,hum"]) == 0
    assert "5 noise files" in capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(f"{k}_00.wav" for k in KINDS)
    for name in ("pink_00.wav", "hum_00.wav"):
        a, b = (load_audio(tmp_path / d / name) for d in ("a", "b"))
        assert len(a) == SR // 2
        np.testing.assert_array_equal(a, b)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "hum_00.wav",
        "pink_00.wav",
    ]
    other = prepare_noise(tmp_path / "c", seed=5, seconds=0.5, count=1, kinds=["pink"])
    assert not np.array_equal(
        load_audio(other[0]), load_audio(tmp_path / "a" / "pink_00.wav")
    )


def test_noise_dir_loads_one_signal_per_file(tmp_path):
    from asr.training.fit import _load_noise

    prepare_noise(tmp_path, seconds=0.25, count=2, kinds=["white", "hum"])
    cfg = load_config(
        overrides=[f"augment.noise_dir={tmp_path}", "augment.noise_prob=0.5"]
    )
    signals = _load_noise(cfg)
    assert [len(s) for s in signals] == [4000] * 4
    empty = tmp_path / "empty"
    empty.mkdir()
    cfg = load_config(overrides=[f"augment.noise_dir={empty}", "augment.noise_prob=1"])
    with pytest.raises(ConfigError, match="asr prepare noise"):
        _load_noise(cfg)


def test_spec_augment_shared_layer_checks_identity_at_inference(tmp_path):
    features = np.random.default_rng(0).normal(size=(2, 30, 8)).astype(np.float32)
    lengths = np.array([30, 12], np.int32)
    layer = run_layer_test(
        SpecAugment,
        {"time_masks": 2, "time_width": 5, "freq_masks": 1, "freq_width": 3, "seed": 1},
        [features, lengths],
        tmp_path,
        reference=lambda layer, features, lengths: features,
        same_in_training=False,  # random masks in training
    )
    masked = np.asarray(layer(features, lengths, training=True))
    assert 0 < (masked == 0).mean() < 0.9
