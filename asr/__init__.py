"""asr: DeepSpeech2-style speech recognition with Keras 3 and TensorFlow.

import asr
model = asr.load_model("synth-en")
model.transcribe("clip.flac")

The public names below (`__all__`, `dir(asr)`) load on first use: `import
asr` imports no TensorFlow and has no side effects.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it (imported on first use)
_LAZY = {
    "Recognizer": "asr.transcribe",
    "Segment": "asr.transcribe",
    "StreamingRecognizer": "asr.streaming.recognizer",
    "StreamingError": "asr.streaming",
    "evaluate": "asr.evaluate",
    "export_savedmodel": "asr.export",
    "export_tflite": "asr.export",
    "load_config": "asr.config",
    "ExperimentConfig": "asr.config",
    "ConfigError": "asr.config",
    "build_model": "asr.model",
    "bundled_models": "asr.checkpoint",
    "ModelNotFoundError": "asr.checkpoint",
    "load_audio": "asr.audio",
    "AudioLoadError": "asr.audio",
    "read_manifest": "asr.manifest",
    "ManifestError": "asr.manifest",
    "normalise": "asr.text",
    "error_rates": "asr.metrics",
}


def load_model(model="synth-en", precision="auto"):
    """A bundled model name, a run directory or a `.keras` file -> Recognizer
    (`precision`: "auto", "float32" or "bfloat16"; `asr.precision`)."""
    from asr.transcribe import load_model as _load

    return _load(model, precision=precision)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'asr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["__version__", "load_model", *sorted(_LAZY)]
