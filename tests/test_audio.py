"""Audio loading: formats, rates, channels, every error kind, blocks, saving."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr import audio as audio_mod
from asr.audio import (
    SAMPLE_RATE,
    AudioLoadError,
    audio_info,
    iter_audio_blocks,
    load_audio,
    save_audio,
    to_mono_16k,
)

HAS_MP3 = "MP3" in sf.available_formats()
needs_mp3 = pytest.mark.skipif(
    not HAS_MP3, reason="libsndfile < 1.1 here: soundfile cannot write MP3"
)


def sine(rate: int, seconds: float, freq: float = 440.0, amp: float = 0.5):
    """(round(rate * seconds),) float64 sine starting at phase 0."""
    t = np.arange(round(rate * seconds)) / rate
    return amp * np.sin(2 * np.pi * freq * t)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def peak_hz(x: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def write(path: Path, data, rate: int, fmt: str, subtype: str | None = None) -> Path:
    sf.write(str(path), data, rate, format=fmt, subtype=subtype)
    return path


def check_message(error: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    """The message names `path` and, elsewhere than in the path, one of `words`."""
    message = str(error.value)
    assert str(path) in message
    rest = message.replace(str(path), "")
    assert any(w in rest for w in words), message


# -- formats ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "subtype", "suffix", "min_corr"),
    [
        ("WAV", "PCM_16", "wav", 0.9999),
        ("WAV", "PCM_24", "wav", 0.9999),
        ("WAV", "PCM_U8", "wav", 0.999),
        ("WAV", "FLOAT", "wav", 0.9999),
        ("FLAC", "PCM_16", "flac", 0.9999),
    ],
)
def test_lossless_16k_loads_exactly_shaped_and_preserved(
    tmp_path, fmt, subtype, suffix, min_corr
):
    x = sine(16000, 0.5)
    path = write(tmp_path / f"x.{suffix}", x, 16000, fmt, subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == 8000
    assert corr(y, x) > min_corr
    assert np.max(np.abs(y - x)) < (1 / 64 if subtype == "PCM_U8" else 1e-4)


def test_float_wav_is_bit_exact(tmp_path):
    x = sine(16000, 0.25).astype(np.float32)
    path = write(tmp_path / "f.wav", x, 16000, "WAV", "FLOAT")
    np.testing.assert_array_equal(load_audio(path), x)


@pytest.mark.parametrize(
    ("fmt", "subtype", "suffix"),
    [
        ("OGG", "VORBIS", "ogg"),
        pytest.param("MP3", "MPEG_LAYER_III", "mp3", marks=needs_mp3),
    ],
)
def test_lossy_formats_keep_length_and_pitch(tmp_path, fmt, subtype, suffix):
    x = sine(16000, 1.0, freq=500.0)
    path = write(tmp_path / f"x.{suffix}", x, 16000, fmt, subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 16000) <= 1
    assert np.isfinite(y).all()
    assert abs(peak_hz(y) - 500.0) <= 2.0
    assert 0.3 < np.sqrt(np.mean(y[2000:-2000] ** 2)) / np.sqrt(0.125) < 1.5


@pytest.mark.parametrize(
    ("fmt", "subtype", "suffix"),
    [("WAV", "PCM_16", "wav"), ("FLAC", "PCM_24", "flac"), ("OGG", "VORBIS", "ogg")],
)
def test_44k_stereo_becomes_16k_mono(tmp_path, fmt, subtype, suffix):
    left = sine(44100, 1.0, freq=440.0, amp=0.5)
    stereo = np.stack([left, 0.5 * left], axis=1)  # mono = 0.75 * left
    path = write(tmp_path / f"s.{suffix}", stereo, 44100, fmt, subtype)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 16000) <= 1
    expected = sine(16000, 1.0, freq=440.0, amp=0.375)
    if fmt == "OGG":
        assert abs(peak_hz(y) - 440.0) <= 2.0
    else:
        assert corr(y[100:-100], expected[100:-100]) > 0.999
        assert np.max(np.abs(y[100:-100] - expected[100:-100])) < 5e-3


def test_stereo_mixdown_is_the_channel_mean(tmp_path):
    frames = np.zeros((1000, 2))
    frames[:, 0], frames[:, 1] = 0.5, -0.25  # both exact in PCM_16
    path = write(tmp_path / "dc.wav", frames, 16000, "WAV", "PCM_16")
    np.testing.assert_array_equal(load_audio(path), np.full(1000, 0.125, np.float32))


def test_8k_is_upsampled(tmp_path):
    x = sine(8000, 0.5, freq=300.0)
    path = write(tmp_path / "n.wav", x, 8000, "WAV", "PCM_16")
    y = load_audio(path)
    assert len(y) == 8000  # exactly twice 4000
    expected = sine(16000, 0.5, freq=300.0)
    assert corr(y[100:-100], expected[100:-100]) > 0.999


def test_odd_length_resample_within_one_sample(tmp_path):
    path = write(tmp_path / "o.wav", sine(44100, 12345 / 44100), 44100, "WAV")
    assert abs(len(load_audio(path)) - 12345 * 16000 / 44100) <= 1


def test_many_channels_mix_down(tmp_path):
    frames = np.tile(sine(16000, 0.1)[:, None], (1, 6))
    frames[:, 5] = 0.0  # mean = 5/6 of the sine
    path = write(tmp_path / "six.wav", frames, 16000, "WAV", "FLOAT")
    np.testing.assert_allclose(load_audio(path), frames[:, 0] * 5 / 6, atol=1e-6)


# -- segments (offset, duration) --------------------------------------------------


@pytest.mark.parametrize(("fmt", "suffix"), [("WAV", "wav"), ("FLAC", "flac")])
def test_segment_is_the_same_samples_as_slicing(tmp_path, fmt, suffix):
    x = 0.1 * np.random.default_rng(0).standard_normal(40000)
    path = write(tmp_path / f"a.{suffix}", x, 16000, fmt, "PCM_16")
    whole = load_audio(path)
    np.testing.assert_array_equal(load_audio(path, 0.5, 0.75), whole[8000:20000])
    np.testing.assert_array_equal(load_audio(path, 1.25), whole[20000:])
    np.testing.assert_array_equal(load_audio(path, 0.0, 0.5), whole[:8000])
    # Running past the end gives what is there.
    np.testing.assert_array_equal(load_audio(path, 2.0, 5.0), whole[32000:])


def test_segment_of_44k_stereo_is_resampled(tmp_path):
    x = np.stack([sine(44100, 2.0), sine(44100, 2.0)], axis=1)
    path = write(tmp_path / "a.wav", x, 44100, "WAV", "FLOAT")
    got = load_audio(path, 0.5, 1.0)
    assert abs(len(got) - 16000) <= 1
    assert corr(got, load_audio(path)[8000:24000]) > 0.999


def test_segment_past_the_end_or_negative(tmp_path):
    path = write(tmp_path / "a.wav", sine(16000, 1.0), 16000, "WAV")
    with pytest.raises(AudioLoadError) as e:
        load_audio(path, 1.0, 0.5)
    check_message(e, path, "after the end of the audio")
    with pytest.raises(AudioLoadError) as e:
        load_audio(path, 0.5, 0.0)
    check_message(e, path, "no samples")
    with pytest.raises(ValueError, match="must be >= 0"):
        load_audio(path, -0.1)


def test_truncated_flac_segment_is_reported(tmp_path):
    x = sine(16000, 2.0) + 0.01 * np.random.default_rng(1).standard_normal(32000)
    full = write(tmp_path / "full.flac", x, 16000, "FLAC", "PCM_16")
    path = _cut(full, tmp_path / "cut.flac", 0.5)
    with pytest.raises(AudioLoadError) as e:
        load_audio(path, 1.5, 0.4)
    check_message(e, path, "truncated", "decode", "seek")


# -- errors ----------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "not found")


def test_directory(tmp_path):
    path = tmp_path / "dir.wav"
    path.mkdir()
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "directory")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "empty")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_named_pipe_is_rejected_without_blocking(tmp_path):
    path = tmp_path / "pipe.wav"
    os.mkfifo(path)  # opening it for reading would wait for a writer forever
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "not a regular file")


def test_random_bytes_named_wav(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "unreadable", "not audio")


def test_text_file_named_flac(tmp_path):
    path = tmp_path / "notes.flac"
    path.write_text("this is not audio\n" * 20)
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "unreadable", "not audio")


def _cut(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_U8", "FLOAT"])
def test_truncated_wav(tmp_path, subtype):
    full = write(tmp_path / "full.wav", sine(16000, 1.0), 16000, "WAV", subtype)
    path = _cut(full, tmp_path / "cut.wav", 0.5)
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "truncated")
    with pytest.raises(AudioLoadError) as e:
        audio_info(path)
    check_message(e, path, "truncated")
    with pytest.raises(AudioLoadError) as e:
        list(iter_audio_blocks(path))
    check_message(e, path, "truncated")


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8, 0.99])
def test_truncated_flac(tmp_path, fraction):
    x = sine(16000, 2.0) + 0.01 * np.random.default_rng(1).standard_normal(32000)
    full = write(tmp_path / "full.flac", x, 16000, "FLAC", "PCM_16")
    path = _cut(full, tmp_path / "cut.flac", fraction)
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "truncated", "decode")
    with pytest.raises(AudioLoadError) as e:
        list(iter_audio_blocks(path))
    check_message(e, path, "truncated", "decode")


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.9])
def test_truncated_ogg(tmp_path, fraction):
    full = write(tmp_path / "full.ogg", sine(16000, 1.0), 16000, "OGG", "VORBIS")
    path = _cut(full, tmp_path / "cut.ogg", fraction)
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "truncated", "decode")


@needs_mp3
def test_truncated_mp3(tmp_path):
    full = write(tmp_path / "full.mp3", sine(16000, 2.0), 16000, "MP3")
    path = _cut(full, tmp_path / "cut.mp3", 0.3)
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "truncated", "decode")


def test_wav_header_with_zero_frames(tmp_path):
    path = write(tmp_path / "zero.wav", np.zeros(0), 16000, "WAV", "PCM_16")
    assert path.stat().st_size == 44  # a header and nothing else
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "no samples")
    with pytest.raises(AudioLoadError) as e:
        audio_info(path)
    check_message(e, path, "no samples")


def test_streamed_wav_with_unknown_data_size_loads(tmp_path):
    # Writers that stream to a pipe leave 0xFFFFFFFF as the data size.
    path = write(tmp_path / "s.wav", sine(16000, 0.25), 16000, "WAV", "PCM_16")
    data = bytearray(path.read_bytes())
    at = data.index(b"data") + 4
    data[at : at + 4] = struct.pack("<I", 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    assert len(load_audio(path)) == 4000


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_wav_with_non_finite_sample(tmp_path, bad):
    x = sine(16000, 0.5)
    x[1234] = bad
    path = write(tmp_path / "nan.wav", x, 16000, "WAV", "FLOAT")
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "NaN")
    with pytest.raises(AudioLoadError) as e:
        list(iter_audio_blocks(path))
    check_message(e, path, "NaN")


def test_implausible_sample_rate_in_header(tmp_path):
    path = write(tmp_path / "slow.wav", sine(100, 1.0, freq=5.0), 100, "WAV")
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "sample rate 100 Hz")


def test_shorter_than_one_output_sample(tmp_path):
    path = write(tmp_path / "one.wav", np.array([0.5]), 44100, "WAV", "FLOAT")
    with pytest.raises(AudioLoadError) as e:
        load_audio(path)
    check_message(e, path, "no samples")


def test_error_kinds_are_all_audio_load_errors_for_info(tmp_path):
    with pytest.raises(AudioLoadError) as e:
        audio_info(tmp_path / "missing.flac")
    check_message(e, tmp_path / "missing.flac", "not found")
    (tmp_path / "x.flac").write_text("hello")
    with pytest.raises(AudioLoadError) as e:
        audio_info(tmp_path / "x.flac")
    check_message(e, tmp_path / "x.flac", "not audio")


# -- info, blocks, saving --------------------------------------------------------


def test_audio_info(tmp_path):
    path = write(tmp_path / "s.flac", np.zeros((22050, 2)), 44100, "FLAC", "PCM_16")
    assert audio_info(path) == (0.5, 44100, 2)
    path = write(tmp_path / "m.wav", np.zeros(4000), 8000, "WAV", "PCM_16")
    assert audio_info(path) == (0.5, 8000, 1)


@needs_mp3
def test_audio_info_mp3(tmp_path):
    path = write(tmp_path / "m.mp3", sine(16000, 1.0), 16000, "MP3")
    duration, rate, channels = audio_info(path)
    assert abs(duration - 1.0) < 0.08 and rate == 16000 and channels == 1


@pytest.mark.parametrize("suffix", ["wav", "flac"])
def test_blocks_of_44k_file_match_load_audio(tmp_path, suffix):
    left = sine(44100, 2.3, freq=440.0)
    stereo = np.stack([left, sine(44100, 2.3, freq=1000.0, amp=0.3)], axis=1)
    path = write(tmp_path / f"long.{suffix}", stereo, 44100, suffix.upper())
    blocks = list(iter_audio_blocks(path, block_seconds=0.5))
    assert len(blocks) >= 4
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    joined = np.concatenate(blocks)
    whole = load_audio(path)
    assert abs(len(joined) - len(whole)) <= 1
    n = min(len(joined), len(whole))
    assert np.max(np.abs(joined[:n] - whole[:n])) < 1e-3


def test_blocks_of_16k_file_equal_load_audio_exactly(tmp_path):
    path = write(tmp_path / "a.flac", sine(16000, 1.3), 16000, "FLAC", "PCM_16")
    blocks = list(iter_audio_blocks(path, block_seconds=0.25))
    assert [len(b) for b in blocks] == [4000] * 5 + [800]
    np.testing.assert_array_equal(np.concatenate(blocks), load_audio(path))


def test_blocks_errors_before_any_block(tmp_path):
    path = tmp_path / "missing.wav"
    with pytest.raises(AudioLoadError) as e:
        next(iter_audio_blocks(path))
    check_message(e, path, "not found")


def test_to_mono_16k():
    stereo = np.stack([np.ones(441), np.zeros(441)], axis=1)
    y = to_mono_16k(stereo, 44100)
    assert y.dtype == np.float32 and len(y) == 160
    np.testing.assert_allclose(y[40:-40], 0.5, atol=5e-3)  # step edges ring
    same = to_mono_16k(np.full(10, 0.25, np.float32), 16000)
    np.testing.assert_array_equal(same, np.full(10, 0.25, np.float32))
    with pytest.raises(AudioLoadError, match="espeak-ng: contains NaN"):
        to_mono_16k(np.array([0.0, np.nan]), 16000, "espeak-ng")


@pytest.mark.parametrize(
    ("suffix", "atol"), [("wav", 1 / 32768), ("flac", 1 / 32768), ("ogg", None)]
)
def test_save_audio_round_trips(tmp_path, suffix, atol):
    x = sine(16000, 0.5, freq=500.0).astype(np.float32)
    path = tmp_path / "out" / f"x.{suffix}"
    save_audio(path, x)
    y = load_audio(path)
    assert abs(len(y) - len(x)) <= 1
    if atol is None:
        assert abs(peak_hz(y) - 500.0) <= 2.0
    else:
        np.testing.assert_allclose(y, x, atol=atol)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_save_audio_other_rate(tmp_path):
    path = tmp_path / "r.wav"
    save_audio(path, np.zeros(4410, np.float32), rate=44100)
    assert audio_info(path) == (0.1, 44100, 1)


def test_save_audio_failure_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "x.wav"
    save_audio(path, np.full(100, 0.5, np.float32))
    before = path.read_bytes()
    real_write = sf.write

    def write_half_then_fail(file, data, *args, **kwargs):
        real_write(file, data[: len(data) // 2], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audio_mod.sf, "write", write_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save_audio(path, np.zeros(16000, np.float32))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.wav"]


def test_save_audio_unknown_extension(tmp_path):
    path = tmp_path / "x.xyz"
    with pytest.raises(ValueError, match=r"x\.xyz: unknown audio format '\.xyz'"):
        save_audio(path, np.zeros(10, np.float32))
    assert list(tmp_path.iterdir()) == []
