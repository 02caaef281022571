"""`SpecAugment`: time and frequency masks inside the model, after the
features, active only when `training=True` (the waveform augmentation of the
input pipeline is `asr.augment`)."""

from __future__ import annotations

import keras
import tensorflow as tf


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
