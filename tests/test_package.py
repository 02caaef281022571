"""The package's public names: listed, importable, and lazy."""

import subprocess
import sys

import asr


def test_public_names_are_listed_and_resolve():
    names = dir(asr)
    for name in ("load_model", "Recognizer", "StreamingRecognizer", "evaluate"):
        assert name in names and name in asr.__all__
    for name in asr.__all__:
        assert getattr(asr, name) is not None, name
    assert asr.Recognizer.__name__ == "Recognizer"


def test_import_asr_loads_no_tensorflow():
    code = "import sys, asr; dir(asr); print('tensorflow' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "False", done.stderr
