"""Audio in and out: any soundfile format, any rate, any channel count.

Everything the rest of the toolkit sees is float32 mono at 16 kHz.
Every failure to read is an `AudioLoadError` whose message names the file and the
problem: not found, a directory, empty, unreadable / not audio, cannot decode,
truncated, no samples, NaN or infinite samples, or an implausible header.

Files are decoded in bounded blocks, never into one buffer sized from the header,
so a corrupt header cannot ask for terabytes; a WAV whose data chunk runs past the
end of the file is reported as truncated (libsndfile would quietly read the part
that is there).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from asr.files import atomic_path

SAMPLE_RATE = 16000
MIN_FILE_RATE = 1000  # Hz; outside [MIN_FILE_RATE, MAX_FILE_RATE] is a bad header
MAX_FILE_RATE = 768_000
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")  # what folder scans pick up
_BLOCK_VALUES = 1 << 20  # samples (frames x channels) decoded per read
_UNKNOWN_FRAMES = 2**62  # libsndfile reports SF_COUNT_MAX when it cannot tell
# MP3 frame counts without a Xing/Info header are estimates from the file size.
_MPEG_SLACK_FRAMES = 2 * 1152
_MAX_RIFF_CHUNKS = 10_000
_DECODE_ERRORS = (sf.LibsndfileError, RuntimeError, ValueError, MemoryError, OSError)


class AudioLoadError(Exception):
    """An audio file is missing, unreadable, empty, truncated or holds non-finite
    samples. The message names the file and the problem."""


def _check_path(path: Path) -> None:
    try:
        if not path.exists():
            raise AudioLoadError(f"{path}: file not found")
        if path.is_dir():
            raise AudioLoadError(f"{path}: is a directory, not an audio file")
        if not path.is_file():
            raise AudioLoadError(f"{path}: not a regular file (a pipe or a device?)")
        if path.stat().st_size == 0:
            raise AudioLoadError(f"{path}: empty file (0 bytes)")
    except OSError as e:
        raise AudioLoadError(f"{path}: cannot access ({e.strerror or e})") from None


def _wav_shortfall(path: Path) -> tuple[int, int] | None:
    """(declared, present) frames of a RIFF/WAVE file whose `data` chunk runs past
    the end of the file; None for complete files, streamed ones (size 0 or
    0xFFFFFFFF) and anything that is not RIFF/WAVE."""
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX"):
                return None
            if head[8:12] != b"WAVE":
                return None
            endian = "<" if head[:4] == b"RIFF" else ">"
            pos, align = 12, 0
            for _ in range(_MAX_RIFF_CHUNKS):
                if pos + 8 > size:
                    return None
                fh.seek(pos)
                chunk_id, n = struct.unpack(endian + "4sI", fh.read(8))
                if chunk_id == b"fmt " and n >= 14:
                    align = struct.unpack(endian + "H", fh.read(14)[12:14])[0]
                elif chunk_id == b"data":
                    if align == 0 or n in (0, 0xFFFFFFFF):
                        return None
                    declared, present = n // align, (size - pos - 8) // align
                    return (declared, present) if present < declared else None
                pos += 8 + n + (n & 1)
    except (OSError, struct.error):
        return None
    return None


def _open(path: Path) -> sf.SoundFile:
    """Opens `path` for reading after checking the file and its header."""
    _check_path(path)
    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as e:
        if "malformed" in str(e):
            raise AudioLoadError(
                f"{path}: cannot decode: malformed or truncated file ({e})"
            ) from None
        raise AudioLoadError(f"{path}: unreadable or not audio ({e})") from None
    try:
        if not MIN_FILE_RATE <= f.samplerate <= MAX_FILE_RATE:
            raise AudioLoadError(
                f"{path}: unreadable header: sample rate {f.samplerate} Hz is outside "
                f"{MIN_FILE_RATE}..{MAX_FILE_RATE} Hz"
            )
        if f.channels < 1:
            raise AudioLoadError(f"{path}: unreadable header: {f.channels} channels")
        if f.frames == 0:
            hint = " (or truncated: no final page)" if f.format == "OGG" else ""
            raise AudioLoadError(f"{path}: no samples, the header says 0 frames{hint}")
        if f.format in ("WAV", "WAVEX"):
            short = _wav_shortfall(path)
            if short is not None:
                raise AudioLoadError(
                    f"{path}: truncated (the header declares {short[0]} frames, "
                    f"the file holds {short[1]})"
                )
    except BaseException:
        f.close()
        raise
    return f


def _mono_blocks(
    f: sf.SoundFile,
    path: Path,
    frames: int | None = None,
    start: int = 0,
    limit: int | None = None,
) -> Iterator[np.ndarray]:
    """Decodes `f` in blocks of at most `frames` frames until the decoder stops
    (or, with `limit`, after `limit` frames from frame `start`), as finite
    float32 mono.

    Raises:
        AudioLoadError: cannot decode, NaN/inf, `start` past the end, no
            samples, or fewer frames than the header declares (truncated), the
            last two after the final block.
    """
    block = max(1, _BLOCK_VALUES // f.channels)
    if frames is not None:
        block = max(1, min(block, frames))
    if start:
        if f.frames < _UNKNOWN_FRAMES and start >= f.frames:
            raise AudioLoadError(
                f"{path}: segment starts at {start / f.samplerate:.3f} s, at or "
                f"after the end of the audio ({f.frames / f.samplerate:.3f} s)"
            )
        try:
            f.seek(start)
        except _DECODE_ERRORS as e:
            raise AudioLoadError(
                f"{path}: cannot seek to frame {start} ({e})"
            ) from None
    total = 0
    while True:
        n = block if limit is None else min(block, limit - total)
        if n <= 0:
            break
        try:
            data = f.read(n, dtype="float32", always_2d=True)
        except _DECODE_ERRORS as e:
            raise AudioLoadError(
                f"{path}: cannot decode: damaged or truncated ({e})"
            ) from None
        if len(data) == 0:
            break
        total += len(data)
        if not np.isfinite(data).all():
            raise AudioLoadError(f"{path}: contains NaN or infinite samples")
        if data.shape[1] == 1:
            yield data[:, 0].copy()
        else:
            yield data.mean(axis=1, dtype=np.float64).astype(np.float32)
    if total == 0:
        raise AudioLoadError(f"{path}: no samples (empty audio)")
    declared = f.frames - start
    if limit is not None:
        declared = min(declared, limit)
    slack = _MPEG_SLACK_FRAMES if f.format == "MP3" else 0
    if declared < _UNKNOWN_FRAMES and total < declared - slack:
        raise AudioLoadError(
            f"{path}: truncated ({total} of {declared} frames could be decoded)"
        )


def audio_info(path: str | os.PathLike) -> tuple[float, int, int]:
    """(duration in seconds, sample rate, channels) from the header.

    Decodes only when the header has no frame count (some MP3s). A FLAC or OGG
    cut short is only noticed by `load_audio`; a cut WAV is noticed here.

    Raises:
        AudioLoadError: as `load_audio` for a missing, unreadable or empty file.
    """
    path = Path(path)
    with _open(path) as f:
        frames = f.frames
        if frames >= _UNKNOWN_FRAMES:
            frames = sum(len(b) for b in _mono_blocks(f, path))
        return frames / f.samplerate, f.samplerate, f.channels


def verify_audio(path: str | os.PathLike) -> float:
    """Decodes the whole file (in bounded memory, keeping nothing) and returns
    its duration in seconds.

    Unlike `audio_info`, this finds everything `load_audio` would reject: a
    FLAC or OGG cut short, undecodable blocks, NaN or infinite samples.

    Raises:
        AudioLoadError: as `load_audio`.
    """
    path = Path(path)
    with _open(path) as f:
        rate = f.samplerate
        frames = sum(len(b) for b in _mono_blocks(f, path))
    if rate != SAMPLE_RATE and frames * SAMPLE_RATE * 2 < rate:
        raise AudioLoadError(
            f"{path}: no samples ({frames} frames at {rate} Hz is less than one "
            f"sample at {SAMPLE_RATE} Hz)"
        )
    return frames / rate


def to_mono_16k(samples: np.ndarray, rate: int, where: str = "audio") -> np.ndarray:
    """(frames,) or (frames, channels) at `rate` -> (frames',) float32 at 16 kHz.

    Raises:
        AudioLoadError: naming `where`, for NaN or infinite samples.
    """
    samples = np.asarray(samples)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float64)
    samples = samples.astype(np.float32, copy=False)
    if not np.isfinite(samples).all():
        raise AudioLoadError(f"{where}: contains NaN or infinite samples")
    if rate != SAMPLE_RATE:
        samples = soxr.resample(samples, rate, SAMPLE_RATE, quality="HQ")
        samples = samples.astype(np.float32, copy=False)
        if not np.isfinite(samples).all():
            raise AudioLoadError(f"{where}: samples too large to resample (overflow)")
    return samples


def load_audio(
    path: str | os.PathLike, offset: float = 0.0, duration: float | None = None
) -> np.ndarray:
    """Reads a file, or the part of it from `offset` on, as float32 mono 16 kHz.

    Args:
        offset: seconds into the file to start at (a manifest row's `offset`,
            as Kaldi `segments` give; `Utterance.segment` has both values).
        duration: seconds to read from `offset`; None reads to the end. A
            segment running past the end of the file gives what is there.
    Returns:
        (samples,) float32, finite, at least one sample.
    Raises:
        AudioLoadError: missing, a directory, empty, unreadable / not audio,
            cannot decode, truncated, no samples, NaN/inf, or `offset` at or
            after the end of the audio.
        ValueError: a negative `offset` or `duration`.
    """
    if offset < 0 or (duration is not None and duration < 0):
        raise ValueError(
            f"{path}: offset and duration must be >= 0, got {offset}, {duration}"
        )
    path = Path(path)
    with _open(path) as f:
        rate = f.samplerate
        start = round(offset * rate)
        limit = None if duration is None else round(duration * rate)
        mono = np.concatenate(list(_mono_blocks(f, path, start=start, limit=limit)))
    out = to_mono_16k(mono, rate, str(path))
    if len(out) == 0:
        raise AudioLoadError(
            f"{path}: no samples ({len(mono)} frames at {rate} Hz is less than one "
            f"sample at {SAMPLE_RATE} Hz)"
        )
    return out


def iter_audio_blocks(
    path: str | os.PathLike, block_seconds: float = 30.0
) -> Iterator[np.ndarray]:
    """Yields consecutive float32 mono 16 kHz blocks of a file of any length, in
    bounded memory (streaming resampler, so block edges leave no seams).

    Concatenated, the blocks equal `load_audio(path)` (to resampler rounding).
    Problems found while decoding (truncation, NaN) raise after the blocks
    decoded before them were yielded.

    Raises:
        AudioLoadError: as `load_audio`.
    """
    path = Path(path)
    with _open(path) as f:
        rate = f.samplerate
        resampler = (
            soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
            if rate != SAMPLE_RATE
            else None
        )
        block = max(1, int(block_seconds * rate))
        for mono in _mono_blocks(f, path, block):
            out = resampler.resample_chunk(mono) if resampler else mono
            if len(out):
                yield out
        if resampler:
            tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            if len(tail):
                yield tail


def save_audio(
    path: str | os.PathLike, samples: np.ndarray, rate: int = SAMPLE_RATE
) -> None:
    """Writes samples atomically (temp file beside `path`, then rename); the
    format follows the extension (wav, flac, ogg, mp3, ...).

    Args:
        samples: (frames,) or (frames, channels), float in [-1, 1].
    Raises:
        ValueError: for an extension soundfile cannot write.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").upper() or "WAV"
    if fmt not in sf.available_formats():
        raise ValueError(
            f"{path}: unknown audio format {path.suffix!r} (use .wav, .flac, .ogg "
            "or .mp3)"
        )
    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.asarray(samples), rate, format=fmt)
