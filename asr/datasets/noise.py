"""Noise for training augmentation, made here: nothing to download.

`prepare_noise(out, seed)` writes 16 kHz mono WAV files `OUT/{kind}_{i:02d}.wav`
for each kind asked (`KINDS`, the first five below, by default; the everyday
sound families `WORLD_KINDS` and `music` on request), so a folder of them
serves as `augment.noise_dir` and a glob can leave a kind out (`babble_*.wav`).
The signals come from `asr.datasets.sounds`:

- `white`: Gaussian noise, flat spectrum.
- `pink`: power falls 3 dB per octave (1/f), by spectral shaping.
- `brown`: power falls 6 dB per octave (1/f^2), by spectral shaping.
- `babble`: 4-8 espeak-ng voices (`asr.datasets.espeak`) saying random
  sentences at once, each at its own level and start.
- `hum`: mains hum with harmonics and a little hiss; even-numbered files at
  50 Hz, odd-numbered at 60 Hz.
- `clatter`: impacts at random times (2-10 a second), each a few damped
  resonances and a click: dishes, typing, footsteps, over a faint hiss.
- `alarms`: beep trains, sirens, two-tone rings and whistles, one after another,
  over pink noise 20 dB down.
- `traffic`: low rumble (brown noise) swelling as vehicles pass, engine
  harmonics at 25-120 Hz, tyre hiss (band-passed noise).
- `machine`: fans, air conditioning, fridges: noise under a random smooth
  spectral envelope with a few blade-pass tones and a slow wobble.
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

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from asr.audio import SAMPLE_RATE, save_audio
from asr.datasets.sounds import GENERATORS, babble, colored_noise, hum

KINDS = ("white", "pink", "brown", "babble", "hum")  # the default: training noise
# Everyday sound families for training beyond the defaults (opt-in, so that the
# recipes of models trained on the defaults still reproduce).
WORLD_KINDS = ("clatter", "alarms", "traffic", "machine")
# `music` is left out of every recipe, for evaluation. (A kind's place here
# seeds its files: append new kinds at the end.)
ALL_KINDS = (*KINDS, "music", *WORLD_KINDS)
_LEVEL_DBFS = -20.0


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
    elif kind in GENERATORS:
        out = GENERATORS[kind](samples, rng)
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
