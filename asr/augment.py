"""Training-only augmentation.

`SpecAugment` is a model layer (after the features, active only when
`training=True`). The waveform augmentations (noise at a random SNR, speed
perturbation, time shift, gain) are TF functions the input pipeline maps over
single utterances.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from asr.config import AugmentConfig


@keras.saving.register_keras_serializable(package="asr")
class SpecAugment(keras.layers.Layer):
    """Time and frequency masks (Park et al., 2019) inside each utterance's
    true length; identity at inference.

    Call args:
        features: (batch, frames, n_mels) float32.
        lengths: (batch,) int32 true frame counts.
    """

    def __init__(
        self,
        time_masks: int = 2,
        time_width: int = 40,
        freq_masks: int = 2,
        freq_width: int = 15,
        seed: int | None = None,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.time_masks, self.time_width = time_masks, time_width
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.seed = seed
        self._rng = keras.random.SeedGenerator(seed)

    def _masks(self, count, width, extent, size, batch):
        """(batch, size) 1.0 where kept, 0.0 inside `count` random spans of at most
        `width` steps, placed within `extent` (batch,) steps."""
        positions = tf.range(size)[None, :]
        keep = tf.ones((batch, size), tf.bool)
        extent = tf.cast(extent, tf.float32)
        for _ in range(count):
            u = keras.random.uniform((2, batch), seed=self._rng)
            w = tf.cast(u[0] * tf.minimum(float(width), 0.2 * extent), tf.int32)
            start = tf.cast(
                u[1] * tf.maximum(extent - tf.cast(w, tf.float32), 0.0), tf.int32
            )
            inside = (positions >= start[:, None]) & (positions < (start + w)[:, None])
            keep &= ~inside
        return tf.cast(keep, tf.float32)

    def call(self, features, lengths, training=False):
        if not training or (self.time_masks == 0 and self.freq_masks == 0):
            return features
        shape = tf.shape(features)
        batch, frames, bands = shape[0], shape[1], shape[2]
        t_keep = self._masks(self.time_masks, self.time_width, lengths, frames, batch)
        f_keep = self._masks(
            self.freq_masks, self.freq_width, tf.fill([batch], bands), bands, batch
        )
        return features * t_keep[:, :, None] * f_keep[:, None, :]

    def compute_output_spec(self, features, lengths, training=False):
        return keras.KerasTensor(features.shape, features.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            time_masks=self.time_masks,
            time_width=self.time_width,
            freq_masks=self.freq_masks,
            freq_width=self.freq_width,
            seed=self.seed,
        )
        return config


def _speed(audio: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """Resamples by `factor` (>1 is faster and higher, as sox `speed`), by
    linear interpolation."""
    n = tf.shape(audio)[0]
    new_n = tf.maximum(tf.cast(tf.cast(n, tf.float32) / factor, tf.int32), 1)
    pos = tf.cast(tf.range(new_n), tf.float32) * factor
    lo = tf.minimum(tf.cast(tf.floor(pos), tf.int32), n - 1)
    hi = tf.minimum(lo + 1, n - 1)
    frac = pos - tf.cast(lo, tf.float32)
    return tf.gather(audio, lo) * (1.0 - frac) + tf.gather(audio, hi) * frac


def waveform_augmenter(cfg: AugmentConfig, noise: np.ndarray | None = None):
    """Returns `fn(audio (samples,) float32) -> audio'`, or None if `cfg` asks
    for no waveform augmentation. `noise` is one long 16 kHz noise signal."""
    use_noise = noise is not None and len(noise) > 0 and cfg.noise_prob > 0
    if not (use_noise or cfg.speed_factors or cfg.time_shift_ms or cfg.gain_db):
        return None
    noise_t = tf.constant(noise, tf.float32) if use_noise else None
    factors = tf.constant(cfg.speed_factors or (1.0,), tf.float32)
    max_shift = int(cfg.time_shift_ms * 16)

    def augment(audio):
        if cfg.speed_factors:
            idx = tf.random.uniform([], 0, len(cfg.speed_factors), tf.int32)
            audio = _speed(audio, factors[idx])
        if max_shift:
            shift = tf.random.uniform([], -max_shift, max_shift + 1, tf.int32)
            audio = tf.cond(
                shift >= 0,
                lambda: tf.concat([tf.zeros([shift]), audio], 0),
                lambda: audio[-shift:],
            )
        if cfg.gain_db:
            gain_db = tf.random.uniform([], -cfg.gain_db, cfg.gain_db)
            audio = audio * tf.pow(10.0, gain_db / 20.0)
        if use_noise:
            n = tf.shape(audio)[0]
            total = tf.shape(noise_t)[0]

            def add_noise():
                # Tile so any start offset leaves at least n samples.
                tiled = tf.tile(noise_t, [n // total + 2])
                start = tf.random.uniform([], 0, total, tf.int32)
                seg = tiled[start : start + n]
                snr = tf.random.uniform([], cfg.noise_snr_db[0], cfg.noise_snr_db[1])
                p_sig = tf.reduce_mean(tf.square(audio)) + 1e-10
                p_noise = tf.reduce_mean(tf.square(seg)) + 1e-10
                scale = tf.sqrt(p_sig / (p_noise * tf.pow(10.0, snr / 10.0)))
                return audio + scale * seg

            audio = tf.cond(
                tf.random.uniform([]) < cfg.noise_prob, add_noise, lambda: audio
            )
        return audio

    return augment
