"""TFLite conversion, shared by `asr.export` and the streaming step
(`asr.streaming.tflite`).

- `convert(function, int8)`: a `tf.function` -> a TFLite flatbuffer, weights
  frozen in; builtin ops if they suffice, else builtins plus Flex
  (SELECT_TF_OPS); `int8`: dynamic-range quantisation.
- `op_names(flatbuffer)`: the builtin and Flex ops a flatbuffer uses.
- `matmul_dft(network)`: while tracing inside it, the network's log-mel
  computes its power spectrum as a DFT matrix product (`dft_frames`):
  TFLite's RFFT2D only takes power-of-two lengths (a 400-sample window is
  not), and XNNPACK runs the product as two dense layers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)


def dft_frames(layer, audio, keep_float: bool = False):
    """`LogMel.frames` with the real DFT as a matrix product (TFLite-friendly).

    `keep_float`: the two matrices are multiplied by a one computed from the
    audio, so they are no longer constants and int8 quantisation leaves these
    products alone: quantised to int8, frames and power spectra lose their
    quiet bands (the streaming model's CER went from 6.1 % to 10.8 % on
    held-out clips; 5.9 % with float features).
    """
    cfg = layer.cfg
    n = cfg.win_length
    k = np.arange(n // 2 + 1)
    angle = 2 * np.pi * np.outer(np.arange(n), k) / n
    window = np.hanning(n + 1)[:-1][:, None]
    # Windowed cos and sin side by side: one product gives re and im, and
    # [re^2, im^2] @ [M; M] = |X|^2 @ M, the mel of the power spectrum.
    dft = np.concatenate([np.cos(angle) * window, np.sin(angle) * window], axis=1)
    mel_twice = tf.concat([layer._mel, layer._mel], axis=0)
    dft = tf.constant(dft.astype(np.float32))
    audio = tf.cast(audio, tf.float32)
    if keep_float:
        one = tf.cast(tf.reduce_max(audio[:1, :1]) > -np.inf, tf.float32)
        dft, mel_twice = dft * one, mel_twice * one
    framed = tf.signal.frame(audio, n, cfg.hop_length)
    parts = tf.matmul(framed, dft)
    mel = tf.matmul(tf.square(parts), mel_twice)
    return tf.math.log(mel + cfg.log_floor)


@contextlib.contextmanager
def matmul_dft(network: keras.Model, keep_float: bool = False) -> Iterator[None]:
    """While tracing inside, the network's log-mel uses `dft_frames`."""
    layer = network.get_layer("log_mel")
    layer.frames = lambda audio: dft_frames(layer, audio, keep_float)
    try:
        yield
    finally:
        del layer.frames


def op_names(flatbuffer: bytes) -> tuple[list[str], list[str]]:
    """(builtin op names, Flex op names) used by a TFLite model."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(flatbuffer, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if k.isupper()}
    builtin, flex = set(), set()
    for code in model.operatorCodes or []:
        op = max(code.builtinCode, code.deprecatedBuiltinCode)
        if op == schema.BuiltinOperator.CUSTOM:
            custom = (code.customCode or b"").decode()
            (flex if custom.startswith("Flex") else builtin).add(custom)
        else:
            builtin.add(names.get(op, str(op)))
    return sorted(builtin), sorted(flex)


def convert(function, int8: bool = False) -> bytes:
    """Builtins only if possible, else builtins plus the ops that need Flex.

    The weights are frozen into constants first (also inside loop bodies, where
    the converter would leave uninitialised resource variables); a wrapper
    keeps the input and output names for the TFLite signature. `int8`:
    dynamic-range quantisation (int8 weights, float activations).
    """
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    concrete = function.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)
    specs = concrete.structured_input_signature[0]
    names = sorted(concrete.structured_outputs)  # the order tf.nest flattens in

    @tf.function(input_signature=specs, autograph=False)
    def named(*args):
        return dict(zip(names, tf.nest.flatten(frozen(*args)), strict=True))

    named = named.get_concrete_function()

    def converter(*ops):
        c = tf.lite.TFLiteConverter.from_concrete_functions([named], tf.Module())
        c.target_spec.supported_ops = list(ops)
        if int8:
            c.optimizations = [tf.lite.Optimize.DEFAULT]
        return c

    try:
        return converter(tf.lite.OpsSet.TFLITE_BUILTINS).convert()
    except Exception as e:  # the converter raises ConverterError and others
        logger.info(
            "builtin ops are not enough, adding SELECT_TF_OPS (%s)",
            str(e).strip().splitlines()[-1][:200],
        )
    flex = converter(tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS)
    flex._experimental_lower_tensor_list_ops = False
    return flex.convert()
