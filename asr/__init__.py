"""asr: DeepSpeech2-style speech recognition with Keras 3 and TensorFlow.

import asr
model = asr.load_model("synth-en")
model.transcribe("clip.flac")
"""

__version__ = "0.1.0"


def load_model(model="synth-en"):
    """A bundled model name, a run directory or a `.keras` file -> Recognizer."""
    from asr.transcribe import load_model as _load

    return _load(model)


def __getattr__(name):
    # Heavy classes load on first use: `import asr` stays instant.
    if name == "StreamingRecognizer":
        from asr.streaming.recognizer import StreamingRecognizer

        return StreamingRecognizer
    if name == "Recognizer":
        from asr.transcribe import Recognizer

        return Recognizer
    raise AttributeError(f"module 'asr' has no attribute {name!r}")


__all__ = ["__version__", "load_model", "StreamingRecognizer", "Recognizer"]
