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
