import functools

import numpy as np
import tensorflow as tf

from asr.recurrence import bucketed_steps


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
    from asr.recurrence import CELLS, recurrence

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
