"""Keyword classifier answers and scores (`asr.classification`)."""

import json

import numpy as np
import pytest

from asr.classification import (
    SILENCE,
    UNKNOWN,
    classification_scores,
    format_confusion,
    predict,
    softmax,
    write_confusion,
)

CLASSES = ["yes", "no", UNKNOWN, SILENCE]


def test_probabilities_sum_to_one_and_keep_the_order():
    logits = np.array([[2.0, -1.0, 0.5, 800.0], [0.0, 0.0, 0.0, 0.0]])
    p = softmax(logits)
    np.testing.assert_allclose(p.sum(-1), 1.0)
    assert np.isfinite(p).all() and p[0].argmax() == 3
    np.testing.assert_allclose(p[1], 0.25)


def test_a_keyword_under_the_threshold_is_answered_unknown():
    p = np.array([0.45, 0.25, 0.2, 0.1])
    weak = predict(p, CLASSES, threshold=0.5)
    assert (weak.word, weak.best, weak.rejected) == (UNKNOWN, "yes", True)
    assert weak.probability == pytest.approx(0.45)
    assert [w for w, _ in weak.top] == ["yes", "no", UNKNOWN]
    sure = predict(p, CLASSES, threshold=0.4)
    assert (sure.word, sure.rejected) == ("yes", False)
    # silence and unknown are never rejected, however unsure
    quiet = predict(np.array([0.2, 0.2, 0.2, 0.4]), CLASSES, threshold=0.9)
    assert quiet.word == SILENCE
    assert json.loads(json.dumps(weak.to_json()))["top"][0]["word"] == "yes"
    with pytest.raises(ValueError):
        predict(p[:3], CLASSES)


def test_confusion_matrix_and_false_accepts_on_a_constructed_set():
    refs = ["yes", "yes", "no", UNKNOWN, UNKNOWN, UNKNOWN, SILENCE, SILENCE]
    hyps = ["yes", UNKNOWN, "yes", UNKNOWN, "no", UNKNOWN, SILENCE, "yes"]
    s = classification_scores(refs, hyps, CLASSES)
    assert s["accuracy"] == pytest.approx(4 / 8)
    # 5 non-keyword rows, 2 answered with a keyword
    assert (s["false_accepts"], s["non_keyword_rows"]) == (2, 5)
    assert s["false_accept_rate"] == pytest.approx(0.4)
    # 3 keyword rows, 1 answered _unknown_
    assert s["false_reject_rate"] == pytest.approx(1 / 3)
    m = np.array(s["confusion"]["matrix"])
    assert m.sum() == 8
    assert m[0].tolist() == [1, 0, 1, 0]  # yes -> yes, _unknown_
    assert m[:, 0].tolist() == [1, 1, 0, 1]  # answered yes
    assert s["per_class"]["yes"] == {"precision": 1 / 3, "recall": 0.5, "support": 2}
    assert s["per_class"]["no"]["recall"] == 0.0
    assert s["per_class"][UNKNOWN]["precision"] == pytest.approx(2 / 3)
    text = format_confusion(s)
    assert "false accepts 2/5" in text and "yes" in text


def test_labels_the_model_does_not_know_are_errors_not_crashes():
    s = classification_scores(["maybe", "yes"], ["yes", "yes"], ["yes"])
    assert s["confusion"]["classes"] == ["yes", "maybe"]
    assert s["accuracy"] == 0.5
    assert s["false_accept_rate"] is None  # no _unknown_ / _silence_ rows


def test_write_confusion_writes_text_and_png(tmp_path):
    s = classification_scores(["yes", SILENCE], ["yes", "no"], CLASSES)
    text = write_confusion(s, tmp_path)
    assert (tmp_path / "confusion.txt").read_text() == text
    assert (tmp_path / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
