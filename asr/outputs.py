"""What recognition returns (`Segment`) and the transcript files made from
it, as whisper writes them: txt, json, srt, vtt and tsv.

Pure functions on segments (subtitle cues), no I/O:

    cues = make_cues(words)  # words: asr.decoding.alignment.word_timestamps
    to_srt(cues)   # "1\\n00:00:01,230 --> 00:00:02,000\\nhello world\\n\\n..."
    to_vtt(cues)   # "WEBVTT\\n\\n00:00:01.230 --> 00:00:02.000\\nhello world\\n\\n..."
    to_tsv(cues)   # "start\\tend\\ttext\\tconfidence\\n1230\\t2000\\thello\\t0.9\\n"
    to_txt(cues)   # one cue per line
    to_json(cues, text=..., words=..., duration=...)

A segment is a dict `{"start": s, "end": s, "text": str}` (seconds), with an
optional `"confidence"` in [0, 1]. Cues are cut from word timings: a new cue
starts at a pause of `max_pause` (0.5 s) or more between two words, or where
adding the next word would make the cue longer than `max_seconds` (7 s) or
`max_chars` (42) characters; a cue runs from its first word's start to its last
word's end. TSV is whisper's (start and end in integer milliseconds, then the
text) with the confidence as a fourth column.

Confidence (see `asr.decoding.alignment.word_timestamps`): a word's is the mean,
over the frames that emit its characters on the greedy path, of the frame's
highest CTC posterior; a cue's and an utterance's is the mean of their words'.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from asr.classification import Prediction

FORMATS = ("txt", "json", "srt", "vtt", "tsv")  # `--format all` writes each


@dataclass(frozen=True)
class Segment:
    """Recognised text of one input with word timings (seconds).

    `words`: `asr.decoding.alignment.word_timestamps` with each word's confidence;
    `confidence`: their mean (`asr.outputs.utterance_confidence`), None
    without words. A classifier's: `text` is the word, `words` empty,
    `confidence` the best class's probability and `prediction` its answer."""

    text: str
    words: list[dict]
    duration: float
    confidence: float | None = None
    prediction: Prediction | None = None


def utterance_confidence(words: list[dict]) -> float | None:
    """Mean of the words' `"confidence"` values; None without any."""
    values = [w["confidence"] for w in words if w.get("confidence") is not None]
    return round(sum(values) / len(values), 4) if values else None


def make_cues(
    words: list[dict],
    max_pause: float = 0.5,
    max_seconds: float = 7.0,
    max_chars: int = 42,
) -> list[dict]:
    """Subtitle cues from timed words (see the module docstring).

    Args:
        words: `[{"word", "start", "end"[, "confidence"]}, ...]` in time order.

    Returns:
        `[{"start", "end", "text"[, "confidence"]}, ...]`.
    """
    cues: list[dict] = []
    current: list[dict] = []
    for word in words:
        if current:
            pause = word["start"] - current[-1]["end"]
            length = len(" ".join(w["word"] for w in current)) + 1 + len(word["word"])
            if (
                pause >= max_pause
                or word["end"] - current[0]["start"] > max_seconds
                or length > max_chars
            ):
                cues.append(_cue(current))
                current = []
        current.append(word)
    if current:
        cues.append(_cue(current))
    return cues


def _cue(words: list[dict]) -> dict:
    cue = {
        "start": words[0]["start"],
        "end": words[-1]["end"],
        "text": " ".join(w["word"] for w in words),
    }
    confidence = utterance_confidence(words)
    if confidence is not None:
        cue["confidence"] = confidence
    return cue


def format_timestamp(seconds: float, separator: str = ",") -> str:
    """`HH:MM:SS,mmm` (SRT) or with `separator="."` `HH:MM:SS.mmm` (VTT)."""
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def to_srt(segments: list[dict]) -> str:
    """SubRip: numbered cues from 1, `00:00:01,230 --> 00:00:02,000`, the text,
    a blank line after each."""
    return "".join(
        f"{i}\n{format_timestamp(s['start'])} --> {format_timestamp(s['end'])}\n"
        f"{s['text']}\n\n"
        for i, s in enumerate(segments, start=1)
    )


def to_vtt(segments: list[dict]) -> str:
    """WebVTT: a `WEBVTT` header line, a blank line, then per cue
    `00:00:01.230 --> 00:00:02.000`, the text and a blank line."""
    return "WEBVTT\n\n" + "".join(
        f"{format_timestamp(s['start'], '.')} --> "
        f"{format_timestamp(s['end'], '.')}\n{s['text']}\n\n"
        for s in segments
    )


def to_tsv(segments: list[dict]) -> str:
    """Whisper's TSV: header `start\\tend\\ttext\\tconfidence`, start and end in
    integer milliseconds; the confidence (3 decimals) is empty when unknown."""
    lines = ["start\tend\ttext\tconfidence\n"]
    for s in segments:
        conf = s.get("confidence")
        text = s["text"].replace("\t", " ")
        lines.append(
            f"{round(1000 * s['start'])}\t{round(1000 * s['end'])}\t{text}\t"
            f"{'' if conf is None else f'{conf:.3f}'}\n"
        )
    return "".join(lines)


def to_txt(segments: list[dict]) -> str:
    """The cues' texts, one per line (as whisper's .txt)."""
    return "".join(f"{s['text']}\n" for s in segments)


def to_json(segments: list[dict], **fields) -> str:
    """One JSON object: `fields` (e.g. `audio_filepath`, `text`, `duration`,
    `confidence`, `words`) then `"segments"` with an `"id"` each (from 0)."""
    out = dict(fields)
    out["segments"] = [{"id": i, **s} for i, s in enumerate(segments)]
    return json.dumps(out, ensure_ascii=False) + "\n"


WRITERS = {"txt": to_txt, "srt": to_srt, "vtt": to_vtt, "tsv": to_tsv}
