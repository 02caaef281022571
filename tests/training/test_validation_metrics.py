"""The validation WER of training decodes as `asr evaluate` does: a pause
between two letters is a word break."""

import numpy as np
import tensorflow as tf

from asr import text
from asr.config import load_config
from asr.decoding.ctc import pause_frames
from asr.training.callbacks import ValidationMetrics
from tests.test_tidy_text import one_hot_logits


def test_validation_wer_breaks_words_at_pauses():
    cfg = load_config()
    a, b = text.encode("ab")
    pause = pause_frames(0.02)
    paths = [[a, *[0] * pause, b], [a, *[0] * (pause - 1), b]]  # "a b", "ab"
    width = max(map(len, paths))
    logits = np.stack([one_hot_logits(p + [0] * (width - len(p))) for p in paths])
    labels = [text.encode("a b"), text.encode("ab")]
    batch = (
        {"audio": tf.zeros((2, 10)), "audio_lengths": tf.constant([10, 10])},
        {
            "labels": tf.constant([labels[0], [*labels[1], 0]]),
            "label_lengths": tf.constant([3, 2]),
        },
    )
    callback = ValidationMetrics(None, [batch], cfg)
    callback._predict = lambda audio, lengths: (
        tf.constant(logits),
        tf.constant([len(p) for p in paths]),
    )
    assert callback.evaluate() == {"val_wer": 0.0, "val_cer": 0.0}
