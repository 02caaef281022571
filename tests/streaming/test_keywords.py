"""KeywordTrigger and KeywordSpotter: one detection per spoken keyword."""

import numpy as np
import pytest
import soundfile as sf

from asr.streaming import StreamingError
from asr.streaming.keywords import KeywordSpotter, KeywordTrigger
from asr.streaming.microphone import stream_file

CLASSES = ["yes", "no", "_unknown_", "_silence_"]
SILENT = [0.02, 0.02, 0.06, 0.9]
YES = [0.9, 0.04, 0.04, 0.02]
NO = [0.05, 0.85, 0.05, 0.05]
WEAK_YES = [0.4, 0.1, 0.3, 0.2]


def _fire(trigger, sequence, hop=0.1):
    return [
        hit
        for i, p in enumerate(sequence)
        if (hit := trigger.update(round((i + 1) * hop, 3), np.array(p))) is not None
    ]


def test_fires_once_per_keyword_occurrence():
    # a keyword seen by 6 overlapping windows, twice, and a "no" after it
    sequence = [SILENT] * 5 + [YES] * 6 + [SILENT] * 10 + [YES] * 6
    sequence += [SILENT] * 6 + [NO] * 7 + [SILENT] * 5
    hits = _fire(KeywordTrigger(CLASSES, threshold=0.5, average_windows=1), sequence)
    assert [h["text"] for h in hits] == ["yes", "yes", "no"]
    assert [h["time"] for h in hits] == [0.6, 2.2, 3.4]
    # a word that lasts longer than the refractory period still fires once
    long = KeywordTrigger(CLASSES, average_windows=1, refractory_s=0.2)
    assert len(_fire(long, [SILENT] + [YES] * 30 + [SILENT])) == 1


def test_refractory_period_and_threshold():
    sequence = [YES] * 3 + [SILENT] * 2 + [YES] * 3  # 0.5 s apart
    one = KeywordTrigger(CLASSES, average_windows=1, refractory_s=1.0)
    assert len(_fire(one, sequence)) == 1
    two = KeywordTrigger(CLASSES, average_windows=1, refractory_s=0.3)
    assert len(_fire(two, sequence)) == 2
    weak = KeywordTrigger(CLASSES, threshold=0.5, average_windows=1)
    assert _fire(weak, [WEAK_YES] * 10) == []
    assert len(_fire(KeywordTrigger(CLASSES, threshold=0.35), [WEAK_YES] * 10)) == 1


def test_averaging_ignores_a_single_window_spike():
    sequence = [SILENT] * 4 + [YES] + [SILENT] * 4
    assert _fire(KeywordTrigger(CLASSES, average_windows=3), sequence) == []
    assert len(_fire(KeywordTrigger(CLASSES, average_windows=1), sequence)) == 1


class LoudnessClassifier:
    """A stand-in classifier: "yes" when the window's RMS is high."""

    is_classifier = True
    threshold = 0.5
    name = "loudness"

    class cfg:  # noqa: N801 - mimics ExperimentConfig
        class model:  # noqa: N801
            classes = CLASSES

    def __init__(self):
        self.windows = []

    def logits_batch(self, waves):
        self.windows.append(len(waves[0]))
        rms = float(np.sqrt(np.mean(np.square(waves[0]))))
        return [np.log(np.array(YES if rms > 0.05 else SILENT))]

    def probabilities(self, logits):
        return np.exp(logits) / np.exp(logits).sum()


def _stream():
    """2 s of silence, a 0.5 s loud burst, 2 s of silence, another burst, 1 s."""
    rng = np.random.default_rng(0)
    burst = (0.3 * rng.standard_normal(8000)).astype(np.float32)
    quiet = np.zeros(32000, np.float32)
    return np.concatenate([quiet, burst, quiet, burst, quiet[:16000]])


def test_spotter_slides_a_window_and_fires_per_burst(tmp_path):
    model = LoudnessClassifier()
    spotter = KeywordSpotter(model, window_ms=1000, hop_ms=100, average_windows=1)
    wave = _stream()
    for block in np.array_split(wave, 37):  # blocks of any size
        spotter.accept_waveform(block)
    hits = spotter.pop_finals()
    assert [h["text"] for h in hits] == ["yes", "yes"]
    assert hits[0]["time"] == pytest.approx(2.1) and hits[1]["time"] == pytest.approx(
        4.6
    )
    assert hits[0]["end"] - hits[0]["start"] == pytest.approx(1.0)
    assert max(model.windows) == 16000 and len(model.windows) == len(wave) // 1600
    assert spotter.finalize() == "yes yes"
    # the same through the file replay loop `asr stream --file` uses
    sf.write(tmp_path / "s.wav", wave, 16000)
    result = stream_file(KeywordSpotter(model, average_windows=1), tmp_path / "s.wav")
    assert [f["text"] for f in result.finals] == ["yes", "yes"]
    assert result.text == "yes yes"


def test_spotter_needs_a_classifier():
    class Ctc:
        is_classifier = False
        name = "ctc"

    with pytest.raises(StreamingError, match="classifier"):
        KeywordSpotter(Ctc())
