"""Inference precision: the heaviest products in bfloat16 where the CPU
computes bfloat16 natively.

Two kinds of product carry most of offline inference on CPU and run at the
float32 matmul peak already: the front end's second convolution `conv1` (11 x
21 taps, 32 -> 32 channels over every frame) and each recurrent layer's input
projection (x W over all steps at once); with AVX512_BF16 or AMX-BF16, oneDNN
runs both in bfloat16 1.6-2x as fast. Their inputs and weights are rounded
to bfloat16 (8 bits of mantissa), they accumulate in float32, and everything
else (the recurrences included) stays float32. On the bundled models' test
sets the WER did not move: texts identical on 147/147 (`synth-en`), 200/200
(`digits`), 146/147 (`synth-en-streaming`), 384/400 and 382/400 (`english`,
`english-streaming`; a misspelt word misspelt another way) (docs/performance.md).

Where the CPU lacks those instructions (AVX2 only) oneDNN emulates bfloat16
and is slower, and on a GPU the stock float32 graph is used: "auto" picks
"bfloat16" only on a CPU that has them. Streaming, export and training always
run float32.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from asr.cpu import cpu_isa
from asr.rnn.layer import FusedRNN

PRECISIONS = ("auto", "float32", "bfloat16")
BF16_LAYERS = ("conv1",)  # where bfloat16 pays and the texts hold (+ FusedRNN's x W)
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has bfloat16 dot-product instructions (AVX512_BF16 or
    AMX-BF16), read from /proc/cpuinfo (False where it cannot be read)."""
    return any(flag in cpu_isa(cpuinfo) for flag in NATIVE_BF16_FLAGS)


def resolve(precision: str) -> str:
    """ "auto" -> "bfloat16" on a CPU-only machine with native bfloat16, else
    "float32"; "float32" and "bfloat16" are returned as they are.

    Raises:
        ValueError: not one of `PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision: {precision!r} is not one of {', '.join(PRECISIONS)}"
        )
    if precision != "auto":
        return precision
    if tf.config.list_physical_devices("GPU") or not native_bf16():
        return "float32"
    return "bfloat16"


def _in_bf16(layer: keras.layers.Layer) -> bool:
    """Whether "bfloat16" changes `layer`."""
    return layer.name in BF16_LAYERS or isinstance(layer, FusedRNN)


def inference_network(model: keras.Model, precision: str) -> keras.Model:
    """`model` itself for "float32"; for "bfloat16" a copy (weights included)
    whose `BF16_LAYERS` compute in bfloat16 (Keras's "mixed_bfloat16" policy:
    float32 weights, inputs and kernel cast on the way in, the next layer
    casts back) and whose `FusedRNN` layers project their inputs in bfloat16
    (`projection_dtype`). A model without such layers is returned as it is.
    The copy does not see later changes to `model`'s weights."""
    if precision == "float32" or not any(map(_in_bf16, model.layers)):
        return model
    if precision != "bfloat16":
        raise ValueError(f"precision: {precision!r} is not float32 or bfloat16")

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if layer.name in BF16_LAYERS:
            config["dtype"] = "mixed_bfloat16"
        elif isinstance(layer, FusedRNN):
            config["projection_dtype"] = "bfloat16"
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    for old, new in zip(model.layers, copy.layers, strict=True):
        new.set_weights(old.get_weights())
    return copy
