"""Streaming recognition: a causal model fed audio chunk by chunk.

    rec = StreamingRecognizer(asr.load_model("synth-en-streaming"))
    for chunk in chunks:                   # float32 mono 16 kHz, any length
        partial = rec.accept_waveform(chunk)
        for utt in rec.pop_finals():       # endpointed utterances, oldest first
            handle(utt)                    # {"text", "start", "end"}
    text = rec.finalize()                  # whole stream's text; rec is reusable

The model must be built with `model.causal=true, model.bidirectional=false`.
Its compiled step (`asr.streaming.step.StreamStep`: fixed shapes, traced once)
turns a window of audio into the next output frames, carrying everything the
offline model would have seen before the window as explicit state
(`StreamState`): the unconsumed audio (consecutive windows overlap by
`win - hop` samples), the causal convs' last input frames, the recurrent
states, the look-ahead's last outputs, and the greedy decoder's last id, texts
and endpoint counters. Chunked logits equal the offline model's. With
`model.lookahead = L` the stream's logits lag by `L` output frames (the first
`L` are dropped) and `finalize` runs steps on silence until the last frame has
its future (zeros, as offline); `finalize` zero-pads the last partial step and
keeps only the output frames the offline model has.

With `backend="tflite"` the same step, converted to TFLite once, runs in the
TFLite interpreter (`asr.streaming.tflite`): faster per chunk, weights frozen;
`"tflite-int8"` quantises its weights to int8 (dynamic range) on the way:
faster again (the step is bound by reading the weights), close but not equal
to the offline model.

Endpointing: once some letter has been emitted, `endpoint_silence_ms` of
frames whose best symbol is blank (or space) close the utterance: it is queued
for `pop_finals()` as `{"text", "start", "end"}` (seconds from the stream's
start) and `accept_waveform` starts returning the next utterance's partial
text. The repeat-collapse id is kept across the endpoint, so the finalized
text of the whole stream still equals the offline greedy text (unless
`reset_state_on_endpoint` also clears the recurrent state). A pause of
`pause_seconds` (default 0.8 s, the endpoint's) between two letters is a word
break in both (`asr.decoding.ctc.mark_pauses`), so that text is the finals
joined.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time

import keras
import numpy as np

from asr import text as text_lib
from asr.config import StreamingConfig
from asr.decoding import ctc
from asr.streaming.state import StreamState
from asr.streaming.step import StreamStep

logger = logging.getLogger(__name__)


class StreamingRecognizer:
    """Chunked greedy CTC recognition with a causal, unidirectional model.

    Args:
        recognizer_or_model: an `asr.transcribe.Recognizer` (its config gives the
            defaults) or a Keras model from `asr.model.build_model`.
        chunk_ms: audio per compiled step; rounded to whole output frames
            (default `streaming.chunk_ms`).
        endpoint_silence_ms: trailing blank time that ends an utterance;
            0 disables endpointing (default `streaming.endpoint_silence_ms`).
        reset_state_on_endpoint: also clear the recurrent state at an endpoint
            (from the next step on).
        pause_seconds: a pause this long between two letters breaks a word,
            as offline (default: the recognizer's `pause_seconds`, else
            `asr.decoding.ctc.PAUSE_SECONDS`; 0: never).
        backend: what runs the step: "tf" (the `tf.function`; follows later
            weight updates), "tflite" (the same step converted to TFLite
            once, weights frozen; faster per chunk on CPU, the interpreter not
            dispatching op by op; logits within ~1e-5; construction takes a
            few seconds more), "tflite-int8" (its weights quantised to int8:
            faster again, as the step is bound by reading weights; logits no
            longer equal offline; measure the WER) or "auto" (tflite, else tf
            with a warning).
        num_threads: TFLite interpreter threads (default: that of
            `asr.streaming.tflite.TFLiteStep`, 2).

    Attributes:
        step_frames: feature frames per step (a multiple of `time_stride`).
        window_samples: samples the step reads; consecutive windows overlap by
            `win - hop`.
        step_times_ms: wall time of each recent step (for benchmarks).
        step_function: the compiled TensorFlow step.
        step: what runs each step: `step_function`, or the TFLite interpreter.
        backend: "tf", "tflite" or "tflite-int8", the one in use.
        graph: the step itself (`asr.streaming.step.StreamStep`: its layers,
            shapes, state specs and graph).

    Raises:
        StreamingError: for a bidirectional, non-causal or classifier model, a
            bad `chunk_ms` or `backend`, or a step TFLite cannot convert.
    """

    def __init__(
        self,
        recognizer_or_model,
        chunk_ms: float | None = None,
        endpoint_silence_ms: float | None = None,
        *,
        reset_state_on_endpoint: bool = False,
        pause_seconds: float | None = None,
        backend: str = "tf",
        num_threads: int | None = None,
    ):
        if isinstance(recognizer_or_model, keras.Model):
            network, streaming = recognizer_or_model, StreamingConfig()
        else:
            network = recognizer_or_model.network
            streaming = recognizer_or_model.cfg.streaming
            if pause_seconds is None:
                pause_seconds = recognizer_or_model.pause_seconds
        self.network = network
        chunk_ms = streaming.chunk_ms if chunk_ms is None else chunk_ms
        self.graph = graph = StreamStep(network, chunk_ms)
        # the step's geometry (public attributes)
        self.sample_rate = graph.sample_rate
        self.hop = graph.hop
        self.overlap = graph.overlap
        self.time_stride = graph.time_stride
        self.lookahead = graph.lookahead
        self.step_frames = graph.step_frames
        self.step_samples = graph.step_samples
        self.step_outputs = graph.step_outputs
        self.window_samples = graph.window_samples
        self.frame_seconds = graph.frame_seconds
        if endpoint_silence_ms is None:
            endpoint_silence_ms = streaming.endpoint_silence_ms
        self.endpoint_frames = (
            max(1, round(endpoint_silence_ms / 1000 / self.frame_seconds))
            if endpoint_silence_ms
            else 0
        )
        self.reset_state_on_endpoint = reset_state_on_endpoint
        self.pause_frames = ctc.pause_frames(
            self.frame_seconds,
            ctc.PAUSE_SECONDS if pause_seconds is None else pause_seconds,
        )
        self._no_frames = np.zeros((0, graph.logits.units), np.float32)
        self._no_frames.flags.writeable = False
        self.state_specs = graph.state_specs
        self.new_step_function = graph.new_function
        self.step_function = graph.new_function()
        self.num_threads = num_threads
        self.step, self.backend = graph.runner(backend, self.step_function, num_threads)
        self.step_times_ms: collections.deque[float] = collections.deque(maxlen=10_000)
        self.state = self.initial_state()
        logger.debug(
            "streaming: %d frames (%d samples) per step, stride %d, endpoint %d frames",
            self.step_frames,
            self.step_samples,
            self.time_stride,
            self.endpoint_frames,
        )

    # -- compiled step ------------------------------------------------------------
    @property
    def trace_count(self) -> int:
        """Times the compiled step was traced (1 after the first step)."""
        return self.step_function.experimental_get_tracing_count()

    def warmup(self) -> None:
        """Traces the step now, so the first real chunk is not delayed."""
        self.step(
            np.zeros((1, self.window_samples), np.float32),
            np.int32(self.step_outputs),
            *self.initial_state().flat(),
        )

    # -- acoustic model -------------------------------------------------------------
    def initial_state(self) -> StreamState:
        """A fresh stream: no audio, zero caches and recurrent states."""
        conv, rnn, lookahead = self.graph.initial_arrays()
        return StreamState(
            audio=np.zeros(0, np.float32),
            conv=conv,
            rnn=rnn,
            lookahead=lookahead,
            delay=self.lookahead,
        )

    def _run(
        self, state: StreamState, window: np.ndarray, valid: int | None = None
    ) -> np.ndarray:
        """One step; returns its logits less those that precede the stream."""
        valid = self.step_outputs if valid is None else valid
        t0 = time.perf_counter()
        out = self.step(window[None], np.int32(valid), *state.flat())
        out = {name: np.asarray(value) for name, value in out.items()}
        self.step_times_ms.append(1000 * (time.perf_counter() - t0))
        state.conv, state.rnn, lookahead = self.graph.split_state(out)
        if self.lookahead:
            state.lookahead = lookahead
        state.frames += self.step_frames
        logits = out["logits"][0]
        drop = min(state.delay, len(logits))
        state.delay -= drop
        return logits[drop:]

    def compute_logits(
        self, state: StreamState, samples: np.ndarray, flush: bool = False
    ) -> np.ndarray:
        """Feeds samples; returns the output frames they complete.

        Args:
            state: the stream's state, updated in place.
            samples: (n,) float32 16 kHz mono, any n >= 0.
            flush: end of stream: also run the zero-padded last step, keeping
                only frames the offline model outputs.

        Returns:
            (frames, vocab) float32 logits, in order, never repeated.
        """
        samples = np.asarray(samples, np.float32).reshape(-1)
        state.samples += len(samples)
        audio = np.concatenate([state.audio, samples]) if len(samples) else state.audio
        if len(audio) < self.window_samples and not flush:
            state.audio = audio
            return self._no_frames
        pieces = []
        start = 0
        while len(audio) - start >= self.window_samples:
            pieces.append(self._run(state, audio[start : start + self.window_samples]))
            start += self.step_samples
        state.audio = audio[start:]
        if flush:
            pieces.extend(self._flush(state))
        return np.concatenate(pieces) if pieces else self._no_frames

    def _flush(self, state: StreamState) -> list[np.ndarray]:
        """The zero-padded last step and, with a look-ahead, steps on silence
        until every frame the offline model outputs is out."""
        frames = max(0, 1 + (state.samples - self.graph.win_length) // self.hop)
        total = -(-frames // self.time_stride)  # the offline model's output frames
        run = state.frames // self.time_stride  # frames through the recurrences
        missing = total - max(0, run - self.lookahead)
        pieces = []
        while missing > 0:
            window = np.zeros(self.window_samples, np.float32)
            window[: len(state.audio)] = state.audio
            state.audio = np.zeros(0, np.float32)
            valid = min(max(total - run, 0), self.step_outputs)
            logits = self._run(state, window, valid)[:missing]
            pieces.append(logits)
            missing -= len(logits)
            run += self.step_outputs
        state.audio = np.zeros(0, np.float32)
        return pieces

    # -- decoding -------------------------------------------------------------------
    def decode_logits(self, state: StreamState, logits: np.ndarray) -> None:
        """Greedy-decodes new frames into `state` and queues endpointed finals.

        Args:
            state: updated in place (texts, counters, `finals`).
            logits: (frames, vocab) the stream's next output frames.
        """

        def reset_rnn() -> None:
            state.rnn = self.initial_state().rnn

        on_endpoint = reset_rnn if self.reset_state_on_endpoint else None
        state.decode(
            logits,
            self.endpoint_frames,
            self.frame_seconds,
            on_endpoint,
            self.pause_frames,
        )

    # -- public API -----------------------------------------------------------------
    def accept_waveform(self, samples: np.ndarray) -> str:
        """Feeds audio; returns the current utterance's partial text.

        Args:
            samples: (n,) float32 mono 16 kHz, any n (1 sample is fine).
        Returns:
            Greedy text since the last endpoint (the whole stream's text so far
            when endpointing is off).
        """
        self.decode_logits(self.state, self.compute_logits(self.state, samples))
        return text_lib.tidy(self.state.utterance)

    def pop_finals(self) -> list[dict]:
        """Endpointed utterances since the last call, oldest first.

        Returns:
            `[{"text": str, "start": float, "end": float}]`, times in seconds
            from the stream's start (first to last letter frame).
        """
        finals, self.state.finals = self.state.finals, []
        return finals

    def finalize(self) -> str:
        """Flushes the stream and resets for the next one.

        The last utterance joins the queue of `pop_finals()` (which keeps its
        unpopped finals across the reset).

        Returns:
            Greedy text of the whole stream since the last `finalize` (equal
            to the offline model's greedy text).
        """
        state = self.state
        self.decode_logits(state, self.compute_logits(state, np.zeros(0), flush=True))
        state.close_utterance(self.frame_seconds)
        self.state = dataclasses.replace(self.initial_state(), finals=state.finals)
        return text_lib.tidy(state.text)

    def reset(self) -> None:
        """Drops the current stream (audio, state, text and queued finals)."""
        self.state = self.initial_state()
