"""`FusedRNN` against Keras's LSTM / GRU / SimpleRNN (and Bidirectional)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from asr.rnn.layer import (
    FusedRNN,
    fused_to_keras_weights,
    keras_to_fused_weights,
    make_rnn,
)
from tests.layers_test_case import run_layer_test

FEATURES, UNITS, STEPS = 5, 4, 7
LENGTHS = np.array([7, 4, 1, 0])  # right-padded, one full and one empty row
CASES = [(cell, bi) for cell in ("lstm", "gru", "simple_rnn") for bi in (True, False)]


def pair(cell: str, bidirectional: bool, **kwargs):
    """A built stock Keras layer and a FusedRNN holding the same weights."""
    keras.utils.set_random_seed(1)
    stock = make_rnn(cell, UNITS, bidirectional, "keras", name="rnn")
    stock.build((None, None, FEATURES))
    # Non-zero biases, so a wrong bias layout cannot pass.
    rng = np.random.default_rng(2)
    stock.set_weights(
        [w + 0.3 * rng.standard_normal(w.shape) for w in stock.get_weights()]
    )
    return stock, FusedRNN.from_keras(stock, **kwargs)


def inputs(rng):
    x = rng.standard_normal((len(LENGTHS), STEPS, FEATURES)).astype(np.float32)
    return tf.constant(x), tf.sequence_mask(LENGTHS, STEPS)


def loss_and_grads(layer, x, mask, w):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, mask=mask)
        loss = tf.reduce_sum(y * w)
    return y, tape.gradient(loss, [x, *layer.trainable_variables])


@pytest.mark.parametrize("cell,bidirectional", CASES)
def test_outputs_and_gradients_equal_keras_on_a_padded_batch(cell, bidirectional, rng):
    stock, fused = pair(cell, bidirectional)
    x, mask = inputs(rng)
    w = tf.constant(rng.standard_normal((len(LENGTHS), STEPS, fused.dirs * UNITS)))
    w = tf.cast(w, tf.float32)
    y_stock, g_stock = loss_and_grads(stock, x, mask, w)
    y_fused, g_fused = loss_and_grads(fused, x, mask, w)

    np.testing.assert_allclose(y_fused, y_stock, atol=1e-5)
    assert not np.allclose(y_stock, 0.0)
    np.testing.assert_allclose(g_fused[0], g_stock[0], atol=1e-4)
    stock_weights = keras_to_fused_weights(
        [g.numpy() for g in g_stock[1:]], cell, bidirectional
    )
    for got, want in zip(g_fused[1:], stock_weights, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("cell,bidirectional", CASES)
def test_padded_rows_equal_their_unpadded_run(cell, bidirectional, rng):
    _, fused = pair(cell, bidirectional)
    x, mask = inputs(rng)
    batch = fused(x, mask=mask).numpy()
    for row, n in enumerate(LENGTHS):
        if n == 0:
            np.testing.assert_array_equal(batch[row], 0.0)
            continue
        alone = fused(x[row : row + 1, :n]).numpy()[0]
        np.testing.assert_allclose(batch[row, :n], alone, atol=1e-6)
        # Keras: zeros over the padding when bidirectional, else the last output.
        pad = 0.0 if bidirectional else alone[-1]
        np.testing.assert_allclose(
            batch[row, n:], np.broadcast_to(pad, batch[row, n:].shape), atol=1e-6
        )


def test_without_a_mask_equals_keras(rng):
    stock, fused = pair("lstm", True)
    x, _ = inputs(rng)
    np.testing.assert_allclose(fused(x), stock(x), atol=1e-5)


@pytest.mark.parametrize(
    "cell,bidirectional,batch",
    [
        ("lstm", True, 3),
        ("lstm", False, 1),
        ("gru", False, 1),
        ("simple_rnn", False, 2),
    ],
)
def test_xla_compiled_loops_equal_keras(cell, bidirectional, batch, rng):
    """One direction runs 2-D products in the compiled loops (a batched dot
    of one direction at batch 1 is slow under XLA): same values either way."""
    stock, fused = pair(cell, bidirectional, jit_compile=True)
    steps = 19  # run as 20 steps: the extra step must change nothing
    x = tf.constant(rng.standard_normal((batch, steps, FEATURES)), tf.float32)
    mask = tf.sequence_mask([19, 10, 3][:batch], steps)
    w = tf.ones((batch, steps, fused.dirs * UNITS))
    y_stock, g_stock = loss_and_grads(stock, x, mask, w)
    y_fused, g_fused = loss_and_grads(fused, x, mask, w)
    np.testing.assert_allclose(y_fused, y_stock, atol=1e-5)
    np.testing.assert_allclose(g_fused[0], g_stock[0], atol=1e-4)
    recurrent = [g_stock[2], g_stock[5]] if bidirectional else [g_stock[2]]
    np.testing.assert_allclose(g_fused[2], np.stack(recurrent), atol=1e-4)


def test_left_padded_mask_raises(rng):
    _, fused = pair("lstm", False)
    x, _ = inputs(rng)
    left = tf.constant([[False] * 3 + [True] * 4] * len(LENGTHS))
    with pytest.raises(tf.errors.InvalidArgumentError, match="right-padded"):
        fused(x, mask=left)


def test_keras_file_round_trip_in_safe_mode(tmp_path, rng):
    x_in = keras.Input((None, FEATURES))
    m_in = keras.Input((None,), dtype="bool")
    y = make_rnn("lstm", UNITS, True, "fused", name="rnn0")(x_in, mask=m_in)
    y = make_rnn("gru", UNITS, False, "fused", name="rnn1")(y, mask=m_in)
    model = keras.Model([x_in, m_in], y)
    x, mask = inputs(rng)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.get_layer("bi_rnn0"), FusedRNN)
    np.testing.assert_array_equal(loaded([x, mask]), model([x, mask]))


def test_get_config_round_trip():
    layer = FusedRNN(
        3,
        "gru",
        bidirectional=True,
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L1L2(l2=1e-4),
        jit_compile=True,
        projection_dtype="bfloat16",
        name="r",
    )
    config = layer.get_config()
    again = FusedRNN.from_config(config)
    assert again.get_config() == config
    assert (again.cell, again.bidirectional, again.jit_compile) == ("gru", True, True)
    assert again.projection_dtype == "bfloat16"


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_bfloat16_projection_rounds_only_the_input_projection(cell, rng):
    """x W in bfloat16 (8-bit mantissa): close to float32, not equal; the
    output stays float32. A dtype other than float32 / bfloat16 is refused."""
    stock, exact = pair(cell, True)
    _, rounded = pair(cell, True, projection_dtype="bfloat16")
    x, mask = inputs(rng)
    a, b = exact(x, mask=mask), rounded(x, mask=mask)
    assert b.dtype == tf.float32
    np.testing.assert_allclose(b, a, atol=0.03)
    assert np.abs(np.asarray(a) - np.asarray(b)).max() > 0
    with pytest.raises(ValueError, match="'float16' is not float32 or bfloat16"):
        FusedRNN(4, projection_dtype="float16")


@pytest.mark.parametrize("cell,bidirectional", CASES)
def test_weight_layouts_convert_both_ways_and_count_the_same(cell, bidirectional):
    stock, fused = pair(cell, bidirectional)
    weights = stock.get_weights()
    back = fused_to_keras_weights(
        keras_to_fused_weights(weights, cell, bidirectional), cell, bidirectional
    )
    for got, want in zip(back, weights, strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(fused.get_keras_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)
    assert fused.count_params() == stock.count_params()


def test_fresh_lstm_has_keras_initial_biases():
    layer = FusedRNN(UNITS, "lstm", bidirectional=True)
    layer.build((None, None, FEATURES))
    forget = np.zeros((2, 4 * UNITS), np.float32)
    forget[:, UNITS : 2 * UNITS] = 1.0
    np.testing.assert_array_equal(layer.bias.numpy(), forget)
    kernels = layer.kernel.numpy()
    assert not np.allclose(kernels[0], kernels[1])  # each direction drawn anew


def test_make_rnn_names_and_rejects_unknown_choices():
    assert make_rnn("lstm", 4, True, "fused", name="rnn2").name == "bi_rnn2"
    assert make_rnn("lstm", 4, True, "keras", name="rnn2").name == "bi_rnn2"
    assert make_rnn("gru", 4, False, "fused", name="rnn2").name == "rnn2"
    with pytest.raises(ValueError, match="impl"):
        make_rnn("lstm", 4, True, "cudnn", name="r")
    with pytest.raises(ValueError, match="cell"):
        make_rnn("rwkv", 4, True, "fused", name="r")


@pytest.mark.parametrize("cell,bidirectional", CASES)
def test_empty_batch_gives_empty_outputs_and_gradients(cell, bidirectional):
    # A replica's share of a short last batch can be empty under tf.distribute.
    _, fused = pair(cell, bidirectional)
    x = tf.zeros((0, STEPS, FEATURES))
    mask = tf.zeros((0, STEPS), tf.bool)
    y, grads = loss_and_grads(fused, x, mask, tf.zeros((0, STEPS, fused.dirs * UNITS)))
    assert y.shape == (0, STEPS, fused.dirs * UNITS)
    assert [g.shape for g in grads[1:]] == [v.shape for v in fused.trainable_variables]
    assert all(not np.any(g) for g in grads[1:])


@pytest.mark.parametrize(
    "cell,bidirectional", [("lstm", True), ("gru", False), ("simple_rnn", False)]
)
def test_shared_layer_checks_against_the_keras_layer(cell, bidirectional, tmp_path):
    def keras_layer(layer, x):
        stock = make_rnn(cell, UNITS, bidirectional, "keras", name="rnn")
        stock.build((None, None, FEATURES))
        stock.set_weights(layer.get_keras_weights())
        return stock(x)

    x = np.random.default_rng(3).standard_normal((2, STEPS, FEATURES))
    run_layer_test(
        FusedRNN,
        {"units": UNITS, "cell": cell, "bidirectional": bidirectional},
        [x.astype(np.float32)],
        tmp_path,
        reference=keras_layer,
    )
