import librosa
import numpy as np
import pytest
import tensorflow as tf

from asr.config import FeatureConfig
from asr.features import (
    MIN_STD,
    GlobalNormalization,
    LogMel,
    compute_feature_stats,
    num_frames,
)
from asr.tflite import dft_frames
from tests.conftest import speechlike
from tests.layers_test_case import run_layer_test

CFG = FeatureConfig()


def librosa_log_mel(y):
    mel = librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=400, hop_length=160, n_mels=80, center=False
    )
    return np.log(mel + 1e-6).T


def run(layer, audio, lengths):
    feats, out_len = layer(np.asarray(audio, np.float32), np.asarray(lengths, np.int32))
    return feats.numpy(), out_len.numpy()


@pytest.mark.parametrize("seconds", [0.03, 0.5, 2.37])
def test_equals_librosa(seconds):
    y = speechlike(seconds, seed=3)
    feats, n = run(LogMel(), y[None], [len(y)])
    ref = librosa_log_mel(y)
    assert feats.shape == (1, ref.shape[0], 80)
    assert n[0] == ref.shape[0] == num_frames(len(y), CFG)
    np.testing.assert_allclose(feats[0], ref, atol=1e-4)


def test_silence_hits_the_fixed_floor():
    feats, _ = run(LogMel(), np.zeros((1, 1600)), [1600])
    np.testing.assert_allclose(feats, np.log(1e-6), atol=1e-5)


def test_batch_independent_and_padding_is_zero():
    a, b = speechlike(0.7, seed=1), speechlike(1.9, seed=2)
    alone, _ = run(LogMel(), a[None], [len(a)])
    batch = np.zeros((2, len(b)), np.float32)
    batch[0, : len(a)], batch[1] = a, b
    padded, lengths = run(LogMel(), batch, [len(a), len(b)])
    n = lengths[0]
    assert n == alone.shape[1]
    np.testing.assert_allclose(padded[0, :n], alone[0], atol=1e-5)
    assert np.all(padded[0, n:] == 0.0)


@pytest.mark.parametrize("chunk", [1, 160, 401, 1000, 1600, 5333])
def test_chunked_equals_whole(chunk):
    """Feeding chunks and carrying the unframed tail gives the same frames."""
    y = speechlike(1.3, seed=4)
    layer = LogMel()
    whole, _ = run(layer, y[None], [len(y)])
    frames, tail = [], np.zeros(0, np.float32)
    for start in range(0, len(y), chunk):
        buf = np.concatenate([tail, y[start : start + chunk]])
        n = num_frames(len(buf), CFG)
        if n:
            frames.append(layer.frames(buf[None]).numpy()[0])
        tail = buf[n * CFG.hop_length :]
    np.testing.assert_allclose(np.concatenate(frames), whole[0], atol=1e-5)


def test_causal_frame_ignores_future_samples():
    y = speechlike(1.0, seed=5)
    layer = LogMel()
    full = layer.frames(y[None]).numpy()[0]
    changed = y.copy()
    changed[8000:] = 0.3  # frame t ends at t*160+400; frames ending <= 8000 unchanged
    part = layer.frames(changed[None]).numpy()[0]
    last_safe = (8000 - 400) // 160
    np.testing.assert_array_equal(full[: last_safe + 1], part[: last_safe + 1])
    assert not np.allclose(full[last_safe + 1 :], part[last_safe + 1 :])


def test_global_normalization_uses_stored_stats_and_keeps_padding_zero():
    waves = [speechlike(1.0, seed=s) for s in range(3)]
    mean, std = compute_feature_stats(waves, CFG)
    frames = np.concatenate([librosa_log_mel(w) for w in waves])
    np.testing.assert_allclose(mean, frames.mean(0), atol=1e-3)
    np.testing.assert_allclose(std, frames.std(0), rtol=1e-3, atol=1e-3)
    norm = GlobalNormalization(80)
    norm.set_stats(mean, std)
    feats = np.stack([frames[:10], np.zeros((10, 80))]).astype(np.float32)
    out = norm(feats, tf.constant([10, 4])).numpy()
    expected = (frames[:10] - mean) / np.maximum(std, MIN_STD)
    np.testing.assert_allclose(out[0], expected, atol=1e-4)
    assert np.all(out[1, 4:] == 0.0)


def test_log_mel_shared_layer_checks_equal_the_tflite_dft(tmp_path):
    """The `.tflite` exports compute the same frames as a DFT matrix product."""

    def tflite_frames(layer, audio, lengths):
        frames = dft_frames(layer, audio)
        n = num_frames(lengths, layer.cfg)
        return frames * tf.sequence_mask(n, frames.shape[1], frames.dtype)[..., None], n

    audio = np.stack([speechlike(0.3, seed=1), speechlike(0.3, seed=2)])
    audio[1, 3000:] = 0.0
    lengths = np.array([len(audio[0]), 3000], np.int32)
    run_layer_test(
        LogMel,
        {"n_mels": 40, "hop_length": 80},
        [audio.astype(np.float32), lengths],
        tmp_path,
        reference=tflite_frames,
        atol=2e-3,
    )


def test_global_normalization_shared_layer_checks(tmp_path):
    def numpy_norm(layer, features, lengths):
        mean, std = (np.asarray(w) for w in layer.get_weights())
        mask = np.arange(features.shape[1])[None, :] < lengths[:, None]
        return (features - mean) / std * mask[..., None]

    features = np.random.default_rng(0).normal(-5, 2, (2, 6, 8)).astype(np.float32)
    run_layer_test(
        GlobalNormalization,
        {"n_mels": 8},
        [features, np.array([6, 2], np.int32)],
        tmp_path,
        reference=numpy_norm,
    )


def test_near_constant_bands_are_not_blown_up():
    """Audio upsampled from 8 kHz has empty bands above 4 kHz; any energy there
    later (noise, a real microphone) must not become a huge input."""
    norm = GlobalNormalization(80)
    norm.set_stats(np.zeros(80), np.full(80, 1e-4))
    out = norm(np.full((1, 3, 80), 8.0, np.float32), tf.constant([3])).numpy()
    assert out.max() <= 8.0
