"""Flite speech: `synthesize_flite(text, voice)` and `flite_voices()`.

Flite (CMU's small synthesiser, Debian/Ubuntu package `flite`) brings voices
that espeak-ng lacks: statistical-parametric and diphone voices built from
recordings of real speakers of American and Scottish English (`awb`, `rms`,
`slt`: CMU ARCTIC clustergen voices; `kal16`: a diphone voice; `kal`: the same
at 8 kHz, telephone band). Their prosody and spectra are closer to human speech
than espeak-ng's formant synthesis, so a synthetic corpus that mixes them in
(`asr prepare synthetic --engine flite`) prepares a model better for native
speakers. The `flite` binary is called as a subprocess; it is optional: only
corpora that ask for it need it.

A voice here is written `flite:NAME`. Pitch follows espeak-ng's 0-99 scale
(50 is the voice's own mean F0; here ±50 moves it half an octave) for the
voices whose F0 model takes a target mean (all but `rms`). The same arguments
always give the same samples: flite draws no random numbers.
"""

from __future__ import annotations

import functools
import math
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.audio import to_mono_16k
from asr.datasets.espeak import SynthesisError, trim_silence

PREFIX = "flite:"
# Mean F0 (Hz) of each voice at its defaults, measured with librosa's pyin on
# "the quick brown fox jumps over the lazy dog"; None: F0 cannot be moved.
_MEAN_F0 = {"awb": 133.0, "kal": 93.0, "kal16": 93.0, "rms": None, "slt": 171.0}
_TIMEOUT_S = 60


def flite_binary() -> str | None:
    """Path of the `flite` program, or None."""
    return shutil.which("flite")


@functools.lru_cache(maxsize=1)
def flite_version() -> str:
    """flite's version line, e.g. "flite-2.2-current Sep 2018" ("" if missing)."""
    binary = flite_binary()
    if binary is None:
        return ""
    printed = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=_TIMEOUT_S
    ).stdout
    lines = [x.strip() for x in printed.splitlines() if "version" in x.lower()]
    return lines[0].removeprefix("version:").strip() if lines else printed.strip()


@functools.lru_cache(maxsize=1)
def _installed_voices() -> tuple[str, ...]:
    binary = flite_binary()
    if binary is None:
        return ()
    listing = subprocess.run(
        [binary, "-lv"], capture_output=True, text=True, timeout=_TIMEOUT_S
    ).stdout
    names = listing.partition(":")[2].split()
    return tuple(n for n in names if n in _MEAN_F0)


def flite_voices() -> list[str]:
    """The usable flite voices, e.g. `["flite:awb", ..., "flite:slt"]`.

    Raises:
        SynthesisError: flite is not installed, naming the package to install.
    """
    if flite_binary() is None:
        raise SynthesisError(
            "flite is not installed: the flite voices need the `flite` program "
            "(Debian/Ubuntu: apt-get install flite)"
        )
    voices = _installed_voices()
    if not voices:
        raise SynthesisError(
            f"{flite_binary()} -lv lists none of the voices {sorted(_MEAN_F0)}"
        )
    return [PREFIX + v for v in voices]


def is_flite_voice(voice: str) -> bool:
    return voice.startswith(PREFIX)


def synthesize_flite(
    text: str,
    voice: str = "flite:slt",
    rate_wpm: int = 175,
    pitch: int = 50,
    pad_ms: float = 150.0,
    formant_scale: float = 1.0,
) -> np.ndarray:
    """Speaks `text` with a flite voice.

    `formant_scale` works as in `asr.datasets.espeak.synthesize`: flite speaks
    slower and lower by the factor, and the samples, read at the factor times
    its rate, are converted to 16 kHz (formants move, pitch and length return;
    for `rms`, whose pitch cannot be set, the pitch moves with the formants).

    Args:
        text: what to say.
        voice: `flite:awb`, `flite:kal`, `flite:kal16`, `flite:rms` or `flite:slt`.
        rate_wpm: speaking rate, 80-450; 175 is each voice's own rate.
        pitch: 0-99, 50 the voice's own mean F0 (ignored by `rms`).
        pad_ms: silence kept (or added) before and after the speech.
        formant_scale: 0.7-1.4 (vocal tract length factor; 1 leaves it).
    Returns:
        (samples,) float32 mono at 16 kHz, in [-1, 1].
    Raises:
        ValueError: empty text, an unknown voice or a parameter out of range.
        SynthesisError: flite is missing, fails, or says nothing.
    """
    if not text.strip():
        raise ValueError("synthesize_flite: empty text")
    name = voice.removeprefix(PREFIX)
    if not is_flite_voice(voice) or name not in _MEAN_F0:
        known = ", ".join(PREFIX + v for v in _MEAN_F0)
        raise ValueError(f"unknown flite voice {voice!r}; known: {known}")
    for key, value, low, high in (
        ("rate_wpm", rate_wpm, 80, 450),
        ("pitch", pitch, 0, 99),
        ("formant_scale", formant_scale, 0.7, 1.4),
    ):
        if not low <= value <= high:
            raise ValueError(f"synthesize_flite: {key}={value} outside [{low}, {high}]")
    if voice not in flite_voices():
        raise SynthesisError(f"{flite_binary()} has no voice {name!r} (flite -lv)")
    scale = float(formant_scale)
    command = [flite_binary(), "-voice", name]
    command += ["--setf", f"duration_stretch={175 / rate_wpm * scale:.4f}"]
    f0 = pitch_hz(voice, pitch)
    if f0 is not None:  # lower by the scale: reading the samples faster raises it
        command += ["--setf", f"int_f0_target_mean={f0 / scale:.1f}"]
    with tempfile.TemporaryDirectory(prefix="asr-flite-") as tmp:
        wav = Path(tmp) / "out.wav"
        # Text on the command line, not a file: `-t` reads it as one utterance.
        done = subprocess.run(
            [*command, "-t", text, "-o", str(wav)],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
        )
        if done.returncode != 0 or not wav.is_file():
            raise SynthesisError(
                f"flite failed ({voice}, {text!r}): {done.stderr.strip()[-300:]}"
            )
        samples, rate = sf.read(wav, dtype="float32")
    if len(samples) == 0 or not np.abs(samples).max() > 0:
        raise SynthesisError(f"flite produced no audio for {text!r} ({voice})")
    samples = to_mono_16k(samples, rate * scale, f"flite {voice}")
    return trim_silence(np.clip(samples, -1.0, 1.0).astype(np.float32), pad_ms)


def pitch_hz(voice: str, pitch: int) -> float | None:
    """The mean F0 that `pitch` asks of `voice` (None where it cannot be set)."""
    base = _MEAN_F0.get(voice.removeprefix(PREFIX))
    return None if base is None else base * math.pow(2, (pitch - 50) / 100)
