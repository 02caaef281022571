"""Broken and odd-but-valid audio files, as a messy corpus holds them."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.conftest import speechlike


@dataclass(frozen=True)
class Clip:
    """One file of the messy corpus: `reason` is a fragment of the reason
    train gives for skipping it (None: good or odd-but-valid, must be used);
    `duration` is what a manifest would record (1.0 where there is none)."""

    name: str
    text: str
    duration: float
    reason: str | None = None


def _flac_bytes(wave: np.ndarray, rate: int = 16000, subtype="PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, rate, format="FLAC", subtype=subtype)
    return buf.getvalue()


def write_clip(path: Path, kind: str, seed: int = 0) -> float:
    """Writes one file of `kind` at `path`; returns its true duration (1.0 for
    files without one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wave = speechlike(0.8, seed=seed)
    if kind == "good":
        sf.write(path, wave, 16000, subtype="PCM_16")
        return 0.8
    if kind == "pcm8":
        sf.write(path, wave, 16000, subtype="PCM_U8")
        return 0.8
    if kind == "pcm24":
        sf.write(path, wave, 16000, subtype="PCM_24", format=_fmt(path))
        return 0.8
    if kind == "stereo44k":
        w = speechlike(0.8, seed=seed, sr=44100)
        sf.write(path, np.stack([w, 0.5 * w], axis=1), 44100, format=_fmt(path))
        return len(w) / 44100
    if kind == "truncated_flac":
        data = _flac_bytes(speechlike(2.0, seed=seed))
        path.write_bytes(data[: len(data) * 3 // 5])
        return 2.0
    if kind == "zero_length":
        path.write_bytes(b"")
        return 1.0
    if kind == "random_bytes":
        path.write_bytes(np.random.default_rng(seed).bytes(4096))
        return 1.0
    if kind == "text":
        path.write_text("This is a README, not audio.\n" * 20)
        return 1.0
    if kind == "nan":
        w = wave.copy()
        w[::7] = np.nan
        sf.write(path, w, 16000, subtype="FLOAT", format=_fmt(path))
        return 0.8
    if kind == "one_ms":
        sf.write(path, wave[:16], 16000, subtype="PCM_16", format=_fmt(path))
        return 0.001
    if kind == "missing":
        return 1.0
    raise ValueError(kind)


def _fmt(path: Path) -> str:
    return "FLAC" if path.suffix == ".flac" else "WAV"


# name -> (kind, transcript, expected reason fragment or None)
MESSY = {
    "good0.wav": ("good", "ab", None),
    "good1.flac": ("good", "ba", None),
    "good2.wav": ("good", "ab", None),
    "pcm8.wav": ("pcm8", "ab", None),
    "pcm24.wav": ("pcm24", "ba", None),
    "stereo44k.wav": ("stereo44k", "ab", None),
    "truncated.flac": ("truncated_flac", "ba", "truncated"),
    "zero_length.wav": ("zero_length", "ab", "empty file"),
    "random.wav": ("random_bytes", "ba", "unreadable"),
    "missing.wav": ("missing", "ab", "not found"),
    "text.flac": ("text", "ba", "unreadable"),
    "nan.wav": ("nan", "ab", "NaN"),
    "one_ms.wav": ("one_ms", "abab", "too short"),
    "oov.wav": ("good", "\u4f60\u597d", "vocabulary"),
}
BAD = sorted(name for name, (_, _, reason) in MESSY.items() if reason)
USABLE = sorted(name for name, (_, _, reason) in MESSY.items() if not reason)


def make_messy_corpus(folder: Path) -> dict[str, Clip]:
    """Writes every file of `MESSY` into `folder`; returns name -> Clip with
    the duration a header-reading tool would record."""
    clips = {}
    for i, (name, (kind, text, reason)) in enumerate(MESSY.items()):
        duration = write_clip(folder / name, kind, seed=i)
        clips[name] = Clip(name, text, duration, reason)
    return clips
