"""The acoustic model: waveform -> log-mel -> CNN -> stacked (Bi)RNN -> logits.

`build_model(cfg)` returns a functional Keras model

    inputs:  audio (batch, samples) float32, audio_lengths (batch,) int32
    outputs: logits (batch, frames', classes) float32, logit_lengths (batch,) int32
             (classifier head: class logits (batch, classes) and the same lengths)

Padding never changes a real frame's output: convolutions pad time by a fixed
amount (so output frame j always sees the same input frames whatever the
batch's length), padded frames are zeroed after every block, and the recurrent
layers get the true-length mask. With `causal=True` the convolutions pad only on
the left and the recurrent layers run forwards only: the streaming model.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from asr import text
from asr.config import ExperimentConfig, ModelConfig
from asr.conv import Conv2D
from asr.features import GlobalNormalization, LogMel, length_mask, num_frames
from asr.rnn.layer import make_rnn
from asr.spec_augment import SpecAugment


def conv_time_padding(kernel: int, causal: bool) -> tuple[int, int]:
    """(left, right) frames of zero padding in time for one conv layer."""
    if causal:
        return kernel - 1, 0
    left = (kernel - 1) // 2
    return left, kernel - 1 - left


def output_lengths(frame_lengths, cfg: ModelConfig):
    """Output frames of the conv stack for `frame_lengths` feature frames.

    Each conv keeps `ceil(n / stride)` frames (its padding totals kernel - 1).
    Works on ints, numpy arrays and tensors.
    """
    n = frame_lengths
    for (_kt, _kf), (st, _sf) in zip(cfg.conv_kernels, cfg.conv_strides):
        n = -(-n // st)
    return n


def time_stride(cfg: ModelConfig) -> int:
    """Feature frames per output frame."""
    return int(np.prod([s[0] for s in cfg.conv_strides], dtype=int))


def too_short(num_samples: int, ids: list[int], cfg: ExperimentConfig) -> str | None:
    """Why `num_samples` of audio cannot carry the label `ids` under CTC (fewer
    output frames than the labels and their repeats need), or None."""
    frames = output_lengths(num_frames(num_samples, cfg.features), cfg.model)
    need = max(1, text.ctc_min_frames(ids))
    if need <= frames:
        return None
    seconds = num_samples / cfg.features.sample_rate
    return (
        f"too short for its transcript: {seconds:.3f} s of "
        f"audio gives {frames} output frames, the transcript needs {need} CTC "
        "frames"
    )


@keras.saving.register_keras_serializable(package="asr")
class MaskTime(keras.layers.Layer):
    """Zeroes the padded time steps of a (batch, time, ...) tensor."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # consumes the RNN's mask; lengths carry it on

    def compute_mask(self, x, lengths, mask=None):
        return None

    def call(self, x, lengths):
        mask = length_mask(lengths, tf.shape(x)[1], x.dtype)
        extra = len(x.shape) - 2
        return x * tf.reshape(mask, tf.concat([tf.shape(mask), [1] * extra], 0))

    def compute_output_spec(self, x, lengths):
        return keras.KerasTensor(x.shape, x.dtype)


@keras.saving.register_keras_serializable(package="asr")
class ConvLengths(keras.layers.Layer):
    """Output lengths of one conv layer: ceil(n / stride)."""

    def __init__(self, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.stride = stride

    def call(self, lengths):
        return (lengths + self.stride - 1) // self.stride

    def compute_output_spec(self, lengths):
        return keras.KerasTensor(lengths.shape, "int32")

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}


@keras.saving.register_keras_serializable(package="asr")
class SequenceMask(keras.layers.Layer):
    """(batch,) lengths -> (batch, time) bool mask for the time axis of `x`."""

    def call(self, x, lengths):
        return tf.sequence_mask(lengths, tf.shape(x)[1])

    def compute_output_spec(self, x, lengths):
        return keras.KerasTensor(x.shape[:2], "bool")


@keras.saving.register_keras_serializable(package="asr")
class MaskedMeanPool(keras.layers.Layer):
    """Mean over each utterance's real frames: (batch, time, d) -> (batch, d)."""

    def call(self, x, lengths):
        mask = length_mask(lengths, tf.shape(x)[1], x.dtype)[:, :, None]
        total = tf.reduce_sum(x * mask, axis=1)
        return total / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)

    def compute_output_spec(self, x, lengths):
        return keras.KerasTensor((x.shape[0], x.shape[2]), x.dtype)


@keras.saving.register_keras_serializable(package="asr")
class ClippedReLU(keras.layers.Layer):
    """min(max(x, 0), 20), DeepSpeech2's activation."""

    def call(self, x):
        return tf.clip_by_value(x, 0.0, 20.0)


@keras.saving.register_keras_serializable(package="asr")
class LookAhead(keras.layers.Layer):
    """DeepSpeech2's lookahead (row) convolution over time, per feature:
    `out[t] = sum_{i=0..context} w[i] * x[t + i]`, zeros past the end.

    Gives a forward-only model `context` frames of future at a streaming
    latency of `context` output frames. Starts as the identity (`w[0] = 1`), so
    adding it to a trained model changes nothing until it is trained.
    """

    def __init__(self, context: int, **kwargs):
        super().__init__(**kwargs)
        self.context = int(context)

    def build(self, input_shape):
        def identity(shape, dtype=None):
            return tf.one_hot(
                tf.zeros([shape[1]], tf.int32), shape[0], axis=0, dtype=dtype
            )

        self.kernel = self.add_weight(
            shape=(self.context + 1, int(input_shape[-1])),
            initializer=identity,
            name="kernel",
        )

    def extend_from(self, kernel) -> None:
        """Takes the kernel of a LookAhead with less context (fewer rows): the
        extra future taps start at zero, so the output is unchanged until
        training uses them."""
        kernel = np.asarray(kernel)
        if kernel.shape[0] > self.context + 1 or kernel.shape[1:] != tuple(
            self.kernel.shape[1:]
        ):
            raise ValueError(
                f"{self.name}: cannot extend a {tuple(self.kernel.shape)} look-ahead "
                f"kernel from {kernel.shape}"
            )
        grown = np.zeros(self.kernel.shape, kernel.dtype)
        grown[: kernel.shape[0]] = kernel
        self.kernel.assign(grown)

    def window(self, z):
        """(batch, frames + context, features) -> (batch, frames, features):
        output `t` from inputs `t .. t + context` (the streaming form)."""
        w = tf.cast(self.kernel, z.dtype)
        frames = tf.shape(z)[1] - self.context
        return tf.add_n([w[i] * z[:, i : i + frames] for i in range(self.context + 1)])

    def call(self, x):
        return self.window(tf.pad(x, [[0, 0], [0, self.context], [0, 0]]))

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, x.dtype)

    def get_config(self):
        return {**super().get_config(), "context": self.context}


def _rnn_layer(cfg: ModelConfig, name: str) -> keras.layers.Layer:
    return make_rnn(
        cfg.rnn_cell,
        cfg.rnn_units,
        cfg.bidirectional,
        cfg.rnn_impl,
        name=name,
        kernel_initializer=cfg.initializer,
        kernel_regularizer=_regularizer(cfg),
    )


def _regularizer(cfg: ModelConfig):
    if cfg.l1 or cfg.l2:
        return keras.regularizers.L1L2(l1=cfg.l1, l2=cfg.l2)
    return None


def build_model(cfg: ExperimentConfig, name: str = "asr") -> keras.Model:
    """Builds the functional model described by `cfg` (see module docstring)."""
    m, a = cfg.model, cfg.augment
    audio = keras.Input((None,), dtype="float32", name="audio")
    audio_lengths = keras.Input((), dtype="int32", name="audio_lengths")

    feats, lengths = LogMel.from_feature_config(cfg.features, name="log_mel")(
        audio, audio_lengths
    )
    x = GlobalNormalization(cfg.features.n_mels, name="normalization")(feats, lengths)
    x = SpecAugment(
        a.spec_time_masks,
        a.spec_time_width,
        a.spec_freq_masks,
        a.spec_freq_width,
        seed=cfg.train.seed,
        name="spec_augment",
    )(x, lengths)
    x = keras.layers.Reshape((-1, cfg.features.n_mels, 1), name="add_channel")(x)

    for i, (filters, (kt, kf), (st, sf)) in enumerate(
        zip(m.conv_filters, m.conv_kernels, m.conv_strides)
    ):
        freq_pad = max(kf - 1, 0)
        x = keras.layers.ZeroPadding2D(
            (
                conv_time_padding(kt, m.causal),
                (freq_pad // 2, freq_pad - freq_pad // 2),
            ),
            name=f"conv{i}_pad",
        )(x)
        x = Conv2D(
            filters,
            (kt, kf),
            strides=(st, sf),
            padding="valid",
            use_bias=False,
            kernel_initializer=m.initializer,
            kernel_regularizer=_regularizer(m),
            name=f"conv{i}",
        )(x)
        x = keras.layers.BatchNormalization(name=f"conv{i}_bn")(x)
        x = (
            ClippedReLU(name=f"conv{i}_act")
            if m.conv_activation == "clipped_relu"
            else keras.layers.ReLU(name=f"conv{i}_act")
        )(x)
        lengths = ConvLengths(st, name=f"conv{i}_lengths")(lengths)
        x = MaskTime(name=f"conv{i}_mask")(x, lengths)

    freq, channels = x.shape[2], x.shape[3]
    x = keras.layers.Reshape((-1, freq * channels), name="flatten_freq")(x)
    mask = SequenceMask(name="time_mask")(x, lengths)
    for i in range(m.rnn_layers):
        x = _rnn_layer(m, f"rnn{i}")(x, mask=mask)
        if i < m.rnn_layers - 1:
            if m.rnn_norm == "batch":
                x = keras.layers.BatchNormalization(name=f"rnn{i}_bn")(x)
            elif m.rnn_norm == "layer":
                x = keras.layers.LayerNormalization(name=f"rnn{i}_ln")(x)
            if m.dropout:
                x = keras.layers.Dropout(m.dropout, name=f"rnn{i}_dropout")(x)
        x = MaskTime(name=f"rnn{i}_mask")(x, lengths)
    if m.lookahead:
        x = LookAhead(m.lookahead, name="lookahead")(x)

    if m.head == "classifier":
        if not m.classes:
            raise ValueError("model.classes: the classifier head needs the class names")
        pooled = MaskedMeanPool(name="pool")(x, lengths)
        logits = keras.layers.Dense(len(m.classes), dtype="float32", name="classes")(
            pooled
        )
    else:
        logits = keras.layers.Dense(
            text.vocab_size(),
            dtype="float32",
            kernel_regularizer=_regularizer(m),
            name="logits",
        )(x)
    lengths = keras.layers.Identity(name="logit_lengths")(lengths)
    return keras.Model([audio, audio_lengths], [logits, lengths], name=name)


def set_normalization(model: keras.Model, mean: np.ndarray, std: np.ndarray) -> None:
    """Stores global feature statistics in the model."""
    model.get_layer("normalization").set_stats(mean, std)


def frontend_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The conv front end (for freezing when fine-tuning)."""
    return [layer for layer in model.layers if layer.name.startswith("conv")]


def make_predict_fn(model: keras.Model):
    """One compiled inference function for any batch and length (traced once):
    `fn(audio (batch, samples) float32, audio_lengths (batch,) int32) ->
    (logits, logit_lengths)`. Never call the Keras model eagerly in a loop."""

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([None], tf.int32),
        ],
        reduce_retracing=True,
    )
    def predict(audio, audio_lengths):
        logits, lengths = model([audio, audio_lengths], training=False)
        return tf.cast(logits, tf.float32), lengths

    return predict
