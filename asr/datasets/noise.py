"""Noise for training augmentation, made here: nothing to download.

`prepare_noise(out, seed)` writes 16 kHz mono WAV files `OUT/{kind}_{i:02d}.wav`
for each kind in `KINDS`, so a folder of them serves as `augment.noise_dir` and a
glob can leave a kind out (`babble_*.wav`):

- `white`: Gaussian noise, flat spectrum.
- `pink`: power falls 3 dB per octave (1/f), by spectral shaping.
- `brown`: power falls 6 dB per octave (1/f^2), by spectral shaping.
- `babble`: 4-8 espeak-ng voices (`asr.datasets.espeak`) saying random
  sentences at once, each at its own level and start.
- `hum`: mains hum with harmonics and a little hiss; even-numbered files at
  50 Hz, odd-numbered at 60 Hz.
- `music` (not in the default `KINDS`, so no recipe trains on it: the noise
  type left out of training for evaluation): a generated pop-like piece,
  chords, bass and a melody of harmonic tones over a drum kit (kick, snare,
  hi-hat), at a random tempo and key.

Colored noise is shaped in the frequency domain (white Gaussian spectrum times
f^(-beta/2)) with the shaping held flat below 20 Hz, so the level is not spent
on inaudible drift; the signal is circular, so tiling it leaves no seam. Every
file is scaled to an RMS of -20 dBFS (training mixes noise at a chosen SNR, so
the level only matters for listening). Everything follows from `seed`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from asr.audio import SAMPLE_RATE, save_audio

KINDS = ("white", "pink", "brown", "babble", "hum")  # the default: training noise
ALL_KINDS = (*KINDS, "music")  # music: left out of training, for evaluation
_BETA = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power ~ 1/f^beta
_CORNER_HZ = 20.0
_LEVEL_DBFS = -20.0


def colored_noise(
    kind: str, samples: int, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """White, pink or brown Gaussian noise.

    Args:
        kind: "white", "pink" or "brown".
        samples: output length.
    Returns:
        (samples,) float32 with RMS 1, zero mean, circular (its end joins its
        start smoothly).
    Raises:
        ValueError: unknown kind.
    """
    if kind not in _BETA:
        raise ValueError(f"colored_noise: unknown kind {kind!r}; known: {list(_BETA)}")
    spectrum = rng.standard_normal(samples // 2 + 1) + 1j * rng.standard_normal(
        samples // 2 + 1
    )
    freqs = np.fft.rfftfreq(samples, 1.0 / sample_rate)
    spectrum *= np.maximum(freqs, _CORNER_HZ) ** (-_BETA[kind] / 2.0)
    spectrum[0] = 0.0
    out = np.fft.irfft(spectrum, samples)
    return (out / max(np.sqrt(np.mean(out**2)), 1e-12)).astype(np.float32)


def hum(
    samples: int,
    rng: np.random.Generator,
    mains_hz: float = 50.0,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Mains hum: `mains_hz` and its harmonics up to 2 kHz (random amplitudes
    falling about 1/k, random phases, a slow 5 % level wobble) plus hiss 30 dB
    below it.

    Returns:
        (samples,) float32 with RMS 1.
    """
    t = np.arange(samples) / sample_rate
    out = np.zeros(samples)
    for k in range(1, int(2000 // mains_hz) + 1):
        amp = rng.uniform(0.3, 1.0) / k
        if k % 2 == 1:  # odd harmonics dominate (transformer saturation)
            amp *= 2.0
        out += amp * np.sin(
            2 * math.pi * k * mains_hz * t + rng.uniform(0, 2 * math.pi)
        )
    out *= 1.0 + 0.05 * np.sin(2 * math.pi * rng.uniform(0.1, 0.5) * t)
    out /= np.sqrt(np.mean(out**2))
    out += 10 ** (-30 / 20) * rng.standard_normal(samples)
    return (out / np.sqrt(np.mean(out**2))).astype(np.float32)


def babble(
    samples: int,
    rng: np.random.Generator,
    speakers: int | None = None,
    sentence_seed: str = "babble",
) -> np.ndarray:
    """Several espeak-ng voices talking over each other.

    Each speaker says random sentences (`generate_sentences`) with a random
    voice, rate and pitch, separated by 0.1-0.6 s pauses, cut in at a random
    point of its first second; speakers are summed at levels within 6 dB of each other.

    Args:
        samples: output length.
        speakers: how many (default: 4 to 8, drawn from `rng`).
        sentence_seed: the sentence stream; varied per file by the caller.
    Returns:
        (samples,) float32 with RMS 1.
    Raises:
        SynthesisError: espeak-ng is missing.
    """
    from asr.datasets.espeak import list_voices, synthesize
    from asr.datasets.sentences import generate_sentences

    voices = list_voices("en")
    count = int(speakers if speakers is not None else rng.integers(4, 9))
    # Sentences last 1-4 s, so this many cover every speaker's share.
    per_speaker = max(2, math.ceil(samples / SAMPLE_RATE) + 2)
    sentences = iter(generate_sentences(count * per_speaker, seed=sentence_seed))
    out = np.zeros(samples)
    for _ in range(count):
        voice = voices[rng.integers(len(voices))]
        rate, pitch = int(rng.integers(130, 211)), int(rng.integers(20, 80))
        # Each talker is already speaking when the clip starts.
        start = int(rng.integers(0, SAMPLE_RATE))
        track: list[np.ndarray] = []
        have = 0
        while have < start + samples:
            clip = synthesize(next(sentences), voice, rate, pitch, pad_ms=0.0)
            gap = np.zeros(int(rng.uniform(0.1, 0.6) * SAMPLE_RATE))
            track += [clip, gap]
            have += len(clip) + len(gap)
        speech = np.concatenate(track)[start : start + samples]
        speech /= max(np.sqrt(np.mean(speech**2)), 1e-12)
        out += speech * 10 ** (rng.uniform(-3, 3) / 20)
    return (out / max(np.sqrt(np.mean(out**2)), 1e-12)).astype(np.float32)


def music(
    samples: int, rng: np.random.Generator, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """A generated pop-like piece: a I-V-vi-IV style progression of chords
    (three harmonic tones), a bass line on the roots, a melody of scale notes
    on eighths, and drums (kick on beats 1 and 3, snare on 2 and 4, hi-hat on
    every eighth), at a random tempo (80-140 bpm), key and timbre.

    Returns:
        (samples,) float32 with RMS 1.
    """
    beat = 60.0 / rng.uniform(80, 140)
    root = 48 + int(rng.integers(0, 12))  # MIDI note of the key's tonic (C3-B3)
    major = np.array([0, 2, 4, 5, 7, 9, 11])
    progression = [(0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4)][rng.integers(3)]
    bright = rng.uniform(0.4, 0.9)  # partial k has amplitude bright**(k-1)
    out = np.zeros(samples + 2 * sample_rate)
    levels = {"chords": 1.0, "bass": 1.2, "melody": 0.8, "drums": 1.0}
    levels = {k: v * 10 ** (rng.uniform(-4, 4) / 20) for k, v in levels.items()}

    def tone(midi: float, seconds: float, decay: float) -> np.ndarray:
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        wave = sum(
            bright ** (k - 1) * np.sin(2 * math.pi * k * f0 * t + rng.uniform(0, 6.3))
            for k in range(1, 7)
            if k * f0 < sample_rate / 2
        )
        attack = np.minimum(t / 0.01, 1.0)
        return wave * attack * np.exp(-t / decay)

    def drum(kind: str) -> np.ndarray:
        n = int(0.25 * sample_rate)
        t = np.arange(n) / sample_rate
        if kind == "kick":  # a falling sine, 120 -> 45 Hz
            freq = 45 + 75 * np.exp(-t / 0.03)
            return np.sin(2 * math.pi * np.cumsum(freq) / sample_rate) * np.exp(
                -t / 0.12
            )
        hiss = rng.standard_normal(n)
        if kind == "hat":  # first difference: a high-passed burst
            return 0.3 * np.diff(hiss, prepend=0.0) * np.exp(-t / 0.02)
        return 0.6 * hiss * np.exp(-t / 0.06)  # snare

    def add(wave: np.ndarray, at: float, level: float) -> None:
        i = int(at * sample_rate)
        if i < len(out):
            wave = wave[: len(out) - i]
            out[i : i + len(wave)] += level * wave

    bars = int(samples / sample_rate / (4 * beat)) + 2
    for bar in range(bars):
        degree = progression[bar % 4]
        start = bar * 4 * beat
        chord = [
            root + 12 + major[(degree + s) % 7] + 12 * ((degree + s) // 7)
            for s in (0, 2, 4)
        ]
        for note in chord:
            add(tone(note, 4 * beat, 1.5), start, levels["chords"] / 3)
        for b in range(4):
            add(
                tone(root - 12 + major[degree], beat, 0.4),
                start + b * beat,
                levels["bass"],
            )
            add(
                drum("kick" if b % 2 == 0 else "snare"),
                start + b * beat,
                levels["drums"],
            )
        for e in range(8):
            add(drum("hat"), start + e * beat / 2, levels["drums"])
            if rng.random() < 0.7:  # rests keep the melody from droning
                note = root + 24 + major[rng.integers(7)]
                add(tone(note, beat / 2, 0.25), start + e * beat / 2, levels["melody"])
    offset = int(rng.integers(0, sample_rate))  # not always on a downbeat
    out = out[offset : offset + samples]
    return (out / max(np.sqrt(np.mean(out**2)), 1e-12)).astype(np.float32)


def make_noise(kind: str, index: int, samples: int, seed: int = 0) -> np.ndarray:
    """The `index`-th clip of a kind, as `prepare_noise` writes it, at RMS
    -20 dBFS; the same arguments always give the same samples.

    Returns:
        (samples,) float32 in [-1, 1].
    Raises:
        ValueError: unknown kind.
    """
    if kind not in ALL_KINDS:
        raise ValueError(f"make_noise: unknown kind {kind!r}; known: {list(ALL_KINDS)}")
    rng = np.random.default_rng([seed, ALL_KINDS.index(kind), index])
    if kind == "babble":
        out = babble(samples, rng, sentence_seed=f"babble-{seed}-{index}")
    elif kind == "hum":
        out = hum(samples, rng, mains_hz=50.0 if index % 2 == 0 else 60.0)
    elif kind == "music":
        out = music(samples, rng)
    else:
        out = colored_noise(kind, samples, rng)
    out = out * 10 ** (_LEVEL_DBFS / 20)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def prepare_noise(
    out: str | Path,
    seed: int = 0,
    seconds: float = 30.0,
    count: int = 2,
    kinds: Sequence[str] = KINDS,
) -> list[Path]:
    """Writes `count` files of `seconds` each per kind to `out`.

    Returns:
        The files written, sorted.
    Raises:
        ValueError: unknown kind, seconds <= 0 or count < 1.
        SynthesisError: babble asked for and espeak-ng missing.
    """
    unknown = [k for k in kinds if k not in ALL_KINDS]
    if unknown:
        raise ValueError(
            f"prepare_noise: unknown kinds {unknown}; known: {list(ALL_KINDS)}"
        )
    if not seconds > 0 or count < 1:
        raise ValueError(
            f"prepare_noise: need seconds > 0 and count >= 1, got {seconds}, {count}"
        )
    out = Path(out)
    samples = int(round(seconds * SAMPLE_RATE))
    paths = []
    for kind in kinds:
        for i in range(count):
            path = out / f"{kind}_{i:02d}.wav"
            save_audio(path, make_noise(kind, i, samples, seed))
            paths.append(path)
    return sorted(paths)
