"""Keyword spotting in a continuous stream with a keyword classifier.

    spotter = KeywordSpotter(asr.load_model("keywords"))
    result = stream_file(spotter, "talk.wav", on_final=print)  # .microphone

A classifier (`model.head: classifier`, classes: keywords, `_unknown_`,
`_silence_`) answers once per clip, so a stream is read through a sliding
window: every `hop_ms` (default 100 ms) the last `window_ms` (1 s, the
length of a Speech Commands clip; less at the stream's start) are classified.
`KeywordTrigger` turns that sequence of probabilities into detections: the
probabilities of the last `average_windows` windows are averaged, and the best
class fires when it is a keyword at or above `threshold`. One spoken word is
seen by every window that overlaps it (for a window plus the word's length),
so it must fire once: after a detection the trigger is disarmed until the
averaged answer is no keyword at or above the threshold any more, and no
keyword fires for `refractory_ms` (default: one window) whatever it says.

`KeywordSpotter` has the interface of `asr.streaming.recognizer.
StreamingRecognizer` that `run_stream`, `stream_file` and `stream_microphone`
use: `step_samples`, `warmup()`, `accept_waveform(samples) -> str`,
`pop_finals()`, `finalize()`, `reset()`. Its "finals" are detections,
`{"text": word, "probability", "time", "start", "end"}`: the word, its
averaged probability, and the window that fired (seconds from the stream's
start; `time` == `end`). `accept_waveform` returns the best class of the
latest window as a partial ("" before the first window).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from asr.audio import SAMPLE_RATE
from asr.classification import DEFAULT_THRESHOLD, is_keyword
from asr.streaming import StreamingError

WINDOW_MS = 1000.0
HOP_MS = 100.0
AVERAGE_WINDOWS = 3


class KeywordTrigger:
    """Probabilities of successive windows -> keyword detections (see the module
    docstring). Pure numpy; one per stream.

    Args:
        classes: the classifier's labels, in its output order.
        threshold: a keyword fires when its averaged probability is >= this.
        average_windows: windows whose probabilities are averaged (1: none).
        refractory_s: seconds after a detection in which no keyword fires.
    """

    def __init__(
        self,
        classes: Sequence[str],
        threshold: float = DEFAULT_THRESHOLD,
        average_windows: int = AVERAGE_WINDOWS,
        refractory_s: float = WINDOW_MS / 1000,
    ):
        if average_windows < 1:
            raise ValueError(f"average_windows must be >= 1, got {average_windows}")
        self.classes = list(classes)
        self.threshold = threshold
        self.average_windows = average_windows
        self.refractory_s = refractory_s
        self.reset()

    def reset(self) -> None:
        self._recent: deque[np.ndarray] = deque(maxlen=self.average_windows)
        self._last_fire = -np.inf
        self._armed = True

    def update(self, end_s: float, probabilities: np.ndarray) -> dict | None:
        """Takes the (classes,) probabilities of the window ending at `end_s`
        seconds; returns `{"text", "probability", "time"}` when a keyword
        fires, else None."""
        p = np.asarray(probabilities, np.float64)
        if p.shape != (len(self.classes),):
            raise ValueError(f"{p.shape} probabilities for {len(self.classes)} classes")
        self._recent.append(p)
        mean = np.mean(self._recent, axis=0)
        best = int(np.argmax(mean))
        word = self.classes[best]
        if not is_keyword(word) or mean[best] < self.threshold:
            self._armed = True  # the word is over: the next one may fire
            return None
        if not self._armed or end_s - self._last_fire < self.refractory_s:
            return None
        self._last_fire, self._armed = end_s, False
        return {"text": word, "probability": round(float(mean[best]), 4), "time": end_s}


@dataclass
class SpotterState:
    """One stream's state: the audio of the last window, how much has been
    read, the trigger, and detections not yet popped."""

    trigger: KeywordTrigger
    window: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    samples: int = 0  # samples read since the stream began
    pending: int = 0  # samples read since the last window was classified
    partial: str = ""
    detections: list[dict] = field(default_factory=list)
    words: list[str] = field(default_factory=list)


class KeywordSpotter:
    """A keyword classifier run over a stream in a sliding window (module
    docstring).

    Args:
        recognizer: an `asr.transcribe.Recognizer` of a classifier model.
        window_ms: audio each classification sees.
        hop_ms: audio between classifications (`step_samples`).
        threshold: see `KeywordTrigger`; None: `recognizer.threshold`.
        average_windows, refractory_ms: see `KeywordTrigger`; refractory None:
            `window_ms`.

    Raises:
        StreamingError: the model is not a classifier, or a length is not
            positive.
    """

    backend = "tf"

    def __init__(
        self,
        recognizer,
        window_ms: float = WINDOW_MS,
        hop_ms: float = HOP_MS,
        threshold: float | None = None,
        average_windows: int = AVERAGE_WINDOWS,
        refractory_ms: float | None = None,
    ):
        if not getattr(recognizer, "is_classifier", False):
            raise StreamingError(
                f"{getattr(recognizer, 'name', '') or 'model'}: keyword spotting "
                "needs a classifier model (model.head: classifier)"
            )
        if not (window_ms > 0 and hop_ms > 0):
            raise StreamingError(
                f"window ({window_ms} ms) and hop ({hop_ms} ms) must be positive"
            )
        self.recognizer = recognizer
        self.classes = list(recognizer.cfg.model.classes)
        self.window_samples = round(window_ms * SAMPLE_RATE / 1000)
        self.step_samples = max(1, round(hop_ms * SAMPLE_RATE / 1000))
        self.sample_rate = SAMPLE_RATE
        self.threshold = recognizer.threshold if threshold is None else threshold
        self.average_windows = average_windows
        self.refractory_s = (
            window_ms if refractory_ms is None else refractory_ms
        ) / 1000
        self.step_times_ms: list[float] = []
        self.state = self.initial_state()

    def initial_state(self) -> SpotterState:
        return SpotterState(
            KeywordTrigger(
                self.classes, self.threshold, self.average_windows, self.refractory_s
            )
        )

    def warmup(self) -> None:
        """Traces the classifier once, so the first window is not slow."""
        self.recognizer.logits_batch([np.zeros(self.window_samples, np.float32)])

    def _classify(self) -> None:
        """Classifies the current window and feeds the trigger."""
        s = self.state
        t0 = time.perf_counter()
        logits = self.recognizer.logits_batch([s.window])[0]
        probabilities = self.recognizer.probabilities(logits)
        self.step_times_ms.append(1000 * (time.perf_counter() - t0))
        s.pending = 0
        s.partial = self.classes[int(np.argmax(probabilities))]
        end = s.samples / SAMPLE_RATE
        hit = s.trigger.update(end, probabilities)
        if hit is not None:
            start = max(0.0, end - len(s.window) / SAMPLE_RATE)
            s.detections.append({**hit, "start": round(start, 3), "end": end})
            s.words.append(hit["text"])

    def accept_waveform(self, samples: np.ndarray) -> str:
        """Reads (n,) float32 16 kHz samples (any n), classifying a window at
        every `step_samples`; returns the latest window's best class."""
        samples = np.asarray(samples, np.float32).reshape(-1)
        s = self.state
        while len(samples):
            take = min(len(samples), self.step_samples - s.pending)
            s.window = np.concatenate([s.window, samples[:take]])[
                -self.window_samples :
            ]
            s.samples += take
            s.pending += take
            samples = samples[take:]
            if s.pending >= self.step_samples:
                self._classify()
        return s.partial

    def pop_finals(self) -> list[dict]:
        """The detections since the last call, oldest first."""
        out, self.state.detections = self.state.detections, []
        return out

    def finalize(self) -> str:
        """Classifies the audio read since the last window, if any; returns
        the stream's detected words joined by spaces and starts a new stream
        (detections not popped yet stay to pop)."""
        s = self.state
        if s.pending and len(s.window):
            self._classify()
        text = " ".join(s.words)
        detections = s.detections
        self.state = self.initial_state()
        self.state.detections = detections
        return text

    def reset(self) -> None:
        """Forgets the stream."""
        self.state = self.initial_state()
