"""What one stream carries between chunks, and its greedy CTC decoding with
endpointing (`asr.streaming.recognizer.StreamingRecognizer` owns one per
stream)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from asr import text as text_lib

_SPACE = text_lib.VOCAB.index(" ")
_SYMBOLS = ["" if i == text_lib.BLANK else s for i, s in enumerate(text_lib.VOCAB)]


@dataclass
class StreamState:
    """Everything carried between chunks of one stream.

    Attributes:
        audio: (n,) float32 samples received but not consumed by a step; the
            first one is sample `frames * hop` of the stream (n < window).
        conv: per conv layer, (1, k_t - 1, freq_in, channels_in) float32: its
            last `k_t - 1` input frames (zeros at the start, as the offline
            model pads).
        rnn: per recurrent layer, `[h, c]` (LSTM) or `[h]`, each (1, units).
        lookahead: (1, L, units) the recurrent stack's last `L` outputs, or
            None without a look-ahead layer.
        delay: leading output frames still to drop (they precede the stream).
        samples: samples received since the stream started.
        frames: feature frames consumed by steps; a multiple of the time
            stride, so each step starts at stride phase 0.
        outputs: output frames decoded.
        last_id: argmax of the last decoded frame (repeat collapse).
        text: greedy text of the whole stream so far.
        utterance: greedy text since the last endpoint.
        utt_start: output frame of the utterance's first letter, -1 if none.
        utt_end: output frame after the utterance's last letter.
        silent_frames: trailing frames whose best symbol is blank or space.
        gap: blank or space frames since the stream's last letter (-1 before
            its first letter; an endpoint does not reset it).
        gap_space: whether a space was among them.
        finals: endpointed utterances not yet popped.
    """

    audio: np.ndarray
    conv: list[np.ndarray]
    rnn: list[list[np.ndarray]]
    lookahead: np.ndarray | None = None
    delay: int = 0
    samples: int = 0
    frames: int = 0
    outputs: int = 0
    last_id: int = text_lib.BLANK
    text: str = ""
    utterance: str = ""
    utt_start: int = -1
    utt_end: int = 0
    silent_frames: int = 0
    gap: int = -1
    gap_space: bool = False
    finals: list[dict] = field(default_factory=list)

    def flat(self) -> list[np.ndarray]:
        """Model state in the compiled step's order: conv caches, RNN states,
        look-ahead cache."""
        rnn = [s for layer in self.rnn for s in layer]
        return [*self.conv, *rnn, *([] if self.lookahead is None else [self.lookahead])]

    def decode(
        self,
        logits: np.ndarray,
        endpoint_frames: int,
        frame_seconds: float,
        on_endpoint: Callable[[], None] | None = None,
        pause_frames: int = 0,
    ) -> None:
        """Greedy-decodes the stream's next output frames; once some letter
        has been emitted, `endpoint_frames` trailing blank/space frames close
        the utterance (0: never), calling `on_endpoint` after each. A letter
        after `pause_frames` or more blank frames (and no space) since the
        last letter starts a new word, as `asr.decoding.ctc.mark_pauses` makes
        the offline decoders do.

        Args:
            logits: (frames, vocab).
            endpoint_frames: silent frames that end an utterance.
            frame_seconds: duration of one output frame (for the times).
            on_endpoint: called after each endpoint (e.g. to reset state).
            pause_frames: shortest pause that breaks a word (0: never).
        """
        for best in np.argmax(logits, axis=-1).tolist() if len(logits) else []:
            frame = self.outputs
            self.outputs += 1
            letter = best not in (text_lib.BLANK, _SPACE)
            if letter and 0 < pause_frames <= self.gap and not self.gap_space:
                self.text += " "
                self.utterance += " " if self.utterance else ""
            if best != self.last_id and best != text_lib.BLANK:
                self.text += _SYMBOLS[best]
                self.utterance += _SYMBOLS[best]
            self.last_id = best
            if not letter:
                self.silent_frames += 1
                if self.gap >= 0:
                    self.gap += 1
                self.gap_space |= best == _SPACE
            else:
                self.silent_frames, self.gap, self.gap_space = 0, 0, False
                if self.utt_start < 0:
                    self.utt_start = frame
                self.utt_end = frame + 1
            if (
                endpoint_frames
                and self.utt_start >= 0
                and self.silent_frames >= endpoint_frames
            ):
                self.close_utterance(frame_seconds)
                if on_endpoint is not None:
                    on_endpoint()

    def close_utterance(self, frame_seconds: float) -> None:
        """Queues the current utterance (if it has text) in `finals`."""
        if self.utt_start >= 0 and self.utterance.strip():
            self.finals.append(
                {
                    "text": text_lib.tidy(self.utterance),
                    "start": round(self.utt_start * frame_seconds, 6),
                    "end": round(self.utt_end * frame_seconds, 6),
                }
            )
        self.utterance, self.utt_start, self.silent_frames = "", -1, 0
