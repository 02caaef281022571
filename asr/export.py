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
framing, vocabulary, the model's config (exported from a `Recognizer`:
`asr.exported` recognises with the artifact from it), and for TFLite the
builtin ops and the ops that needed SELECT_TF_OPS (Flex; the app then needs
the Flex delegate).

TFLite graphs compute the log-mel's power spectrum as a DFT matrix product
(`asr.tflite.matmul_dft`; `dft: "matmul"` in the JSON; logits agree with Keras
to ~1e-4). SavedModels keep the model's own graph.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import keras
import tensorflow as tf

from asr import text as text_lib
from asr.config import to_dict
from asr.files import atomic_path, atomic_write_bytes, atomic_write_text
from asr.rnn.convert import unfuse_model
from asr.streaming import StreamingError
from asr.streaming.recognizer import StreamingRecognizer
from asr.streaming.tflite import stream_step_flatbuffer
from asr.tflite import convert, matmul_dft, op_names
from asr.transcribe import Recognizer

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


def _info(
    network: keras.Model, rec: StreamingRecognizer | None, recognizer=None, **extra
) -> dict:
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
    if isinstance(recognizer, Recognizer):  # `asr.exported` rebuilds it from here
        info["config"] = to_dict(recognizer.cfg)
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
        module.stream_step = rec.new_step_function()
        signatures["stream_step"] = module.stream_step.get_concrete_function()
    info = _info(network, rec, recognizer, format="savedmodel")
    with atomic_path(out) as tmp:  # an earlier SavedModel is replaced whole
        tf.saved_model.save(module, str(tmp), signatures=signatures)
        atomic_write_text(tmp / SAVEDMODEL_INFO, json.dumps(info, indent=2) + "\n")
    logger.info("SavedModel: %s (signatures: %s)", out, ", ".join(signatures))
    return out


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
            smaller; a faster streaming step, which is bound by reading
            weights); the log-mel stays float. Outputs are close to, not
            equal to, the float model's.

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
        flatbuffer = stream_step_flatbuffer(
            rec.network, rec.new_step_function, int8=int8
        )
    else:
        with matmul_dft(network, keep_float=int8):
            flatbuffer = convert(_OfflineModule(network, batch=1).offline, int8=int8)
    builtin, flex = op_names(flatbuffer)
    if flex:
        logger.warning("%s needs the Flex delegate for: %s", out, ", ".join(flex))
    atomic_write_bytes(out, flatbuffer)
    info = _info(
        network,
        rec,
        recognizer,
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
