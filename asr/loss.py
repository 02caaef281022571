"""The CTC loss, in the graph, on TensorFlow's C++ CTC kernel (blank id 0)."""

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
        (batch,) float32 losses.
    """
    logits = tf.cast(logits, tf.float32)  # float16 would underflow
    labels = tf.cast(labels, tf.int32)
    # Sparse labels select TensorFlow's C++ CTC kernel; dense ones (what
    # keras.ops.ctc_loss passes) its pure-TF version, ~40x slower on CPU: on
    # 16 x 500 frames, 3.6 s of a 7.8 s training step (scripts/benchmark.py,
    # ctc_sparse_x_dense).
    mask = tf.sequence_mask(label_lengths, tf.shape(labels)[1])
    where = tf.where(mask)
    sparse = tf.SparseTensor(
        where, tf.gather_nd(labels, where), tf.shape(labels, out_type=tf.int64)
    )
    return tf.nn.ctc_loss(
        sparse,
        logits,
        None,
        tf.cast(logit_lengths, tf.int32),
        logits_time_major=False,
        blank_index=text.BLANK,
    )
