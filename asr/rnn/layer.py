"""Fused recurrent layers: a faster drop-in for Keras (Bi)LSTM / GRU / SimpleRNN.

`FusedRNN` computes the same function as `keras.layers.LSTM(units,
return_sequences=True)` (or `GRU(..., reset_after=True)`, `SimpleRNN`), and,
with `bidirectional=True`, as `keras.layers.Bidirectional(...)` around it, with
the same gate order and one weight set per direction. It is faster on CPU
because:

- the input projection of every gate, time step and direction is ONE batched
  matmul before the recurrence (Keras does a small matmul per step);
- both directions run in the same loop, as one batched matmul per step; the
  backward direction reads each sequence reversed within its own length
  (`tf.reverse_sequence`), so a right-padded batch needs no masking inside
  the loop: padded steps come after every real step in both directions;
- the gradient is written by hand (`tf.custom_gradient`): the backward loop
  does only the `dz @ U^T` recurrence and the gate math, and the weight
  gradients are one matmul each after the loop (autodiff of a `while_loop`
  would do per-step weight-gradient matmuls and stack pushes);
- optionally (`jit_compile=True`) each loop is compiled by XLA, which fuses
  the per-step gate math into a few kernels.

Masks must be right-padded (`True` then `False`, as `tf.sequence_mask` gives;
the same condition Keras has for cuDNN). Outputs match Keras: with a mask,
the bidirectional layer gives zeros at padded steps and the unidirectional
one repeats the last real output (Keras's `zero_output_for_mask=False`).

Weights: `kernel` (dirs, input_dim, gates * units), `recurrent_kernel` (dirs,
units, gates * units), `bias` (dirs, gates * units), or (dirs, 2, 3 * units)
for the GRU (input and recurrent bias, as Keras's `reset_after=True`).
Direction 0 is forward. Each `[d]` slice is exactly the Keras weight of that
direction; `keras_to_fused_weights` and `fused_to_keras_weights` convert.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from asr.rnn.recurrence import CELLS, bucketed_steps, recurrence

IMPLS = ("keras", "fused")


# -- the layer -----------------------------------------------------------------------
def _fresh(initializer):
    """A copy of a Keras initializer, as Keras's Bidirectional makes one per
    direction: an unseeded random one then draws anew (a Keras initializer
    instance repeats its values)."""
    if isinstance(initializer, keras.initializers.Initializer):
        return initializer.__class__.from_config(initializer.get_config())
    return initializer


class _PerDirection:
    """Initializes a (dirs, *shape) weight one Keras-shaped direction at a time,
    so each direction gets the distribution the Keras layer would give it."""

    def __init__(self, initializer, dirs: int):
        self.initializer = keras.initializers.get(initializer)
        self.dirs = dirs

    def __call__(self, shape, dtype=None):
        parts = [_fresh(self.initializer)(shape[1:], dtype) for _ in range(self.dirs)]
        return keras.ops.stack(parts, axis=0)


class _ForgetBias:
    """Keras's `unit_forget_bias`: ones for the forget gate, `initializer` for
    the other gates."""

    def __init__(self, initializer, units: int):
        self.initializer = keras.initializers.get(initializer)
        self.units = units

    def __call__(self, shape, dtype=None):
        h = self.units
        return keras.ops.concatenate(
            [
                _fresh(self.initializer)((h,), dtype),
                keras.initializers.get("ones")((h,), dtype),
                _fresh(self.initializer)((2 * h,), dtype),
            ]
        )


@keras.saving.register_keras_serializable(package="asr")
class FusedRNN(keras.layers.Layer):
    """(Bi)LSTM, GRU or SimpleRNN over a whole sequence, returning every step.

    Same function and weights as `keras.layers.LSTM(units,
    return_sequences=True)` (GRU with `reset_after=True`), or, if
    `bidirectional`, as `keras.layers.Bidirectional` of it with
    `merge_mode="concat"` (forward units first). See the module docstring.

    Args:
        units: hidden units per direction.
        cell: "lstm", "gru" or "simple_rnn".
        bidirectional: also run a backward direction and concatenate.
        kernel_initializer, recurrent_initializer, bias_initializer: as Keras,
            applied to each direction separately.
        unit_forget_bias: LSTM: forget-gate bias starts at 1.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: as Keras
            (applied to the weights of both directions together).
        jit_compile: compile the recurrences with XLA. XLA compiles once per
            input shape, so the time axis is padded up to one of 8 lengths per
            octave (at most 12.5% more steps) to bound the recompiles.
        projection_dtype: "float32", or "bfloat16" for the input projection
            (x W over all steps: inputs and kernel rounded to bfloat16, float32
            accumulation, `asr.precision`); the recurrence stays float32.

    Call args:
        inputs: (batch, time, features).
        mask: optional (batch, time) bool, right-padded.
        training: False (said explicitly, as `Recognizer` does) lets an
            XLA-compiled LSTM skip storing what only its gradient reads.
    Returns:
        (batch, time, dirs * units).
    """

    def __init__(
        self,
        units: int,
        cell: str = "lstm",
        bidirectional: bool = False,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        jit_compile: bool = False,
        projection_dtype: str = "float32",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if cell not in CELLS:
            raise ValueError(f"cell: unknown {cell!r}; known: {sorted(CELLS)}")
        if units < 1:
            raise ValueError(f"units: must be >= 1, got {units}")
        self.units = int(units)
        self.cell = cell
        self.bidirectional = bool(bidirectional)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.jit_compile = bool(jit_compile)
        if projection_dtype not in ("float32", "bfloat16"):
            raise ValueError(
                f"projection_dtype: {projection_dtype!r} is not float32 or bfloat16"
            )
        self.projection_dtype = projection_dtype
        self.supports_masking = True
        # Like Keras's LSTM on TensorFlow: keeps `compile(jit_compile="auto")`
        # from compiling the whole train step (the loops have their own XLA).
        self.supports_jit = False

    @property
    def dirs(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def gates(self) -> int:
        return CELLS[self.cell]

    def build(self, input_shape):
        d, width = self.dirs, self.gates * self.units
        self.kernel = self.add_weight(
            name="kernel",
            shape=(d, int(input_shape[-1]), width),
            initializer=_PerDirection(self.kernel_initializer, d),
            regularizer=self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel",
            shape=(d, self.units, width),
            initializer=_PerDirection(self.recurrent_initializer, d),
            regularizer=self.recurrent_regularizer,
        )
        bias_init = self.bias_initializer
        if self.cell == "lstm" and self.unit_forget_bias:
            bias_init = _ForgetBias(bias_init, self.units)
        self.bias = self.add_weight(
            name="bias",
            shape=(d, 2, width) if self.cell == "gru" else (d, width),
            initializer=_PerDirection(bias_init, d),
            regularizer=self.bias_regularizer,
        )

    def call(self, inputs, mask=None, training=None):
        x = tf.convert_to_tensor(inputs)
        dtype = x.dtype
        batch, steps = tf.shape(x)[0], tf.shape(x)[1]
        kernel = tf.cast(self.kernel, dtype)
        u = tf.cast(self.recurrent_kernel, dtype)
        bias = tf.cast(self.bias, dtype)
        br = None
        if self.cell == "gru":
            bias, br = bias[:, 0], bias[:, 1:]
        elif self.cell == "lstm":
            scale = np.ones(4 * self.units, dtype.as_numpy_dtype)
            scale[2 * self.units : 3 * self.units] = 2.0  # tanh via the sigmoid
            kernel, u, bias = kernel * scale, u * scale, bias * scale

        lengths = None
        if mask is not None:
            mask = tf.cast(mask, tf.bool)
            lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
            tf.debugging.assert_equal(
                mask,
                tf.sequence_mask(lengths, steps),
                message=f"{self.name}: the mask must be right-padded",
            )

        x = tf.transpose(x, (1, 0, 2))  # (T, B, F)
        if self.bidirectional:
            x = tf.stack([x, self._reverse(x, lengths)])
        else:
            x = x[None]
        x = tf.reshape(x, (self.dirs, -1, x.shape[-1]))
        if self.projection_dtype == "bfloat16":
            xp = tf.matmul(tf.cast(x, tf.bfloat16), tf.cast(kernel, tf.bfloat16))
            xp = tf.cast(xp, dtype)
        else:
            xp = tf.matmul(x, kernel)
        # No -1 here: an empty batch (a replica's share of a short last batch)
        # leaves it unknowable, and TF then guesses a wrong width.
        width = self.gates * self.units
        xp = tf.reshape(xp + bias[:, None], (self.dirs, steps, batch, width))
        if self.jit_compile:  # padded steps come after the real ones: no effect
            more = bucketed_steps(steps) - steps
            xp = tf.pad(xp, [[0, 0], [0, more], [0, 0], [0, 0]])
        inference = training is False  # only said explicitly (Recognizer)
        h = recurrence(self.cell, xp, u, br, self.jit_compile, inference=inference)
        h = h[:steps]  # (T, D, B, H)

        if self.bidirectional:
            h = tf.concat([h[:, 0], self._reverse(h[:, 1], lengths)], axis=-1)
        else:
            h = h[:, 0]
        y = tf.transpose(h, (1, 0, 2))  # (B, T, D * H)
        if mask is None:
            return y
        if self.bidirectional:
            return y * tf.cast(mask, dtype)[:, :, None]
        # Keras repeats the last real output over the padding (zeros if none).
        last = tf.gather(y, tf.maximum(lengths - 1, 0), axis=1, batch_dims=1)
        last *= tf.cast(lengths > 0, dtype)[:, None]
        return tf.where(mask[:, :, None], y, last[:, None])

    @staticmethod
    def _reverse(x, lengths):
        """(T, B, ...) reversed in time within each sequence's length."""
        if lengths is None:
            return tf.reverse(x, [0])
        return tf.reverse_sequence(x, lengths, seq_axis=0, batch_axis=1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.dirs * self.units)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        ser = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "units": self.units,
            "cell": self.cell,
            "bidirectional": self.bidirectional,
            "kernel_initializer": ser(self.kernel_initializer),
            "recurrent_initializer": ser(self.recurrent_initializer),
            "bias_initializer": ser(self.bias_initializer),
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_regularizer": ser(self.kernel_regularizer),
            "recurrent_regularizer": ser(self.recurrent_regularizer),
            "bias_regularizer": ser(self.bias_regularizer),
            "jit_compile": self.jit_compile,
            "projection_dtype": self.projection_dtype,
        }

    # -- Keras interop --------------------------------------------------------------
    def set_keras_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Loads weights in Keras's layout (`keras_layer.get_weights()`)."""
        self.set_weights(keras_to_fused_weights(weights, self.cell, self.bidirectional))

    def get_keras_weights(self) -> list[np.ndarray]:
        """The weights in the layout of the equivalent Keras layer."""
        return fused_to_keras_weights(self.get_weights(), self.cell, self.bidirectional)

    @classmethod
    def from_keras(cls, layer: keras.layers.Layer, **kwargs) -> FusedRNN:
        """The equivalent FusedRNN of a built Keras LSTM/GRU/SimpleRNN layer or a
        `Bidirectional` of one, with its weights. `kwargs` override the config."""
        bidirectional = isinstance(layer, keras.layers.Bidirectional)
        rnn = layer.forward_layer if bidirectional else layer
        cell = keras_cell_name(rnn)
        if bidirectional and layer.merge_mode != "concat":
            raise ValueError(f"{layer.name}: merge_mode must be 'concat'")
        c = rnn.cell
        config = {
            "units": c.units,
            "cell": cell,
            "bidirectional": bidirectional,
            "kernel_initializer": c.kernel_initializer,
            "recurrent_initializer": c.recurrent_initializer,
            "bias_initializer": c.bias_initializer,
            "unit_forget_bias": getattr(c, "unit_forget_bias", True),
            "kernel_regularizer": c.kernel_regularizer,
            "recurrent_regularizer": c.recurrent_regularizer,
            "bias_regularizer": c.bias_regularizer,
            "name": layer.name,
            "dtype": layer.dtype_policy,
            **kwargs,
        }
        fused = cls(**config)
        fused.build((None, None, int(c.kernel.shape[0])))
        fused.set_keras_weights(layer.get_weights())
        return fused


def keras_cell_name(layer: keras.layers.Layer) -> str:
    """The `cell` name for a Keras RNN layer that FusedRNN can replace (and
    `asr.rnn.recurrence` computes: tanh/sigmoid, GRU `reset_after`).

    Raises:
        ValueError: any other layer or setting.
    """
    if isinstance(layer, keras.layers.LSTM):
        name = "lstm"
    elif isinstance(layer, keras.layers.GRU):
        if not layer.cell.reset_after:
            raise ValueError(f"{layer.name}: only GRU(reset_after=True) is fused")
        name = "gru"
    elif isinstance(layer, keras.layers.SimpleRNN):
        name = "simple_rnn"
    else:
        raise ValueError(f"{layer.name}: not an LSTM, GRU or SimpleRNN layer")
    c = layer.cell
    default = {"lstm": "sigmoid", "gru": "sigmoid", "simple_rnn": None}[name]
    if (
        keras.activations.serialize(c.activation) != "tanh"
        or (default and keras.activations.serialize(c.recurrent_activation) != default)
        or not c.use_bias
        or c.dropout
        or c.recurrent_dropout
        or not layer.return_sequences
        or layer.go_backwards
        or layer.stateful
    ):
        raise ValueError(
            f"{layer.name}: FusedRNN needs tanh/sigmoid, use_bias=True, no dropout, "
            "return_sequences=True, go_backwards=False, stateful=False"
        )
    return name


def keras_to_fused_weights(
    weights: Sequence[np.ndarray], cell: str, bidirectional: bool
) -> list[np.ndarray]:
    """Keras (Bidirectional) RNN weights -> FusedRNN weights.

    Args:
        weights: `[kernel, recurrent_kernel, bias]` per direction, forward first,
            as `layer.get_weights()` gives them.
    Returns:
        `[kernel (D, F, G*H), recurrent_kernel (D, H, G*H), bias]`.
    """
    dirs = 2 if bidirectional else 1
    if len(weights) != 3 * dirs:
        raise ValueError(
            f"expected {3 * dirs} Keras weights ({cell}, bidirectional="
            f"{bidirectional}), got {len(weights)}"
        )
    return [np.stack([np.asarray(w) for w in weights[i::3]]) for i in range(3)]


def fused_to_keras_weights(
    weights: Sequence[np.ndarray], cell: str, bidirectional: bool
) -> list[np.ndarray]:
    """FusedRNN weights -> `[kernel, recurrent_kernel, bias]` per direction."""
    dirs = 2 if bidirectional else 1
    return [np.asarray(weights[i])[d] for d in range(dirs) for i in range(3)]


def make_rnn(
    cell: str,
    units: int,
    bidirectional: bool,
    impl: str = "keras",
    *,
    name: str,
    kernel_initializer="glorot_uniform",
    kernel_regularizer=None,
    jit_compile: bool = False,
) -> keras.layers.Layer:
    """One recurrent layer returning every step, Keras's or the fused one.

    Both take `(x, mask=...)`: x (batch, time, features), mask (batch, time)
    bool, right-padded; both return (batch, time, dirs * units) and compute the
    same function. Layer names: `name`, or `bi_{name}` when bidirectional.

    Args:
        cell: "lstm", "gru" (reset_after=True) or "simple_rnn".
        impl: "keras" (keras.layers.LSTM etc., cuDNN on GPU) or "fused"
            (`FusedRNN`, faster on CPU).
        jit_compile: fused only: compile the recurrences with XLA.
    Raises:
        ValueError: unknown cell or impl.
    """
    if cell not in CELLS:
        raise ValueError(f"cell: unknown {cell!r}; known: {sorted(CELLS)}")
    layer_name = f"bi_{name}" if bidirectional else name
    if impl == "fused":
        return FusedRNN(
            units,
            cell,
            bidirectional,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=kernel_regularizer,
            jit_compile=jit_compile,
            name=layer_name,
        )
    if impl != "keras":
        raise ValueError(f"impl: unknown {impl!r}; known: {list(IMPLS)}")
    cls = {
        "lstm": keras.layers.LSTM,
        "gru": keras.layers.GRU,
        "simple_rnn": keras.layers.SimpleRNN,
    }[cell]
    kwargs = {"reset_after": True} if cell == "gru" else {}
    layer = cls(
        units,
        return_sequences=True,
        kernel_initializer=kernel_initializer,
        kernel_regularizer=kernel_regularizer,
        name=name,
        **kwargs,
    )
    if bidirectional:
        layer = keras.layers.Bidirectional(layer, merge_mode="concat", name=layer_name)
    return layer
