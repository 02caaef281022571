"""The cell maths: one step equals Keras's cells; the loops and their buckets."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

from asr.rnn.recurrence import bucketed_steps, gru_step, lstm_step, simple_step


def test_xla_time_buckets_are_few_and_tight():
    steps = tf.range(1, 2049)
    padded = bucketed_steps(steps).numpy()
    assert list(bucketed_steps(tf.constant([1, 7, 8, 16, 17, 37, 500, 512]))) == [
        1, 7, 8, 16, 18, 40, 512, 512,
    ]  # fmt: skip
    assert np.all(padded >= steps) and np.all(padded <= 1.125 * steps.numpy())
    assert len(set(padded[steps.numpy() > 256])) == 8 * 3  # 8 per octave


def test_xla_loops_retraced_for_other_widths_stay_correct():
    # The compiled loops are shared by every layer (reduce_retracing): a later
    # layer with other units is traced with relaxed, unknown widths.
    from asr.rnn.recurrence import CELLS, recurrence

    rng = np.random.default_rng(0)
    for cell, gates in CELLS.items():
        for units in (4, 16):
            xp = tf.constant(rng.standard_normal((1, 5, 2, gates * units)), tf.float32)
            u = tf.constant(
                0.1 * rng.standard_normal((1, units, gates * units)), tf.float32
            )
            br = tf.zeros((1, 1, gates * units)) if cell == "gru" else None
            xla = recurrence(cell, xp, u, br, jit_compile=True)
            np.testing.assert_allclose(xla, recurrence(cell, xp, u, br), atol=1e-5)
            assert xla.shape == (5, 1, 2, units)
            graph = tf.function(functools.partial(recurrence, cell, jit_compile=True))
            assert (
                graph.get_concrete_function(xp, u, br).structured_outputs.shape[-1]
                == units
            )


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_one_step_equals_the_keras_cell(cell):
    """The step functions (the offline loops and the streaming step run them)
    compute Keras's cells; the LSTM also with its g gate doubled."""
    units, features = 3, 5
    keras.utils.set_random_seed(4)
    layer = {
        "lstm": keras.layers.LSTMCell,
        "gru": keras.layers.GRUCell,
        "simple_rnn": keras.layers.SimpleRNNCell,
    }[cell](units)
    layer.build((None, features))
    rng = np.random.default_rng(5)
    layer.set_weights(
        [w + 0.3 * rng.standard_normal(w.shape) for w in layer.get_weights()]
    )
    x = tf.constant(rng.standard_normal((2, features)), tf.float32)
    states = [tf.constant(rng.standard_normal((2, units)), tf.float32)]
    if cell == "lstm":
        states.append(tf.constant(rng.standard_normal((2, units)), tf.float32))
    want, want_states = layer(x, states)
    kernel, rec, bias = layer.get_weights()
    if cell == "lstm":
        z = x @ kernel + bias + states[0] @ rec
        h, c, a = lstm_step(z, states[1], g_doubled=False)
        assert a is None
        np.testing.assert_allclose(c, want_states[1], atol=1e-6)
        doubled = np.ones(4 * units, np.float32)
        doubled[2 * units : 3 * units] = 2.0
        h2, c2, a2 = lstm_step(z * doubled, states[1])
        np.testing.assert_allclose(h2, want, atol=1e-6)
        np.testing.assert_allclose(c2, want_states[1], atol=1e-6)
        assert a2.shape == (2, 4 * units)
    elif cell == "gru":
        h, *_ = gru_step(x @ kernel + bias[0], states[0] @ rec + bias[1], states[0])
    else:
        h = simple_step(x @ kernel + bias, states[0] @ rec)
    np.testing.assert_allclose(h, want, atol=1e-6)


@pytest.mark.parametrize("directions", [1, 2])
def test_xla_inference_loop_equals_the_training_loop_and_keeps_a_gradient(directions):
    """`inference=True` (an XLA LSTM that keeps only h, one compiled 2-D loop
    per direction) gives the plain graph's outputs for a unidirectional and a
    bidirectional layer; a gradient through it is still right (it reruns the
    training loop), only slower."""
    from asr.rnn.recurrence import recurrence

    rng = np.random.default_rng(1)
    xp = tf.constant(rng.standard_normal((directions, 7, 3, 16)), tf.float32)
    u = tf.constant(0.1 * rng.standard_normal((directions, 4, 16)), tf.float32)
    fast = recurrence("lstm", xp, u, jit_compile=True, inference=True)
    assert fast.shape == (7, directions, 3, 4)
    np.testing.assert_allclose(fast, recurrence("lstm", xp, u), atol=1e-6)
    grads = []
    for inference in (True, False):
        with tf.GradientTape() as tape:
            tape.watch([xp, u])
            h = recurrence("lstm", xp, u, jit_compile=True, inference=inference)
            loss = tf.reduce_sum(h * h)
        grads.append(tape.gradient(loss, [xp, u]))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, atol=1e-5)
