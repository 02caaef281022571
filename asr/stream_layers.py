"""The causal network's layers, read for chunked execution by `asr.streaming`.

`streaming_layers(network)` finds the convolutions (with their batch norms and
activations) and recurrent layers of an `asr.model.build_model` network and
checks it can stream (causal, unidirectional, CTC head); `rnn_chunk` runs one
recurrent layer over a chunk from carried states with the layer's own
variables, for Keras and `asr.rnn.FusedRNN` layers alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from asr.rnn import FusedRNN


class StreamingError(ValueError):
    """The model cannot stream (bidirectional, not causal, classifier head)."""


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

    def weights(self) -> tuple[Any, Any, Any, Any, Callable, Callable]:
        """The layer's own variables, in one layout for Keras and fused layers:
        (kernel (in, G*H), recurrent (H, G*H), input bias (G*H,) or None,
        recurrent bias (G*H,) or None, activation, recurrent activation)."""
        layer = self.layer
        if isinstance(layer, FusedRNN):
            kernel, rec, bias = (
                layer.kernel[0],
                layer.recurrent_kernel[0],
                layer.bias[0],
            )
            act, gate = tf.tanh, tf.sigmoid
        else:
            cell = layer.cell
            kernel, rec, bias = cell.kernel, cell.recurrent_kernel, cell.bias
            act = cell.activation
            gate = getattr(cell, "recurrent_activation", None)
        if self.cell == "gru" and bias is not None:
            return kernel, rec, bias[0], bias[1], act, gate
        return kernel, rec, bias, None, act, gate


def rnn_chunk(rnn: RnnLayer, x, states: list) -> tuple[Any, list]:
    """Runs one recurrent layer over a chunk, from carried states.

    The input projection of every frame is one matmul; the recurrence then
    follows Keras's cells (gate order i, f, c, o for the LSTM; z, r, h with the
    reset gate after the matmul for the GRU), with the layer's own variables.

    Args:
        rnn: the layer.
        x: (1, frames, features), frames static.
        states: `[h, c]` (LSTM) or `[h]`, each (1, units).

    Returns:
        ((1, frames, units) outputs, new states).
    """
    kernel, rec, bias, rec_bias, act, gate = rnn.weights()
    dtype = x.dtype
    kernel, rec = tf.cast(kernel, dtype), tf.cast(rec, dtype)
    xp = tf.matmul(x[0], kernel)  # (frames, G*H)
    if bias is not None:
        xp += tf.cast(bias, dtype)
    units = rec.shape[0]
    h, outputs = states[0], []
    c = states[1] if rnn.cell == "lstm" else None
    for t in range(x.shape[1]):
        r = tf.matmul(h, rec)
        if rnn.cell == "lstm":
            i, f, g, o = tf.split(xp[t : t + 1] + r, 4, axis=-1)
            c = gate(f) * c + gate(i) * act(g)
            h = gate(o) * act(c)
        elif rnn.cell == "gru":
            if rec_bias is not None:
                r += tf.cast(rec_bias, dtype)
            zr = gate(xp[t : t + 1, : 2 * units] + r[:, : 2 * units])
            z, reset = zr[:, :units], zr[:, units:]
            hh = act(xp[t : t + 1, 2 * units :] + reset * r[:, 2 * units :])
            h = z * h + (1.0 - z) * hh
        else:
            h = act(xp[t : t + 1] + r)
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
        elif isinstance(layer, keras.layers.GRU) and not layer.cell.reset_after:
            raise StreamingError(f"{network.name}: rnn{i}: GRU needs reset_after=True")
        else:
            cell = {
                keras.layers.LSTM: "lstm",
                keras.layers.GRU: "gru",
                keras.layers.SimpleRNN: "simple_rnn",
            }.get(type(layer))
            if cell is None:
                raise StreamingError(
                    f"{network.name}: rnn{i}: cannot stream a {type(layer).__name__}"
                )
        rnns.append(RnnLayer(layer, norm, cell))
    if "logits" not in by_name or not rnns:
        raise StreamingError(f"{network.name}: not a CTC model from asr.model")
    return convs, rnns, by_name
