"""Fuzzing `load_audio`: any bytes on disk give audio or `AudioLoadError`.

Each example is written to a file and loaded; the result must be a non-empty,
finite, 1-D float32 array, or an `AudioLoadError`: never another exception, a
crash or a hang (a load that takes over `HANG_SECONDS` ends the run with a
traceback). Examples are derandomized, so a run is reproducible.
"""

from __future__ import annotations

import faulthandler
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.audio import AudioLoadError, load_audio, verify_audio

SUFFIXES = ("wav", "flac", "ogg", "mp3")
# Real container signatures, so many examples get past format detection.
MAGICS = (
    b"",
    b"RIFF\x24\x00\x00\x00WAVEfmt ",
    b"RIFF\xff\xff\xff\xffWAVE",
    b"RIFX\x00\x00\x00\x24WAVEfmt ",
    b"RF64\xff\xff\xff\xffWAVEds64",
    b"fLaC",
    b"fLaC\x00\x00\x00\x22",
    b"OggS\x00\x02",
    b"ID3\x03\x00\x00\x00\x00\x00\x00",
    b"\xff\xfb\x90\x64",
    b"\xff\xf3\x88\xc4",
    b"FORM\x00\x00\x00\x20AIFF",
    b".snd",
    b"caff",
)

FUZZ = settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


def _encoded(fmt: str, subtype: str, rate: int, channels: int) -> bytes:
    t = np.arange(rate // 4) / rate
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    buf = io.BytesIO()
    sf.write(buf, data, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


SEEDS = {
    "wav16": ("wav", _encoded("WAV", "PCM_16", 16000, 1)),
    "wav_float_stereo": ("wav", _encoded("WAV", "FLOAT", 44100, 2)),
    "wav_u8": ("wav", _encoded("WAV", "PCM_U8", 8000, 1)),
    "flac": ("flac", _encoded("FLAC", "PCM_16", 16000, 1)),
    "flac_stereo": ("flac", _encoded("FLAC", "PCM_24", 22050, 2)),
    "ogg": ("ogg", _encoded("OGG", "VORBIS", 16000, 1)),
}
if "MP3" in sf.available_formats():
    SEEDS["mp3"] = ("mp3", _encoded("MP3", "MPEG_LAYER_III", 16000, 1))


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("audio_fuzz")


HANG_SECONDS = 30  # one example; far above the few ms a load takes


def _check_loads_or_rejects(path: Path) -> None:
    # A hang, even inside libsndfile, ends the run with every thread's
    # traceback instead of stalling it (a watchdog thread, not a signal).
    faulthandler.dump_traceback_later(HANG_SECONDS, exit=True)
    try:
        _load_and_verify(path)
    finally:
        faulthandler.cancel_dump_traceback_later()


def _load_and_verify(path: Path) -> None:
    try:
        y = load_audio(path)
    except AudioLoadError as e:
        assert str(path) in str(e)
        # `asr prepare` (which only decodes) rejects what training would.
        with pytest.raises(AudioLoadError):
            verify_audio(path)
        return
    assert isinstance(y, np.ndarray)
    assert y.dtype == np.float32
    assert y.ndim == 1 and len(y) > 0
    assert np.isfinite(y).all()
    assert verify_audio(path) > 0


def test_seed_files_load(fuzz_dir):
    for name, (suffix, data) in SEEDS.items():
        path = fuzz_dir / f"{name}.{suffix}"
        path.write_bytes(data)
        assert len(load_audio(path)) > 0, name


@FUZZ
@given(
    magic=st.sampled_from(MAGICS),
    body=st.binary(max_size=2048),
    suffix=st.sampled_from(SUFFIXES),
)
def test_generated_bytes_load_or_raise_audio_load_error(fuzz_dir, magic, body, suffix):
    path = fuzz_dir / f"generated.{suffix}"
    path.write_bytes(magic + body)
    _check_loads_or_rejects(path)


# (kind, where, value): where is a position; header bytes are hit more often.
_POSITION = st.one_of(st.integers(0, 63), st.integers(0, 1 << 20))
_MUTATION = st.one_of(
    st.tuples(st.just("flip"), _POSITION, st.integers(1, 255)),
    st.tuples(st.just("set"), _POSITION, st.integers(0, 255)),
    st.tuples(st.just("truncate"), _POSITION, st.just(0)),
    st.tuples(st.just("insert"), _POSITION, st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), _POSITION, st.integers(1, 64)),
)


def _mutate(data: bytes, mutations) -> bytes:
    buf = bytearray(data)
    for kind, where, value in mutations:
        if not buf:
            break
        i = where % len(buf)
        if kind == "flip":
            buf[i] ^= value
        elif kind == "set":
            buf[i] = value
        elif kind == "truncate":
            del buf[i:]
        elif kind == "insert":
            buf[i:i] = value
        else:
            del buf[i : i + value]
    return bytes(buf)


@FUZZ
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    mutations=st.lists(_MUTATION, min_size=1, max_size=6),
)
def test_mutated_real_files_load_or_raise_audio_load_error(fuzz_dir, seed, mutations):
    suffix, data = SEEDS[seed]
    path = fuzz_dir / f"mutated.{suffix}"
    path.write_bytes(_mutate(data, mutations))
    _check_loads_or_rejects(path)


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_every_prefix_of_the_header_region(fuzz_dir, seed):
    suffix, data = SEEDS[seed]
    path = fuzz_dir / f"prefix.{suffix}"
    for n in [*range(1, 200, 3), *range(200, len(data), max(1, len(data) // 50))]:
        path.write_bytes(data[:n])
        _check_loads_or_rejects(path)
