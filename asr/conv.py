"""`Conv2D`: Keras's 2-D convolution with a faster kernel gradient on CPU.

The same layer as `keras.layers.Conv2D` (same weights, same outputs), except
that in training its kernel gradient is an XLA-compiled
`conv2d_backprop_filter`. On the DS2 front end TensorFlow's oneDNN kernel for
that gradient (wide time x frequency kernels, few channels) runs far below the
forward pass's speed and is the slowest op of the training step; XLA's kernel for
it is several times faster (`scripts/benchmark.py`,
`conv_kernel_grad_xla_x_onednn`; figures in docs/performance.md). The forward
pass and the input gradient stay on oneDNN, which is faster at those.
Inference, streaming and export (`training=False`) run the stock op.

XLA compiles once per shape, so the time axis of the gradient's inputs is
padded to one of 8 lengths per octave (`bucketed_steps`); the zero rows of the
padded output gradient add nothing to the kernel gradient.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from asr.rnn.recurrence import bucketed_steps


@tf.function(jit_compile=True, reduce_retracing=True)
def _kernel_grad_xla(x, dy, kernel_shape, strides):
    return tf.compat.v1.nn.conv2d_backprop_filter(
        x, list(kernel_shape), dy, list(strides), "VALID"
    )


def kernel_grad(x, dy, kernel_shape, strides) -> tf.Tensor:
    """d(loss)/d(kernel) of a VALID `tf.nn.conv2d(x, kernel, strides)` (NHWC)
    given the output gradient `dy`, XLA-compiled on time-bucketed shapes."""
    st = strides[1]
    steps = tf.shape(dy)[1]
    more = bucketed_steps(steps) - steps
    dy = tf.pad(dy, [[0, 0], [0, more], [0, 0], [0, 0]])
    x = tf.pad(x, [[0, 0], [0, st * more], [0, 0], [0, 0]])
    return _kernel_grad_xla(x, dy, tuple(kernel_shape), tuple(strides))


def conv2d(x: tf.Tensor, kernel: tf.Tensor, strides: tuple[int, int]) -> tf.Tensor:
    """VALID NHWC `tf.nn.conv2d` whose kernel gradient is `kernel_grad`."""
    full = [1, int(strides[0]), int(strides[1]), 1]
    shape = [int(d) for d in kernel.shape]

    @tf.custom_gradient
    def run(x, kernel):
        def grad(dy):
            dx = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(x),
                filter=kernel,
                out_backprop=dy,
                strides=full,
                padding="VALID",
            )
            return dx, kernel_grad(x, dy, shape, full)

        return tf.nn.conv2d(x, kernel, full, "VALID"), grad

    return run(x, kernel)


@keras.saving.register_keras_serializable(package="asr")
class Conv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` with `kernel_grad` in training (VALID padding,
    channels_last, no dilation or groups; any other setting, and
    `training=False`, runs Keras's own op)."""

    def _fast_grad(self) -> bool:
        return (
            self.padding == "valid"
            and self.data_format == "channels_last"
            and tuple(self.dilation_rate) == (1, 1)
            and self.groups == 1
        )

    def call(self, inputs, training=False):
        if not (training and self._fast_grad()):
            return super().call(inputs)
        kernel = tf.cast(self.kernel, inputs.dtype)
        outputs = conv2d(inputs, kernel, self.strides)
        if self.use_bias:
            outputs = outputs + tf.cast(self.bias, outputs.dtype)
        return self.activation(outputs)
