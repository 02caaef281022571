"""SavedModel and TFLite export: the offline model and the streaming step.

Both take raw 16 kHz float32 audio (the log-mel runs inside), so a deployment
needs no feature code:

- offline: `audio (batch, samples)`, `audio_lengths (batch,) int32` ->
  `logits (batch, frames, vocab)`, `logit_lengths (batch,)`. TFLite fixes
  batch to 1; the sample count stays free (the interpreter resizes).
- streaming step (`asr.streaming`): `audio (1, window_samples)` plus the state
  tensors `conv{i}_cache`, `rnn{i}_h` [, `rnn{i}_c`] -> `logits (1, n, vocab)`
  and the new state under the same names. Start from zeros; consecutive
  windows overlap by `win - hop` samples; at the end zero-pad the last window
  and keep `ceil(frames / time_stride)` output frames in all.

Beside each artifact a small JSON (`asr_export.json` inside a SavedModel,
`NAME.json` next to `NAME.tflite`) records the signatures, state shapes, audio
framing, vocabulary, and for TFLite the builtin ops and the ops that needed
SELECT_TF_OPS (Flex; the app then needs the Flex delegate).

TFLite's RFFT2D only takes power-of-two lengths (a 400-sample window is not),
so TFLite graphs compute the same power spectrum as a DFT matrix product, one
path for every window length (`dft: "matmul"` in the JSON; logits agree with
Keras to ~1e-4; XNNPACK runs it as two dense layers). SavedModels keep the
model's own graph.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from asr import text as text_lib
from asr.files import atomic_path, atomic_write_bytes, atomic_write_text
from asr.rnn.convert import unfuse_model
from asr.streaming import StreamingError, StreamingRecognizer

logger = logging.getLogger(__name__)

SAVEDMODEL_INFO = "asr_export.json"


class _OfflineModule(tf.Module):
    """The offline function, and the network's variables so they are saved (not
    the Keras object graph, which is slow to save and not needed to serve)."""

    def __init__(self, network: keras.Model, batch: int | None = None):
        super().__init__()
        self.weights = list(network.variables)

        @tf.function(
            input_signature=[
                tf.TensorSpec([batch, None], tf.float32, name="audio"),
                tf.TensorSpec([batch], tf.int32, name="audio_lengths"),
            ],
            autograph=False,
        )
        def offline(audio, audio_lengths):
            logits, lengths = network([audio, audio_lengths], training=False)
            return {"logits": tf.cast(logits, tf.float32), "logit_lengths": lengths}

        self.offline = offline


def _network(recognizer) -> keras.Model:
    return recognizer if isinstance(recognizer, keras.Model) else recognizer.network


def _streamer(recognizer, chunk_ms: float | None) -> StreamingRecognizer | None:
    if chunk_ms is not None and not chunk_ms > 0:
        raise StreamingError(f"chunk_ms: must be > 0, got {chunk_ms}")
    try:
        return StreamingRecognizer(recognizer, chunk_ms=chunk_ms)
    except StreamingError as e:
        logger.info("no streaming step exported: %s", e)
        return None


def _stream_function(
    rec: StreamingRecognizer,
) -> tf.types.experimental.PolymorphicFunction:
    """A fresh compiled step (traced under the current log-mel implementation)."""
    return tf.function(
        rec.step_graph, input_signature=rec.step_signature(), autograph=False
    )


def _info(network: keras.Model, rec: StreamingRecognizer | None, **extra) -> dict:
    fc = network.get_layer("log_mel").cfg
    info = {
        "asr_export_version": 1,
        "sample_rate": fc.sample_rate,
        "win_length": fc.win_length,
        "hop_length": fc.hop_length,
        "vocab": list(text_lib.VOCAB),
        "blank_id": text_lib.BLANK,
        "offline": {
            "inputs": {
                "audio": "(batch, samples) float32",
                "audio_lengths": "(batch,)",
            },
            "outputs": {
                "logits": "(batch, frames, vocab)",
                "logit_lengths": "(batch,)",
            },
        },
    }
    if rec is not None:
        info["streaming"] = {
            "window_samples": rec.window_samples,
            "step_samples": rec.step_samples,
            "overlap_samples": rec.overlap,
            "step_frames": rec.step_frames,
            "time_stride": rec.time_stride,
            "output_frames_per_step": rec.step_outputs,
            "frame_seconds": rec.frame_seconds,
            # a step's logits lag its audio by this many output frames: drop
            # the stream's first ones, and at its end feed silence (with
            # valid_frames 0) until the last frame is out
            "lookahead_frames": rec.lookahead,
            "inputs": {
                "audio": "(1, window_samples) float32",
                "valid_frames": "() int32: real output frames of this step "
                "(output_frames_per_step, fewer at the stream's end)",
            },
            "state": [
                {"name": s.name, "shape": list(s.shape)} for s in rec.state_specs
            ],
        }
    info.update(extra)
    return info


def export_savedmodel(
    recognizer, out: str | os.PathLike, chunk_ms: float | None = None
) -> Path:
    """Writes a SavedModel with the offline and (if causal) streaming signatures.

    Signatures: `serving_default` (offline, any batch and length) and, for a
    causal unidirectional model, `stream_step`. The loaded object also has
    `.offline(audio, audio_lengths)` and `.stream_step(audio, valid_frames, *state)`.

    Args:
        recognizer: an `asr.transcribe.Recognizer` or a `build_model` network.
        out: directory to write (replaced if it holds an earlier SavedModel).
        chunk_ms: streaming step length (default: the model's config).

    Returns:
        The directory.

    Raises:
        FileExistsError: `out` exists and is not a SavedModel directory.
    """
    out = Path(out)
    if out.exists() and not (out / "saved_model.pb").exists():
        raise FileExistsError(f"{out}: exists and is not a SavedModel; not replacing")
    network = _network(recognizer)
    module = _OfflineModule(network)
    signatures = {"serving_default": module.offline.get_concrete_function()}
    rec = _streamer(recognizer, chunk_ms)
    if rec is not None:
        module.stream_step = _stream_function(rec)
        signatures["stream_step"] = module.stream_step.get_concrete_function()
    info = _info(network, rec, format="savedmodel")
    with atomic_path(out) as tmp:  # an earlier SavedModel is replaced whole
        tf.saved_model.save(module, str(tmp), signatures=signatures)
        atomic_write_text(tmp / SAVEDMODEL_INFO, json.dumps(info, indent=2) + "\n")
    logger.info("SavedModel: %s (signatures: %s)", out, ", ".join(signatures))
    return out


def _dft_frames(layer, audio, keep_float: bool = False):
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
def _matmul_dft(network: keras.Model, keep_float: bool = False) -> Iterator[None]:
    """While tracing inside, the network's log-mel uses `_dft_frames`."""
    layer = network.get_layer("log_mel")
    layer.frames = lambda audio: _dft_frames(layer, audio, keep_float)
    try:
        yield
    finally:
        del layer.frames


def _ops(flatbuffer: bytes) -> tuple[list[str], list[str]]:
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


def _convert(function, int8: bool = False) -> bytes:
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


def stream_step_flatbuffer(rec: StreamingRecognizer, int8: bool = False) -> bytes:
    """`rec`'s streaming step as a TFLite flatbuffer (builtin ops where
    possible), with its current weights frozen in (as int8 with `int8`).
    Inputs and outputs are named as in `rec.step_function`."""
    with _matmul_dft(rec.network, keep_float=int8):
        return _convert(_stream_function(rec), int8=int8)


def export_tflite(
    recognizer,
    out: str | os.PathLike,
    streaming: bool = False,
    chunk_ms: float | None = None,
    int8: bool = False,
) -> Path:
    """Writes a TFLite model: the offline model (batch 1) or the streaming step.

    Writes `out` and, beside it, `out.with_suffix(".json")` (see the module
    docstring), including `flex_ops`: the ops that needed SELECT_TF_OPS.

    Args:
        recognizer: an `asr.transcribe.Recognizer` or a `build_model` network.
        out: the `.tflite` file to write (atomically).
        streaming: export the streaming step instead of the offline model.
        chunk_ms: streaming step length (default: the model's config).
        int8: dynamic-range quantisation of the network's weights (about 4x
            smaller, a ~2.5x faster streaming step here); the log-mel stays
            float. Outputs are close to, not equal to, the float model's.

    Returns:
        The `.tflite` path.

    Raises:
        StreamingError: `streaming=True` for a model that cannot stream.
    """
    out = Path(out)
    network = _network(recognizer)
    rec = StreamingRecognizer(recognizer, chunk_ms=chunk_ms) if streaming else None
    if rec is None:  # the converter turns Keras's LSTM into builtin ops, not loops
        network = unfuse_model(network)
    if rec is not None:
        flatbuffer = stream_step_flatbuffer(rec, int8=int8)
    else:
        with _matmul_dft(network, keep_float=int8):
            flatbuffer = _convert(_OfflineModule(network, batch=1).offline, int8=int8)
    builtin, flex = _ops(flatbuffer)
    if flex:
        logger.warning("%s needs the Flex delegate for: %s", out, ", ".join(flex))
    atomic_write_bytes(out, flatbuffer)
    info = _info(
        network,
        rec,
        format="tflite",
        signature="streaming" if streaming else "offline",
        batch=1,
        dft="matmul",
        weights="int8 (dynamic range)" if int8 else "float32",
        builtin_ops=builtin,
        flex_ops=flex,
    )
    if rec is None:
        info.pop("streaming", None)
    else:
        info.pop("offline")
    atomic_write_text(out.with_suffix(".json"), json.dumps(info, indent=2) + "\n")
    logger.info(
        "TFLite: %s (%d KiB, %d Flex ops)", out, len(flatbuffer) // 1024, len(flex)
    )
    return out
