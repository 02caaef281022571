"""Audio in and out: any soundfile format, any rate, any channel count.

Everything the rest of the toolkit sees is float32 mono at 16 kHz in [-1, 1].
Every failure is an `AudioLoadError` whose message names the file and the problem.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SAMPLE_RATE = 16000


class AudioLoadError(Exception):
    """An audio file is missing, unreadable, empty, truncated or holds non-finite
    samples. The message names the file and the problem."""


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioLoadError(f"{path}: file not found")
    if path.is_dir():
        raise AudioLoadError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioLoadError(f"{path}: empty file (0 bytes)")


def _open(path: Path) -> sf.SoundFile:
    _check_path(path)
    try:
        return sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise AudioLoadError(f"{path}: unreadable or not audio ({e})") from None


def audio_info(path: str | os.PathLike) -> tuple[float, int, int]:
    """(duration in seconds, sample rate, channels) from the header, no decoding."""
    path = Path(path)
    with _open(path) as f:
        if f.frames <= 0 or f.samplerate <= 0:
            raise AudioLoadError(f"{path}: no samples")
        return f.frames / f.samplerate, f.samplerate, f.channels


def to_mono_16k(samples: np.ndarray, rate: int, where: str = "audio") -> np.ndarray:
    """(frames,) or (frames, channels) at `rate` -> (frames',) float32 at 16 kHz."""
    samples = np.asarray(samples)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    samples = samples.astype(np.float32, copy=False)
    if not np.all(np.isfinite(samples)):
        raise AudioLoadError(f"{where}: contains NaN or infinite samples")
    if rate != SAMPLE_RATE:
        samples = soxr.resample(samples, rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return samples


def load_audio(path: str | os.PathLike) -> np.ndarray:
    """Reads a whole file as float32 mono 16 kHz samples.

    Returns:
        (samples,) float32.
    Raises:
        AudioLoadError: missing, unreadable / not audio, empty, truncated, NaN/inf.
    """
    path = Path(path)
    with _open(path) as f:
        expected, rate = f.frames, f.samplerate
        try:
            data = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, ValueError, MemoryError) as e:
            raise AudioLoadError(f"{path}: cannot decode ({e})") from None
    if data.shape[0] == 0:
        raise AudioLoadError(f"{path}: no samples (empty audio)")
    # Some formats report a frame count from the header; fewer frames on disk
    # means the file was cut short.
    if 0 < expected < 2**62 and data.shape[0] < expected:
        raise AudioLoadError(
            f"{path}: truncated ({data.shape[0]} of {expected} frames could be read)"
        )
    return to_mono_16k(data, rate, str(path))


def iter_audio_blocks(
    path: str | os.PathLike, block_seconds: float = 30.0
) -> Iterator[np.ndarray]:
    """Yields consecutive float32 mono 16 kHz blocks of a file of any length, in
    bounded memory (streaming resampler, so block edges leave no seams)."""
    path = Path(path)
    with _open(path) as f:
        rate = f.samplerate
        resampler = (
            soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
            if rate != SAMPLE_RATE
            else None
        )
        block = max(1, int(block_seconds * rate))
        total = 0
        try:
            for data in f.blocks(blocksize=block, dtype="float32", always_2d=True):
                total += len(data)
                mono = data.mean(axis=1).astype(np.float32)
                if not np.all(np.isfinite(mono)):
                    raise AudioLoadError(f"{path}: contains NaN or infinite samples")
                out = resampler.resample_chunk(mono) if resampler else mono
                if len(out):
                    yield out
        except (sf.LibsndfileError, RuntimeError, ValueError) as e:
            raise AudioLoadError(f"{path}: cannot decode ({e})") from None
        if total == 0:
            raise AudioLoadError(f"{path}: no samples (empty audio)")
        if resampler:
            tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            if len(tail):
                yield tail


def save_audio(path: str | os.PathLike, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Writes float samples; the format follows the extension (wav, flac, ogg, mp3)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fmt = path.suffix.lstrip(".").upper() or "WAV"
    sf.write(str(tmp), np.asarray(samples), rate, format=fmt)
    os.replace(tmp, path)
