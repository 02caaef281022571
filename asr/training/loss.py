"""Training losses in the graph: CTC on TensorFlow's C++ CTC kernel (blank id
0), and the frame-level distillation loss from a teacher model."""

from __future__ import annotations

import tensorflow as tf

from asr import text


def ctc_loss(labels, logits, label_lengths, logit_lengths):
    """Per-utterance CTC loss (negative log-likelihood), blank id 0.

    Args:
        labels: (batch, max_label_len) int, padded on the right; values beyond
            `label_lengths` are ignored. Blank id 0 never appears in a label.
        logits: (batch, out_frames, vocab) float, unnormalised.
        label_lengths: (batch,) int, true label lengths.
        logit_lengths: (batch,) int, `model.output_lengths(feature_lengths)`,
            never `logits.shape[1]`: padding would be scored as audio.

    Returns:
        (batch,) float32 losses; 0 (and no gradient) for an utterance whose
        frames are too few for its label (a very short clip sped up): it is
        skipped rather than stopping training. A label needs one frame per
        character plus one blank between each pair of equal neighbours
        ("three": 6 frames).
    """
    logits = tf.cast(logits, tf.float32)  # float16 would underflow
    labels = tf.cast(labels, tf.int32)
    # Sparse labels select TensorFlow's C++ CTC kernel; dense ones (what
    # keras.ops.ctc_loss passes) its pure-TF version, a scan over frames that
    # made the loss the slowest part of a training step on CPU
    # (scripts/benchmark.py, ctc_sparse_x_dense; docs/performance.md).
    mask = tf.sequence_mask(label_lengths, tf.shape(labels)[1])
    where = tf.where(mask)
    sparse = tf.SparseTensor(
        where, tf.gather_nd(labels, where), tf.shape(labels, out_type=tf.int64)
    )
    # The kernel takes the blank as the last class: the logits are rotated so
    # that blank 0 is last and labels 1..V-1 become 0..V-2 (what tf.nn.ctc_loss
    # does for blank_index=0, which cannot skip impossible utterances).
    assert text.BLANK == 0
    rotated = tf.concat([logits[:, :, 1:], logits[:, :, :1]], axis=-1)
    sparse = tf.SparseTensor(sparse.indices, sparse.values - 1, sparse.dense_shape)
    logit_lengths = tf.cast(logit_lengths, tf.int32)
    loss = tf.compat.v1.nn.ctc_loss(
        sparse,
        rotated,
        logit_lengths,
        time_major=False,
        ignore_longer_outputs_than_inputs=True,  # skips only len(label) > frames
    )
    repeats = tf.reduce_sum(
        tf.cast((labels[:, 1:] == labels[:, :-1]) & mask[:, 1:], tf.int32), axis=1
    )
    too_short = logit_lengths < tf.cast(label_lengths, tf.int32) + repeats
    return tf.where(too_short, tf.zeros_like(loss), loss)


def distillation_loss(
    teacher_logits, student_logits, lengths, shift: int = 0, temperature=1.0
):
    """Per-utterance KL(teacher || student) of the frame posteriors, summed
    over frames, times temperature^2 (so that its gradient keeps its scale).

    The student's frame t is compared with the teacher's frame t - `shift`: a
    causal student emits each label later than a bidirectional teacher, and
    matching unshifted peaks would teach it to guess the future. The gradient
    with respect to the student's logits is p_student - p_teacher per frame,
    the same form as CTC's (p_student - the alignment posterior), so the
    weight interpolates between the two targets.

    Args:
        teacher_logits, student_logits: (batch, frames, vocab), same shape.
        lengths: (batch,) valid frames of each utterance (both models').
        shift: frames the student lags the teacher, >= 0.
        temperature: > 0; softens both distributions.

    Returns:
        (batch,) float32.
    """
    t = tf.stop_gradient(tf.cast(teacher_logits, tf.float32)) / temperature
    s = tf.cast(student_logits, tf.float32) / temperature
    if shift:
        t, s = t[:, :-shift], s[:, shift:]
    mask = tf.sequence_mask(
        tf.cast(lengths, tf.int32) - shift, tf.shape(s)[1], tf.float32
    )
    log_t = tf.nn.log_softmax(t)
    kl = tf.reduce_sum(tf.exp(log_t) * (log_t - tf.nn.log_softmax(s)), axis=-1)
    return tf.reduce_sum(kl * mask, axis=1) * temperature**2
