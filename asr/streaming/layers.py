"""The causal network's layers, read for chunked execution by
`asr.streaming.step`.

`streaming_layers(network)` finds the convolutions (with their batch norms and
activations) and recurrent layers of an `asr.model.build_model` network and
checks it can stream (causal, unidirectional, CTC head); `rnn_chunk` runs one
recurrent layer over a chunk from carried states with the layer's own
variables and the cell maths of `asr.rnn.recurrence`, for Keras and
`asr.rnn.layer.FusedRNN` layers alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from asr.rnn.layer import FusedRNN, keras_cell_name
from asr.rnn.recurrence import gru_step, lstm_step, simple_step
from asr.streaming import StreamingError


@dataclass(frozen=True)
class ConvLayer:
    conv: keras.layers.Layer
    bn: keras.layers.Layer
    act: keras.layers.Layer
    kernel: int
    stride: int
    freq_pad: tuple[int, int]


@dataclass(frozen=True)
class RnnLayer:
    layer: keras.layers.Layer
    norm: keras.layers.Layer | None
    cell: str  # "lstm", "gru" or "simple_rnn"

    @property
    def n_states(self) -> int:
        return 2 if self.cell == "lstm" else 1

    def weights(self) -> tuple[Any, Any, Any, Any]:
        """The layer's own variables, in one layout for Keras and fused layers:
        (kernel (in, G*H), recurrent (H, G*H), input bias (G*H,) or None,
        recurrent bias (G*H,) or None)."""
        layer = self.layer
        if isinstance(layer, FusedRNN):
            kernel, rec, bias = (
                layer.kernel[0],
                layer.recurrent_kernel[0],
                layer.bias[0],
            )
        else:
            cell = layer.cell
            kernel, rec, bias = cell.kernel, cell.recurrent_kernel, cell.bias
        if self.cell == "gru" and bias is not None:
            return kernel, rec, bias[0], bias[1]
        return kernel, rec, bias, None


def rnn_chunk(rnn: RnnLayer, x, states: list) -> tuple[Any, list]:
    """Runs one recurrent layer over a chunk, from carried states.

    The input projection of every frame is one matmul; each frame then takes
    one step of `asr.rnn.recurrence` (`lstm_step`, `gru_step`, `simple_step`:
    the cell maths the offline `FusedRNN` runs), with the layer's own
    variables.

    Args:
        rnn: the layer.
        x: (1, frames, features), frames static.
        states: `[h, c]` (LSTM) or `[h]`, each (1, units).

    Returns:
        ((1, frames, units) outputs, new states).
    """
    kernel, rec, bias, rec_bias = rnn.weights()
    dtype = x.dtype
    kernel, rec = tf.cast(kernel, dtype), tf.cast(rec, dtype)
    xp = tf.matmul(x[0], kernel)  # (frames, G*H)
    if bias is not None:
        xp += tf.cast(bias, dtype)
    h, outputs = states[0], []
    c = states[1] if rnn.cell == "lstm" else None
    for t in range(x.shape[1]):
        r = tf.matmul(h, rec)
        if rnn.cell == "lstm":
            h, c, _ = lstm_step(xp[t : t + 1] + r, c, g_doubled=False)
        elif rnn.cell == "gru":
            if rec_bias is not None:
                r += tf.cast(rec_bias, dtype)
            h = gru_step(xp[t : t + 1], r, h)[0]
        else:
            h = simple_step(xp[t : t + 1], r)
        outputs.append(h)
    return tf.stack(outputs, axis=1), ([h, c] if rnn.cell == "lstm" else [h])


def streaming_layers(
    network: keras.Model,
) -> tuple[list[ConvLayer], list[RnnLayer], Any]:
    """The streaming-relevant layers of a `build_model` network."""
    by_name = {layer.name: layer for layer in network.layers}
    if "classes" in by_name:
        raise StreamingError(
            f"{network.name}: a classifier head (one label per clip) cannot stream"
        )
    bidirectional = [
        name
        for name, layer in by_name.items()
        if name.startswith("bi_rnn") or getattr(layer, "bidirectional", False)
    ]
    if bidirectional:
        raise StreamingError(
            f"{network.name}: bidirectional recurrent layers need the whole "
            "utterance; train with model.bidirectional=false and model.causal=true "
            "(configs/streaming.yaml) to stream"
        )
    convs = []
    while f"conv{len(convs)}" in by_name:
        i = len(convs)
        conv, pad = by_name[f"conv{i}"], by_name[f"conv{i}_pad"]
        kt = int(conv.kernel_size[0])
        (top, bottom), freq_pad = pad.padding
        if (top, bottom) != (kt - 1, 0):
            raise StreamingError(
                f"{network.name}: conv{i} pads time by {(top, bottom)}, so it sees "
                "future frames; train with model.causal=true to stream"
            )
        convs.append(
            ConvLayer(
                conv,
                by_name[f"conv{i}_bn"],
                by_name[f"conv{i}_act"],
                kt,
                int(conv.strides[0]),
                tuple(freq_pad),
            )
        )
    rnns = []
    while f"rnn{len(rnns)}" in by_name:
        i = len(rnns)
        layer = by_name[f"rnn{i}"]
        norm = by_name.get(f"rnn{i}_bn") or by_name.get(f"rnn{i}_ln")
        if isinstance(layer, FusedRNN):
            cell = layer.cell
        else:  # the cell maths of asr.rnn.recurrence: tanh/sigmoid, reset_after
            try:
                cell = keras_cell_name(layer)
            except ValueError as e:
                raise StreamingError(
                    f"{network.name}: rnn{i}: cannot stream it: {e}"
                ) from None
        rnns.append(RnnLayer(layer, norm, cell))
    if "logits" not in by_name or not rnns:
        raise StreamingError(f"{network.name}: not a CTC model from asr.model")
    return convs, rnns, by_name
