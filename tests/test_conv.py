"""asr.conv.Conv2D: Keras's Conv2D with an XLA-compiled kernel gradient."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from asr.conv import Conv2D
from tests.layers_test_case import run_layer_test


def _outputs_and_grads(layer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * tf.sin(y))  # a non-uniform output gradient
    return [y, *tape.gradient(loss, [x, *layer.trainable_weights])]


@pytest.mark.parametrize(
    "kernel, strides, channels, steps, bias",
    [
        ((11, 41), (2, 2), 1, 334, False),  # ds2 conv0; an odd row left over
        ((11, 21), (1, 2), 32, 201, False),  # ds2 conv1
        ((3, 3), (3, 1), 4, 17, True),  # bias, stride 3 in time
    ],
)
def test_same_outputs_and_gradients_as_keras(kernel, strides, channels, steps, bias):
    x = tf.random.stateless_normal([3, steps, 60, channels], seed=[1, steps])
    stock = keras.layers.Conv2D(8, kernel, strides=strides, use_bias=bias)
    fast = Conv2D(8, kernel, strides=strides, use_bias=bias, activation="relu")
    stock.build(x.shape)
    fast.build(x.shape)
    stock.set_weights([w + 0.1 for w in stock.get_weights()])  # a non-zero bias
    fast.set_weights(stock.get_weights())
    stock_act = keras.Sequential([stock, keras.layers.ReLU()])
    for want, got in zip(_outputs_and_grads(stock_act, x), _outputs_and_grads(fast, x)):
        assert want.shape == got.shape
        scale = float(tf.reduce_max(tf.abs(want)))
        np.testing.assert_allclose(got / scale, want / scale, atol=1e-5)


def test_shared_layer_checks_inference_is_the_stock_op(tmp_path):
    """Training (the XLA kernel gradient) and inference (Keras's op) give the
    same outputs, and a `.keras` file keeps the layer."""

    def stock(layer, x):
        conv = keras.layers.Conv2D.from_config(layer.get_config())
        conv.build(x.shape)
        conv.set_weights(layer.get_weights())
        return conv(x)

    x = np.random.default_rng(0).standard_normal((2, 9, 20, 1)).astype("float32")
    run_layer_test(
        Conv2D,
        {"filters": 4, "kernel_size": (3, 5), "strides": (1, 2), "activation": "relu"},
        [x],
        tmp_path,
        reference=stock,
    )
