"""Streaming recognition: a causal model fed audio chunk by chunk.

    rec = StreamingRecognizer(asr.load_model("synth-en-streaming"))
    for chunk in chunks:                   # float32 mono 16 kHz, any length
        partial = rec.accept_waveform(chunk)
        for utt in rec.pop_finals():       # endpointed utterances, oldest first
            handle(utt)                    # {"text", "start", "end"}
    text = rec.finalize()                  # whole stream's text; rec is reusable

The model must be built with `model.causal=true, model.bidirectional=false`.
One compiled step (`tf.function`, fixed shapes, traced once) turns a window of
`step_frames * hop + (win - hop)` samples into `step_frames / time_stride`
output frames (of which `valid_frames`, an input, are real: fewer only at the
stream's end, where the rest are padding that must not reach a look-ahead),
carrying everything the offline model would have seen before the
window as explicit state (`StreamState`):

- the unconsumed audio (consecutive windows overlap by `win - hop` samples);
- per causal conv, its last `k_t - 1` input frames, starting as the zeros the
  offline model pads with. `step_frames` is a multiple of the total time
  stride, so every step starts at stride phase 0 and output frame `j` (which
  sees feature frames up to `j * stride`) comes out of the same step whatever
  the chunking: chunked logits equal the offline model's;
- per recurrent layer its `[h, c]` (LSTM) or `[h]` (GRU, SimpleRNN), Keras
  layers or unidirectional `asr.rnn.layer.FusedRNN`;
- with `model.lookahead = L` (`asr.model.LookAhead`), the last `L` outputs
  of the recurrent stack: a step's logits are those of the `L` frames before
  its own last ones, so the stream's logits lag by `L` output frames (the
  first `L` are dropped) and `finalize` runs steps on silence until the last
  frame has its future (zeros, as offline);
- the greedy decoder's last id, texts and endpoint counters.

With `backend="tflite"` the same step, converted to TFLite once, runs in the
TFLite interpreter (`asr.streaming.tflite`): faster per chunk, weights frozen;
`"tflite-int8"` quantises its weights to int8 (dynamic range) on the way:
faster again (the step is bound by reading the weights), close but not equal
to the offline model.

The step calls the model's own layers (log-mel, normalisation, convolutions,
batch norms, dense) and computes the recurrences from the recurrent layers'
own variables (the input projection of a whole chunk as one matmul): same
variables, so later weight updates show up, and never the Keras model eagerly.
`finalize` zero-pads the last partial step and keeps only the output frames
the offline model has.

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
import tensorflow as tf

from asr import text as text_lib
from asr.config import StreamingConfig
from asr.decoding import ctc
from asr.streaming import StreamingError
from asr.streaming.layers import rnn_chunk, streaming_layers
from asr.streaming.state import StreamState

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
        self._convs, self._rnns, by_name = streaming_layers(network)
        self._log_mel = by_name["log_mel"]
        self._norm = by_name["normalization"]
        self._logits = by_name["logits"]
        self._lookahead = by_name.get("lookahead")
        self.lookahead = self._lookahead.context if self._lookahead else 0
        fc = self._log_mel.cfg
        self.sample_rate, self.hop = fc.sample_rate, fc.hop_length
        self.overlap = fc.win_length - fc.hop_length
        self.time_stride = int(np.prod([c.stride for c in self._convs], dtype=int))
        chunk_ms = streaming.chunk_ms if chunk_ms is None else chunk_ms
        if not chunk_ms > 0:
            raise StreamingError(f"chunk_ms: must be > 0, got {chunk_ms}")
        frames = round(chunk_ms * self.sample_rate / 1000 / self.hop)
        ts = self.time_stride
        self.step_frames = max(ts, -(-frames // ts) * ts)
        self.step_samples = self.step_frames * self.hop
        self.step_outputs = self.step_frames // ts
        self.window_samples = self.step_samples + self.overlap
        self.frame_seconds = ts * self.hop / self.sample_rate
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
        self._no_frames = np.zeros((0, self._logits.units), np.float32)
        self._no_frames.flags.writeable = False
        self.state_specs = self._state_specs()
        self.step_function = self.new_step_function()
        self.backend = backend
        self.num_threads = num_threads
        self.step = self._make_step(backend)
        self.step_times_ms: collections.deque[float] = collections.deque(maxlen=10_000)
        self.state = self.initial_state()
        logger.debug(
            "streaming: %d frames (%d samples) per step, stride %d, endpoint %d frames",
            self.step_frames,
            self.step_samples,
            ts,
            self.endpoint_frames,
        )

    # -- compiled step ------------------------------------------------------------
    def step_signature(self) -> list[tf.TensorSpec]:
        """The step's inputs: audio window, valid output frames, state."""
        return [
            tf.TensorSpec([1, self.window_samples], tf.float32, name="audio"),
            tf.TensorSpec([], tf.int32, name="valid_frames"),
            *self.state_specs,
        ]

    def new_step_function(self) -> tf.types.experimental.PolymorphicFunction:
        """A fresh compiled `step_graph` (export traces it again, e.g. under
        the TFLite log-mel)."""
        return tf.function(
            self.step_graph, input_signature=self.step_signature(), autograph=False
        )

    def _state_specs(self) -> list[tf.TensorSpec]:
        specs = []
        freq, channels = self._log_mel.cfg.n_mels, 1
        for i, c in enumerate(self._convs):
            shape = [1, c.kernel - 1, freq, channels]
            specs.append(tf.TensorSpec(shape, tf.float32, name=f"conv{i}_cache"))
            freq = (freq + sum(c.freq_pad) - int(c.conv.kernel_size[1])) // int(
                c.conv.strides[1]
            ) + 1
            channels = int(c.conv.filters)
        for i, r in enumerate(self._rnns):
            for part in "hc"[: r.n_states]:
                specs.append(
                    tf.TensorSpec([1, r.layer.units], tf.float32, name=f"rnn{i}_{part}")
                )
        if self.lookahead:
            units = self._rnns[-1].layer.units
            specs.append(
                tf.TensorSpec(
                    [1, self.lookahead, units], tf.float32, name="lookahead_cache"
                )
            )
        return specs

    def step_graph(self, audio, valid_frames, *state) -> dict:
        """The step before compilation (`step_function` compiles it; export
        traces it again).

        Args:
            audio: (1, window_samples) float32.
            valid_frames: () int32, how many of the step's output frames are
                real (`step_outputs` except at the stream's end).
            *state: the tensors of `state_specs`, in order.

        Returns:
            `{"logits": (1, step_outputs, vocab), name: new state}` for every
            name in `state_specs`; with a look-ahead the logits are those of
            the `lookahead` frames before the step's last ones.
        """
        n_conv = len(self._convs)
        caches, rnn_flat = list(state[:n_conv]), list(state[n_conv:])
        if self.lookahead:
            rnn_flat, cache = rnn_flat[:-1], rnn_flat[-1]
        feats = self._log_mel.frames(audio)  # (1, step_frames, n_mels)
        x = self._norm(feats, tf.constant([self.step_frames], tf.int32))
        x = x[..., None]
        out: dict[str, tf.Tensor] = {}
        for i, c in enumerate(self._convs):
            x = tf.concat([tf.cast(caches[i], x.dtype), x], axis=1)
            keep = c.kernel - 1
            out[f"conv{i}_cache"] = tf.cast(x[:, x.shape[1] - keep :], tf.float32)
            x = tf.pad(x, [[0, 0], [0, 0], list(c.freq_pad), [0, 0]])
            x = c.act(c.bn(c.conv(x), training=False))
        frames, freq, channels = x.shape[1], x.shape[2], x.shape[3]
        x = tf.reshape(x, [1, frames, freq * channels])
        k = 0
        for i, r in enumerate(self._rnns):
            dtype = r.layer.compute_dtype
            states = [tf.cast(s, dtype) for s in rnn_flat[k : k + r.n_states]]
            k += r.n_states
            x, states = rnn_chunk(r, tf.cast(x, dtype), states)
            for part, s in zip("hc", states, strict=False):
                out[f"rnn{i}_{part}"] = tf.cast(s, tf.float32)
            if r.norm is not None:
                x = r.norm(x, training=False)
        real = tf.range(self.step_outputs) < valid_frames  # as MaskTime offline
        x = x * tf.cast(real, x.dtype)[None, :, None]
        if self.lookahead:
            x = tf.concat([tf.cast(cache, x.dtype), x], axis=1)
            out["lookahead_cache"] = tf.cast(x[:, -self.lookahead :], tf.float32)
            x = self._lookahead.window(x)
        return {"logits": tf.cast(self._logits(x), tf.float32), **out}

    def _make_step(self, backend: str):
        if backend == "tf":
            return self.step_function
        if backend == "auto":
            try:
                step = self._make_step("tflite")
                self.backend = "tflite"
                return step
            except StreamingError as e:
                logger.warning("%s; running the step with TensorFlow", e)
                self.backend = "tf"
                return self.step_function
        if backend not in ("tflite", "tflite-int8"):
            raise StreamingError(
                f"backend: 'tf', 'tflite', 'tflite-int8' or 'auto', got {backend!r}"
            )
        from asr.streaming.tflite import TFLiteStep, stream_step_flatbuffer

        try:
            flatbuffer = stream_step_flatbuffer(
                self.network, self.new_step_function, int8=backend == "tflite-int8"
            )
            names = [s.name for s in self.state_specs]
            return TFLiteStep(flatbuffer, names, num_threads=self.num_threads)
        except Exception as e:  # the converter raises several kinds
            raise StreamingError(
                f"{self.network.name}: cannot run the step with TFLite "
                f"({type(e).__name__}: {str(e).strip().splitlines()[-1][:200]}); "
                "use backend='tf'"
            ) from e

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
        conv = [
            np.zeros(s.shape, np.float32) for s in self.state_specs[: len(self._convs)]
        ]
        rnn, specs = [], self.state_specs[len(self._convs) :]
        for r in self._rnns:
            rnn.append([np.zeros(s.shape, np.float32) for s in specs[: r.n_states]])
            specs = specs[r.n_states :]
        lookahead = np.zeros(specs[0].shape, np.float32) if self.lookahead else None
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
        state.conv = [out[f"conv{i}_cache"] for i in range(len(self._convs))]
        state.rnn = [
            [out[f"rnn{i}_{p}"] for p in "hc"[: r.n_states]]
            for i, r in enumerate(self._rnns)
        ]
        if self.lookahead:
            state.lookahead = out["lookahead_cache"]
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
        frames = max(0, 1 + (state.samples - self._log_mel.cfg.win_length) // self.hop)
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
