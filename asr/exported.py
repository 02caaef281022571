"""Recognising with an exported model: a SavedModel folder or a `.tflite` file
written by `asr.export` (what `asr evaluate --model` accepts besides the
Keras models).

    rec = load_recognizer("export/ds2_small")      # or "model.tflite", or a run
    rec.transcribe(wave)                           # as `asr.transcribe.Recognizer`

The artifact's offline signature gives the logits (a TFLite file runs one
utterance at a time, its batch is fixed to 1); decoding is the Keras
recognizer's, on those logits. The config comes from the JSON written with the
export (`asr_export.json` inside a SavedModel folder, `NAME.json` beside
`NAME.tflite`), which holds it since this version.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf

from asr.audio import SAMPLE_RATE
from asr.checkpoint import ModelNotFoundError
from asr.config import ConfigError, from_dict
from asr.export import SAVEDMODEL_INFO
from asr.model import time_stride
from asr.transcribe import Recognizer, load_model


def exported_kind(model: str | os.PathLike) -> str | None:
    """ "savedmodel", "tflite", or None when `model` is not an exported file."""
    path = Path(model)
    if path.is_dir() and (path / "saved_model.pb").is_file():
        return "savedmodel"
    if path.suffix == ".tflite" and path.is_file():
        return "tflite"
    return None


def info_path(model: str | os.PathLike) -> Path:
    """The JSON that `asr.export` wrote with the artifact."""
    path = Path(model)
    if exported_kind(path) == "savedmodel":
        return path / SAVEDMODEL_INFO
    return path.with_suffix(".json")


class ExportedRecognizer(Recognizer):
    """A `Recognizer` whose logits come from an exported artifact; no Keras
    network (`network` is None), so it cannot stream or be exported again."""

    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        kind = exported_kind(path)
        if kind is None:
            raise ModelNotFoundError(f"{path}: not a SavedModel folder or .tflite file")
        info_file = info_path(path)
        try:
            info = json.loads(info_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelNotFoundError(
                f"{info_file}: missing or not JSON (it is written with the export): {e}"
            ) from None
        if "config" not in info:
            raise ConfigError(
                f"{info_file}: has no model config (exported by an older version; "
                "export the model again)"
            )
        self.cfg = from_dict(info["config"])
        self.name, self.kind, self.network = str(path), kind, None
        self.precision, self.inference_network = "float32", None
        self.xla_loops, self.xla_network = False, None
        self._lm_decoders: dict = {}
        self._rescoring_lms: dict = {}
        self.samples_per_frame = time_stride(self.cfg.model) * (
            self.cfg.features.hop_length
        )
        self.frame_seconds = self.samples_per_frame / SAMPLE_RATE
        self._predict = (
            self._savedmodel_predict(path)
            if kind == "savedmodel"
            else self._tflite_predict(path)
        )
        self._predict_one = self._predict

    @staticmethod
    def _savedmodel_predict(path: Path):
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]

        def predict(audio: np.ndarray, lengths: np.ndarray):
            out = serve(audio=tf.constant(audio), audio_lengths=tf.constant(lengths))
            return out["logits"], out["logit_lengths"]

        return predict

    def _tflite_predict(self, path: Path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation
            runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner()
        min_samples = self.cfg.features.win_length

        def predict(audio: np.ndarray, lengths: np.ndarray):
            """Batch of one at a time, each row cut to its own length."""
            rows = []
            for k, n in enumerate(lengths.tolist()):
                out = runner(
                    audio=audio[k : k + 1, : max(n, min_samples)],
                    audio_lengths=lengths[k : k + 1],
                )
                rows.append((out["logits"][0], int(out["logit_lengths"][0])))
            frames = max(r[0].shape[0] for r in rows)
            logits = np.zeros((len(rows), frames, *rows[0][0].shape[1:]), np.float32)
            for k, (row, _) in enumerate(rows):
                logits[k, : len(row)] = row
            return tf.constant(logits), tf.constant([r[1] for r in rows])

        return predict


def load_recognizer(model: str | os.PathLike, precision: str = "auto") -> Recognizer:
    """An exported SavedModel folder or `.tflite` file -> `ExportedRecognizer`
    (float32, as exported); anything else -> `asr.transcribe.load_model`."""
    if exported_kind(model) is not None:
        return ExportedRecognizer(model)
    return load_model(model, precision=precision)
