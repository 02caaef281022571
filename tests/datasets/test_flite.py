"""Tests for flite voices (asr.datasets.flite) and the flite synthetic corpus."""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest

from asr.audio import SAMPLE_RATE
from asr.datasets import flite, synthetic
from asr.datasets.espeak import SynthesisError
from asr.manifest import read_manifest

needs_flite = pytest.mark.skipif(
    flite.flite_binary() is None,
    reason="the flite program is not installed (apt-get install flite)",
)
TEXT = "the quick brown fox jumps over the lazy dog"


def _median_f0(audio: np.ndarray) -> float:
    f0, _, _ = librosa.pyin(audio, fmin=50, fmax=500, sr=SAMPLE_RATE)
    return float(np.nanmedian(f0))


@needs_flite
def test_every_voice_speaks_deterministically_at_16k():
    voices = flite.flite_voices()
    assert {"flite:awb", "flite:rms", "flite:slt", "flite:kal16"} <= set(voices)
    for voice in voices:
        audio = flite.synthesize_flite(TEXT, voice)
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert 1.5 < len(audio) / SAMPLE_RATE < 5.0
        assert np.sqrt(np.mean(audio**2)) > 0.01 and np.abs(audio).max() <= 1.0
        # About 150 ms of silence kept at each end, as espeak-ng clips.
        pad = int(0.1 * SAMPLE_RATE)
        assert np.abs(audio[:pad]).max() < 0.02 and np.abs(audio[-pad:]).max() < 0.02
        assert np.array_equal(audio, flite.synthesize_flite(TEXT, voice))


@needs_flite
def test_pitch_moves_f0_by_the_asked_factor_and_rate_sets_length():
    low = flite.synthesize_flite(TEXT, "flite:slt", pitch=20)
    high = flite.synthesize_flite(TEXT, "flite:slt", pitch=80)
    assert _median_f0(high) / _median_f0(low) == pytest.approx(2**0.6, rel=0.08)
    assert _median_f0(low) == pytest.approx(flite.pitch_hz("flite:slt", 20), rel=0.08)
    slow = flite.synthesize_flite(TEXT, "flite:rms", rate_wpm=120)
    fast = flite.synthesize_flite(TEXT, "flite:rms", rate_wpm=240)
    pad = 2 * int(0.15 * SAMPLE_RATE)
    assert (len(slow) - pad) / (len(fast) - pad) == pytest.approx(2.0, rel=0.1)


@needs_flite
def test_formant_scale_moves_the_spectrum_and_keeps_pitch_and_length():
    plain = flite.synthesize_flite(TEXT, "flite:awb")
    centroid, f0 = {}, {}
    for scale in (0.87, 1.15):
        audio = flite.synthesize_flite(TEXT, "flite:awb", formant_scale=scale)
        assert abs(len(audio) - len(plain)) < 0.1 * len(plain)
        power = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(len(audio), 1 / SAMPLE_RATE)
        centroid[scale] = float((power * freqs).sum() / power.sum())
        f0[scale] = _median_f0(audio)
    assert centroid[1.15] > 1.15 * centroid[0.87]
    assert f0[1.15] / f0[0.87] == pytest.approx(1.0, abs=0.08)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text": " ", "voice": "flite:slt"},
        {"text": "hi", "voice": "slt"},
        {"text": "hi", "voice": "flite:nobody"},
        {"text": "hi", "voice": "flite:slt", "rate_wpm": 20},
        {"text": "hi", "voice": "flite:slt", "pitch": 120},
        {"text": "hi", "voice": "flite:slt", "formant_scale": 2.0},
    ],
)
def test_bad_arguments_are_refused_before_flite_runs(kwargs, monkeypatch):
    monkeypatch.setattr(flite, "flite_binary", lambda: None)
    with pytest.raises(ValueError):
        flite.synthesize_flite(**kwargs)


def test_a_missing_flite_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(flite, "flite_binary", lambda: None)
    with pytest.raises(SynthesisError, match="apt-get install flite"):
        flite.synthesize_flite("hello", "flite:slt")
    with pytest.raises(SynthesisError, match="apt-get install flite"):
        synthetic.prepare_synthetic(tmp_path / "c", hours=0.01, engine="flite")
    assert not (tmp_path / "c").exists()  # refused before any file is written
    with pytest.raises(ValueError, match="engine"):
        synthetic.prepare_synthetic(tmp_path / "c", hours=0.01, engine="festival")


@needs_flite
def test_flite_corpus_speaks_open_sentences_with_flite_voices(tmp_path):
    out = tmp_path / "flite"
    synthetic.prepare_synthetic(out, hours=0.01, seed=0, workers=1, engine="flite")
    rows = {s: read_manifest(out / f"{s}.jsonl") for s in synthetic.SPLITS}
    every = [u for us in rows.values() for u in us]
    assert all(rows.values())
    voices = {dict(u.extra)["voice"] for u in every}
    assert voices <= set(flite.flite_voices()) and len(voices) >= 2
    assert all(dict(u.extra)["word_gap"] == 0 for u in every)
    texts = {s: {u.text for u in us} for s, us in rows.items()}
    assert not texts["train"] & (texts["dev"] | texts["test"])
    held_out = set((out / "held_out_words.test.txt").read_text().split())
    assert all(set(t.split()) & held_out for t in texts["test"])
    done = json.loads((out / ".completed").read_text())
    assert done["engine"] == "flite"
    metadata = json.loads((out / "metadata.json").read_text())
    assert "flite" in metadata and "shared" in metadata["voice_partition"]
    # A rerun reuses every clip.
    before = {p: p.read_bytes() for p in out.rglob("*.flac")}
    synthetic.prepare_synthetic(out, hours=0.01, seed=0, workers=1, engine="flite")
    assert {p: p.read_bytes() for p in out.rglob("*.flac")} == before
