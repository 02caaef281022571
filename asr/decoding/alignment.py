"""Word timings and confidences from a CTC model's greedy alignment.

    words = word_timestamps(logits, length, frame_seconds=0.02, confidence=True)
    # [{"word": "hello", "start": 0.42, "end": 0.8, "confidence": 0.97}, ...]

Used by `asr transcribe --json` / subtitles (`asr.outputs`) and by the
confidence scores of `asr evaluate`.
"""

from __future__ import annotations

import numpy as np

from asr import text as text_lib
from asr.decoding.ctc import _BLANK, _SPACE, _check_matrix, _trim, log_softmax


def word_timestamps(
    logits: np.ndarray,
    length: int | None,
    frame_seconds: float,
    confidence: bool = False,
) -> list[dict]:
    """Words with start and end times from the greedy alignment.

    A character's span runs from the first to the last frame of its argmax run;
    a word spans its characters, so the blanks around it are excluded.

    A word's confidence (with `confidence`) is the mean, over the frames of its
    characters' argmax runs (the frames that emit them; blanks and spaces
    excluded), of the frame's highest posterior probability (softmax of the
    logits): in [0, 1], near 1 where the model is sure at every emitting frame,
    near 1/vocab for a flat posterior.

    Args:
        logits: (frames, vocab) logits or log-probabilities.
        length: true number of frames; None means all.
        frame_seconds: seconds per output frame (hop x time stride, e.g. 0.02).
        confidence: also give each word's `"confidence"`.

    Returns:
        `[{"word": str, "start": float, "end": float}, ...]` in seconds (with
        `"confidence": float` when asked).
    """
    logits = _check_matrix(logits, "logits")
    n = _trim(length, logits.shape[0])
    best = np.argmax(logits[:n], axis=-1)
    if n == 0:
        return []
    top = np.exp(np.max(log_softmax(logits[:n]), axis=-1)) if confidence else None
    # Runs of equal argmax: [starts[i], ends[i]) with symbol best[starts[i]].
    starts = np.flatnonzero(np.r_[True, best[1:] != best[:-1]])
    ends = np.r_[starts[1:], n]
    words = []
    chars: list[str] = []
    frames: list[np.ndarray] = []  # the word's characters' posteriors
    start = end = 0
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        sym = int(best[s])
        if sym == _BLANK:
            continue
        if sym == _SPACE:
            if chars:
                words.append(_word(chars, start, end, frame_seconds, frames))
                chars, frames = [], []
            continue
        if not chars:
            start = s
        chars.append(text_lib.VOCAB[sym])
        if top is not None:
            frames.append(top[s:e])
        end = e
    if chars:
        words.append(_word(chars, start, end, frame_seconds, frames))
    return words


def _word(
    chars: list[str],
    start: int,
    end: int,
    frame_seconds: float,
    frames: list[np.ndarray],
) -> dict:
    word = {
        "word": "".join(chars),
        "start": round(start * frame_seconds, 6),
        "end": round(end * frame_seconds, 6),
    }
    if frames:
        word["confidence"] = round(float(np.mean(np.concatenate(frames))), 4)
    return word


def shift_words(
    words: list[dict], seconds: float, duration: float | None = None
) -> list[dict]:
    """`word_timestamps` of a piece that starts `seconds` into its recording:
    the same words with their times in the whole recording (ms precision);
    with `duration`, times are kept within [0, duration] (a negative
    `seconds` removes quiet added before the recording)."""

    def at(t: float) -> float:
        t = t + seconds
        return round(t if duration is None else min(max(t, 0.0), duration), 3)

    return [{**w, "start": at(w["start"]), "end": at(w["end"])} for w in words]
