"""The training losses: CTC (TensorFlow's C++ kernel) and distillation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from asr.decoding.ctc import log_softmax
from asr.training.loss import ctc_loss, distillation_loss
from tests.conftest import brute_force_ctc


def test_ctc_loss_equals_brute_force_path_sum():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, 3)).astype(np.float32)
    labels = np.array([[1, 2], [1, 1], [2, 0]], np.int32)
    label_lengths = np.array([2, 2, 1], np.int32)
    loss = np.asarray(ctc_loss(labels, logits, label_lengths, np.full(3, 4)))
    lp = log_softmax(logits.astype(np.float64))
    for b in range(3):
        want = -brute_force_ctc(lp[b])[tuple(labels[b, : label_lengths[b]])]
        assert loss[b] == pytest.approx(want, rel=1e-5)


def test_ctc_loss_ignores_padding_frames_and_labels():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 4, 3)).astype(np.float32)
    labels = np.array([[1, 2], [2, 1]], np.int32)
    lengths = np.array([2, 1], np.int32)
    base = np.asarray(ctc_loss(labels, logits, lengths, np.array([4, 3])))
    # Garbage frames after logit_lengths and garbage labels after label_lengths.
    padded = np.concatenate([logits, 50 * rng.normal(size=(2, 5, 3))], axis=1)
    padded[1, 3:] = 50 * rng.normal(size=(6, 3))
    labels_padded = np.array([[1, 2, 2, 1], [2, 2, 1, 1]], np.int32)
    got = np.asarray(ctc_loss(labels_padded, padded, lengths, np.array([4, 3])))
    np.testing.assert_allclose(got, base, rtol=1e-6)
    lp = log_softmax(logits.astype(np.float64))
    assert base[1] == pytest.approx(-brute_force_ctc(lp[1, :3])[(2,)], rel=1e-5)


def test_ctc_loss_and_gradient_equal_keras_dense_ctc():
    """ctc_loss runs TensorFlow's C++ kernel (sparse labels); keras.ops.ctc_loss
    (dense labels) the pure-TF one: same losses and logit gradients."""
    rng = np.random.default_rng(1)
    logits = 3 * rng.standard_normal((4, 120, 29))
    labels = rng.integers(1, 29, (4, 40)).astype(np.int32)
    label_lengths = np.array([40, 31, 20, 1], np.int32)
    logit_lengths = np.array([120, 100, 64, 3], np.int32)

    def loss_and_grad(fn):
        v = tf.Variable(logits.astype(np.float32))
        with tf.GradientTape() as tape:
            loss = fn(v)
            total = tf.reduce_sum(loss)
        return np.asarray(loss), np.asarray(tape.gradient(total, v))

    want = loss_and_grad(
        lambda v: keras.ops.ctc_loss(
            labels, v, label_lengths, logit_lengths, mask_index=0
        )
    )
    got = loss_and_grad(lambda v: ctc_loss(labels, v, label_lengths, logit_lengths))
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], want[1], atol=1e-3)
    assert np.abs(got[1]).max() > 0.1  # a real gradient, not zeros


def test_distillation_loss_is_the_shifted_frame_kl_within_lengths(rng):
    teacher, student = rng.normal(size=(2, 3, 12, 5)) * 3
    lengths, shift, temperature = np.array([12, 7, 2]), 3, 2.0
    got = distillation_loss(teacher, student, lengths, shift, temperature).numpy()
    want = []
    for t, s, n in zip(teacher, student, lengths):
        lt, ls = log_softmax(t / temperature), log_softmax(s / temperature)
        want.append(
            sum(
                (np.exp(lt[i - shift]) * (lt[i - shift] - ls[i])).sum()
                for i in range(shift, n)
            )
            * temperature**2
        )
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert got[2] == 0  # shorter than the shift: no frame pair
    same = distillation_loss(student, student, lengths).numpy()
    np.testing.assert_allclose(same, 0, atol=1e-5)


def test_an_utterance_too_short_for_its_label_is_skipped_not_an_error():
    """5 labels need at least 5 frames (more with repeats): with 3 the loss is
    0 and its gradient 0, and the batch's other utterance is unaffected."""
    rng = np.random.default_rng(0)
    logits = tf.constant(rng.standard_normal((2, 6, 5)), tf.float32)
    labels = np.array([[1, 2, 3, 4, 1], [2, 3, 0, 0, 0]])
    lengths = np.array([5, 2])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = ctc_loss(labels, logits, lengths, np.array([3, 6]))
    grad = tape.gradient(loss, logits).numpy()
    alone = ctc_loss(labels[1:], logits[1:], lengths[1:], np.array([6]))
    assert loss.numpy()[0] == 0.0 and not grad[0].any()
    np.testing.assert_allclose(loss.numpy()[1], alone.numpy()[0], rtol=1e-6)


@pytest.mark.parametrize(("frames", "skipped"), [(3, True), (4, True), (5, False)])
def test_a_label_with_repeats_needs_a_frame_for_each_blank_between_them(
    frames, skipped
):
    """[1, 2, 2, 3] needs 5 frames (a blank between the 2s): with 4 the kernel
    finds no path (an infinite loss that stopped training); it is skipped."""
    rng = np.random.default_rng(1)
    logits = tf.constant(rng.standard_normal((1, 6, 5)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss = ctc_loss(np.array([[1, 2, 2, 3]]), logits, [4], [frames])
    grad = tape.gradient(loss, logits).numpy()
    assert np.isfinite(loss.numpy()).all() and np.isfinite(grad).all()
    assert (loss.numpy()[0] == 0.0) == skipped
    assert grad.any() != skipped
