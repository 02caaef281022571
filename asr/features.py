"""THE log-mel front end: one implementation, inside the model, for every path.

Frame `t` covers samples `[t * hop, t * hop + win)`: no centring, no reflection
padding, no end padding. So a frame depends only on samples up to its window's
end (causal), an utterance gives the same frames alone or padded in a batch, and
audio fed in chunks (carrying the unframed tail) gives the same frames as the
whole signal. The floor is fixed (`log(mel + 1e-6)`) and normalisation uses
global statistics stored in the model, never batch or utterance statistics.

Equal to `librosa.feature.melspectrogram(y, sr=16000, n_fft=400, hop_length=160,
n_mels=80, center=False)` followed by `log(S + 1e-6)`.
"""

from __future__ import annotations

import keras
import librosa
import numpy as np
import tensorflow as tf

from asr.config import FeatureConfig

MIN_STD = 1.0  # log units; speech bands vary by 2-4


def num_frames(num_samples, cfg: FeatureConfig):
    """Frames of a signal of `num_samples` samples (works on ints and tensors)."""
    if isinstance(num_samples, int | np.integer):
        return max(0, 1 + (int(num_samples) - cfg.win_length) // cfg.hop_length)
    n = tf.cast(num_samples, tf.int32)
    return tf.maximum(0, 1 + (n - cfg.win_length) // cfg.hop_length)


def mel_matrix(cfg: FeatureConfig) -> np.ndarray:
    """(win_length // 2 + 1, n_mels) float32, from `librosa.filters.mel`."""
    mel = librosa.filters.mel(
        sr=cfg.sample_rate,
        n_fft=cfg.win_length,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
    )
    return np.ascontiguousarray(mel.T.astype(np.float32))


def length_mask(lengths, max_len, dtype="float32"):
    """(batch,) lengths -> (batch, max_len) 1.0 for real steps, 0.0 for padding."""
    return tf.cast(tf.sequence_mask(lengths, max_len), dtype)


@keras.saving.register_keras_serializable(package="asr")
class LogMel(keras.layers.Layer):
    """Waveform -> causal log-mel frames, with their true lengths.

    Call args:
        audio: (batch, samples) float32, right-padded.
        audio_lengths: (batch,) int32 true sample counts.
    Returns:
        features: (batch, frames, n_mels) float32; padded frames are 0.
        frame_lengths: (batch,) int32.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        win_length: int = 400,
        hop_length: int = 160,
        n_mels: int = 80,
        fmin: float = 0.0,
        fmax: float | None = None,
        log_floor: float = 1e-6,
        **kwargs,
    ):
        kwargs.setdefault(
            "dtype", "float32"
        )  # features stay fp32 under mixed precision
        super().__init__(**kwargs)
        self.cfg = FeatureConfig(
            sample_rate, win_length, hop_length, n_mels, fmin, fmax, log_floor
        )
        self._mel = tf.constant(mel_matrix(self.cfg))
        self._window = tf.constant(
            np.hanning(win_length + 1)[:-1].astype(np.float32)  # periodic Hann
        )

    @classmethod
    def from_feature_config(cls, cfg: FeatureConfig, **kwargs) -> LogMel:
        return cls(**{f: getattr(cfg, f) for f in cfg.__dataclass_fields__}, **kwargs)

    def frames(self, audio):
        """(batch, samples) -> (batch, frames, n_mels) log-mel, no masking."""
        cfg = self.cfg
        audio = tf.cast(audio, tf.float32)
        framed = tf.signal.frame(audio, cfg.win_length, cfg.hop_length, pad_end=False)
        spec = tf.signal.rfft(framed * self._window, fft_length=[cfg.win_length])
        power = tf.math.square(tf.math.real(spec)) + tf.math.square(tf.math.imag(spec))
        mel = tf.tensordot(power, self._mel, axes=1)
        return tf.math.log(mel + cfg.log_floor)

    def call(self, audio, audio_lengths):
        feats = self.frames(audio)
        lengths = num_frames(audio_lengths, self.cfg)
        mask = length_mask(lengths, tf.shape(feats)[1])
        return feats * mask[:, :, None], lengths

    def compute_output_spec(self, audio, audio_lengths):
        frames = None
        if audio.shape[1] is not None:
            frames = num_frames(int(audio.shape[1]), self.cfg)
        return (
            keras.KerasTensor((audio.shape[0], frames, self.cfg.n_mels), "float32"),
            keras.KerasTensor(audio_lengths.shape, "int32"),
        )

    def get_config(self):
        config = super().get_config()
        config.update({f: getattr(self.cfg, f) for f in self.cfg.__dataclass_fields__})
        return config


@keras.saving.register_keras_serializable(package="asr")
class GlobalNormalization(keras.layers.Layer):
    """(x - mean) / std with per-band statistics stored in the model.

    The statistics come from the training data (`compute_feature_stats`), so
    they never depend on the batch. Padded frames stay 0.
    """

    def __init__(self, n_mels: int = 80, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.n_mels = n_mels
        self.mean = self.add_weight(
            name="mean", shape=(n_mels,), initializer="zeros", trainable=False
        )
        self.std = self.add_weight(
            name="std", shape=(n_mels,), initializer="ones", trainable=False
        )

    def set_stats(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Stores the statistics. Bands that barely vary (e.g. above 4 kHz in
        audio upsampled from 8 kHz) get std 1: dividing by their tiny std would
        turn any energy there (noise, another microphone) into huge inputs."""
        self.mean.assign(np.asarray(mean, np.float32))
        self.std.assign(np.maximum(np.asarray(std, np.float32), MIN_STD))

    def call(self, features, lengths):
        mask = length_mask(lengths, tf.shape(features)[1])
        return (features - self.mean) / self.std * mask[:, :, None]

    def compute_output_spec(self, features, lengths):
        return keras.KerasTensor(features.shape, "float32")

    def get_config(self):
        config = super().get_config()
        config["n_mels"] = self.n_mels
        return config


def compute_feature_stats(
    waveforms, cfg: FeatureConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std of log-mel frames over an iterable of 1-D waveforms
    (float64 accumulation, so many hours do not lose precision)."""
    layer = LogMel.from_feature_config(cfg)
    frames_fn = tf.function(
        layer.frames, input_signature=[tf.TensorSpec([1, None], tf.float32)]
    )
    total = np.zeros(cfg.n_mels)
    total_sq = np.zeros(cfg.n_mels)
    count = 0
    for wav in waveforms:
        if len(wav) < cfg.win_length:
            continue
        f = frames_fn(np.asarray(wav, np.float32)[None]).numpy()[0].astype(np.float64)
        total += f.sum(0)
        total_sq += (f**2).sum(0)
        count += len(f)
    if count == 0:
        raise ValueError("no audio long enough to compute feature statistics")
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 1e-8))
    return mean.astype(np.float32), std.astype(np.float32)
