"""The compiled streaming step of a causal model: `StreamStep`.

One step turns a window of `step_frames * hop + (win - hop)` samples into
`step_frames / time_stride` output frames (of which `valid_frames`, an input,
are real: fewer only at the stream's end, where the rest are padding that must
not reach a look-ahead), carrying as explicit state tensors everything the
offline model would have seen before the window (`state_specs`): per causal
conv its last `k_t - 1` input frames, per recurrent layer its `[h, c]` (LSTM)
or `[h]`, and with `model.lookahead = L` the last `L` outputs of the recurrent
stack. `step_frames` is a multiple of the total time stride, so every step
starts at stride phase 0 and chunked logits equal the offline model's.

The graph calls the model's own layers (log-mel, normalisation, convolutions,
batch norms, dense) and computes the recurrences from the recurrent layers'
own variables (`asr.streaming.layers.rnn_chunk`): same variables, so later
weight updates show up. `runner(backend)` gives what runs it: the
`tf.function`, or the same graph converted to TFLite (`asr.streaming.tflite`).
`asr.streaming.recognizer.StreamingRecognizer` feeds it audio and state;
`asr.export` traces it into SavedModel and TFLite files.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from asr.streaming import StreamingError
from asr.streaming.layers import rnn_chunk, streaming_layers

logger = logging.getLogger(__name__)

BACKENDS = ("tf", "tflite", "tflite-int8", "auto")


class StreamStep:
    """The step graph of a causal, unidirectional CTC network, and its shapes.

    Args:
        network: a Keras model from `asr.model.build_model` with
            `model.causal=true, model.bidirectional=false`.
        chunk_ms: audio per step, rounded up to whole output frames.

    Attributes:
        step_frames: feature frames per step (a multiple of `time_stride`).
        step_samples: samples a step consumes (`step_frames * hop`).
        step_outputs: output frames per step.
        window_samples: samples a step reads; consecutive windows overlap by
            `overlap = win - hop`.
        lookahead: output frames of the model's look-ahead (0 without).
        state_specs: the state tensors, in the graph's argument order.
        convs, rnns: the network's layers as `asr.streaming.layers` reads them.

    Raises:
        StreamingError: the network cannot stream, or `chunk_ms` is not > 0.
    """

    def __init__(self, network: keras.Model, chunk_ms: float):
        self.network = network
        self.convs, self.rnns, by_name = streaming_layers(network)
        self.log_mel = by_name["log_mel"]
        self._norm = by_name["normalization"]
        self.logits = by_name["logits"]
        self._lookahead = by_name.get("lookahead")
        self.lookahead = self._lookahead.context if self._lookahead else 0
        fc = self.log_mel.cfg
        self.sample_rate, self.hop = fc.sample_rate, fc.hop_length
        self.win_length = fc.win_length
        self.overlap = fc.win_length - fc.hop_length
        self.time_stride = int(np.prod([c.stride for c in self.convs], dtype=int))
        if not chunk_ms > 0:
            raise StreamingError(f"chunk_ms: must be > 0, got {chunk_ms}")
        frames = round(chunk_ms * self.sample_rate / 1000 / self.hop)
        ts = self.time_stride
        self.step_frames = max(ts, -(-frames // ts) * ts)
        self.step_samples = self.step_frames * self.hop
        self.step_outputs = self.step_frames // ts
        self.window_samples = self.step_samples + self.overlap
        self.frame_seconds = ts * self.hop / self.sample_rate
        self.state_specs = self._state_specs()

    def signature(self) -> list[tf.TensorSpec]:
        """The step's inputs: audio window, valid output frames, state."""
        return [
            tf.TensorSpec([1, self.window_samples], tf.float32, name="audio"),
            tf.TensorSpec([], tf.int32, name="valid_frames"),
            *self.state_specs,
        ]

    def new_function(self) -> tf.types.experimental.PolymorphicFunction:
        """A fresh compiled `graph` (export traces it again, e.g. under the
        TFLite log-mel)."""
        return tf.function(
            self.graph, input_signature=self.signature(), autograph=False
        )

    def _state_specs(self) -> list[tf.TensorSpec]:
        specs = []
        freq, channels = self.log_mel.cfg.n_mels, 1
        for i, c in enumerate(self.convs):
            shape = [1, c.kernel - 1, freq, channels]
            specs.append(tf.TensorSpec(shape, tf.float32, name=f"conv{i}_cache"))
            freq = (freq + sum(c.freq_pad) - int(c.conv.kernel_size[1])) // int(
                c.conv.strides[1]
            ) + 1
            channels = int(c.conv.filters)
        for i, r in enumerate(self.rnns):
            for part in "hc"[: r.n_states]:
                specs.append(
                    tf.TensorSpec([1, r.layer.units], tf.float32, name=f"rnn{i}_{part}")
                )
        if self.lookahead:
            units = self.rnns[-1].layer.units
            specs.append(
                tf.TensorSpec(
                    [1, self.lookahead, units], tf.float32, name="lookahead_cache"
                )
            )
        return specs

    def graph(self, audio, valid_frames, *state) -> dict:
        """The step before compilation (`new_function` compiles it).

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
        n_conv = len(self.convs)
        caches, rnn_flat = list(state[:n_conv]), list(state[n_conv:])
        if self.lookahead:
            rnn_flat, cache = rnn_flat[:-1], rnn_flat[-1]
        feats = self.log_mel.frames(audio)  # (1, step_frames, n_mels)
        x = self._norm(feats, tf.constant([self.step_frames], tf.int32))
        x = x[..., None]
        out: dict[str, tf.Tensor] = {}
        for i, c in enumerate(self.convs):
            x = tf.concat([tf.cast(caches[i], x.dtype), x], axis=1)
            keep = c.kernel - 1
            out[f"conv{i}_cache"] = tf.cast(x[:, x.shape[1] - keep :], tf.float32)
            x = tf.pad(x, [[0, 0], [0, 0], list(c.freq_pad), [0, 0]])
            x = c.act(c.bn(c.conv(x), training=False))
        frames, freq, channels = x.shape[1], x.shape[2], x.shape[3]
        x = tf.reshape(x, [1, frames, freq * channels])
        k = 0
        for i, r in enumerate(self.rnns):
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
        return {"logits": tf.cast(self.logits(x), tf.float32), **out}

    def runner(self, backend: str, function, num_threads: int | None = None):
        """What runs the step, and the backend it is.

        Args:
            backend: "tf" (`function`), "tflite", "tflite-int8" or "auto"
                (tflite, else tf with a warning).
            function: the compiled step (`new_function()`) for "tf".
            num_threads: TFLite interpreter threads.

        Returns:
            `(callable like function, backend in use)`.

        Raises:
            StreamingError: an unknown backend, or a step TFLite cannot convert.
        """
        if backend == "tf":
            return function, "tf"
        if backend == "auto":
            try:
                return self.runner("tflite", function, num_threads)
            except StreamingError as e:
                logger.warning("%s; running the step with TensorFlow", e)
                return function, "tf"
        if backend not in BACKENDS:
            raise StreamingError(
                f"backend: 'tf', 'tflite', 'tflite-int8' or 'auto', got {backend!r}"
            )
        from asr.streaming.tflite import TFLiteStep, stream_step_flatbuffer

        try:
            flatbuffer = stream_step_flatbuffer(
                self.network, self.new_function, int8=backend == "tflite-int8"
            )
            names = [s.name for s in self.state_specs]
            return TFLiteStep(flatbuffer, names, num_threads=num_threads), backend
        except Exception as e:  # the converter raises several kinds
            raise StreamingError(
                f"{self.network.name}: cannot run the step with TFLite "
                f"({type(e).__name__}: {str(e).strip().splitlines()[-1][:200]}); "
                "use backend='tf'"
            ) from e

    def initial_arrays(self) -> tuple[list, list[list], np.ndarray | None]:
        """Zero state: conv caches, per-layer recurrent states, look-ahead."""
        conv = [
            np.zeros(s.shape, np.float32) for s in self.state_specs[: len(self.convs)]
        ]
        rnn, specs = [], self.state_specs[len(self.convs) :]
        for r in self.rnns:
            rnn.append([np.zeros(s.shape, np.float32) for s in specs[: r.n_states]])
            specs = specs[r.n_states :]
        lookahead = np.zeros(specs[0].shape, np.float32) if self.lookahead else None
        return conv, rnn, lookahead

    def split_state(self, out: dict) -> tuple[list, list[list], np.ndarray | None]:
        """A step's outputs as state: conv caches, recurrent states, look-ahead."""
        conv = [out[f"conv{i}_cache"] for i in range(len(self.convs))]
        rnn = [
            [out[f"rnn{i}_{p}"] for p in "hc"[: r.n_states]]
            for i, r in enumerate(self.rnns)
        ]
        return conv, rnn, out["lookahead_cache"] if self.lookahead else None
