"""`asr.outputs`: cues from word timings and the exact text of each format;
word confidence from CTC posteriors."""

import json

import numpy as np
import pytest

from asr import outputs, text
from asr.decoding import alignment, ctc

CUES = [
    {"start": 1.23, "end": 2.0, "text": "hello world", "confidence": 0.9},
    {"start": 3661.5, "end": 3662.0405, "text": "again"},
]


def test_srt_layout():
    assert outputs.to_srt(CUES) == (
        "1\n00:00:01,230 --> 00:00:02,000\nhello world\n\n"
        "2\n01:01:01,500 --> 01:01:02,040\nagain\n\n"
    )


def test_vtt_layout():
    assert outputs.to_vtt(CUES) == (
        "WEBVTT\n\n"
        "00:00:01.230 --> 00:00:02.000\nhello world\n\n"
        "01:01:01.500 --> 01:01:02.040\nagain\n\n"
    )


def test_tsv_layout_is_whispers_then_confidence():
    assert outputs.to_tsv(CUES) == (
        "start\tend\ttext\tconfidence\n"
        "1230\t2000\thello world\t0.900\n"
        "3661500\t3662040\tagain\t\n"
    )


def test_txt_and_json():
    assert outputs.to_txt(CUES) == "hello world\nagain\n"
    out = json.loads(outputs.to_json(CUES, text="hello world again", duration=4.0))
    assert out["text"] == "hello world again" and out["duration"] == 4.0
    assert [s["id"] for s in out["segments"]] == [0, 1]
    assert out["segments"][0] == {"id": 0, **CUES[0]}
    assert outputs.to_srt([]) == "" and outputs.to_vtt([]) == "WEBVTT\n\n"


def _w(word, start, end, conf=None):
    w = {"word": word, "start": start, "end": end}
    if conf is not None:
        w["confidence"] = conf
    return w


def test_cues_cut_at_pauses_length_and_characters():
    words = [_w("a", 0.0, 0.2, 0.5), _w("b", 0.6, 0.8, 1.0), _w("c", 1.3, 1.5, 0.2)]
    cues = outputs.make_cues(words)  # 0.4 s pause: same cue; 0.5 s: a new one
    assert cues == [
        {"start": 0.0, "end": 0.8, "text": "a b", "confidence": 0.75},
        {"start": 1.3, "end": 1.5, "text": "c", "confidence": 0.2},
    ]
    long = [_w("w", i * 0.5, i * 0.5 + 0.3) for i in range(20)]  # 0.2 s pauses
    cues = outputs.make_cues(long)
    assert all(c["end"] - c["start"] <= 7.0 for c in cues) and len(cues) == 2
    assert cues[0] == {"start": 0.0, "end": 6.8, "text": " ".join(["w"] * 14)}
    chars = [_w("abcdefghij", i * 0.4, i * 0.4 + 0.3) for i in range(6)]
    cues = outputs.make_cues(chars)
    assert [len(c["text"]) for c in cues] == [32, 32]  # a 4th word: 43 > 42
    assert outputs.make_cues([]) == []


def _posteriors(labels: str, sharp: float) -> np.ndarray:
    """(frames, vocab) log-probs whose argmax spells `labels` ('_' = blank),
    with `sharp` nats between the argmax and the rest (0: flat up to a tie-break)."""
    ids = [0 if c == "_" else text.VOCAB.index(c) for c in labels]
    logits = np.zeros((len(ids), len(text.VOCAB)), np.float32)
    logits[np.arange(len(ids)), ids] = sharp + 1e-3
    return logits


def test_word_confidence_in_unit_interval_and_higher_when_confident():
    sure = alignment.word_timestamps(_posteriors("_ab_ c_", 12.0), None, 0.02, True)
    flat = alignment.word_timestamps(_posteriors("_ab_ c_", 0.0), None, 0.02, True)
    assert [w["word"] for w in sure] == [w["word"] for w in flat] == ["ab", "c"]
    for s, f in zip(sure, flat):
        assert 0.0 <= f["confidence"] < s["confidence"] <= 1.0
    assert sure[0]["confidence"] > 0.99
    assert flat[0]["confidence"] == pytest.approx(1 / len(text.VOCAB), abs=1e-3)
    assert outputs.utterance_confidence(sure) == pytest.approx(
        (sure[0]["confidence"] + sure[1]["confidence"]) / 2, abs=1e-4
    )
    assert outputs.utterance_confidence([_w("a", 0, 1)]) is None
    # Without `confidence` the words are as before.
    assert (
        "confidence"
        not in alignment.word_timestamps(_posteriors("a", 5.0), None, 0.02)[0]
    )


def test_word_confidence_is_the_mean_over_the_emitting_frames():
    logits = _posteriors("aa_b", 0.0)
    logits[0, text.VOCAB.index("a")] = 10.0  # frame 0 sure, frame 1 flat-ish
    logits[3, text.VOCAB.index("b")] = 10.0
    probs = np.exp(ctc.log_softmax(logits)).max(axis=-1)
    (word,) = alignment.word_timestamps(logits, None, 0.02, confidence=True)
    assert word["word"] == "ab"
    assert word["confidence"] == pytest.approx(
        np.mean([probs[0], probs[1], probs[3]]), abs=1e-4
    )
