"""scripts/make_babble.py: babble from a folder or from a manifest's files."""

import numpy as np
import soundfile as sf

from asr.manifest import write_manifest
from tests.conftest import run_script, speechlike


def run(*args):
    return run_script("make_babble.py", *args)


def test_babble_from_a_manifest_is_the_length_asked_at_rms_0_1(tmp_path):
    rows = []
    for i in range(3):
        path = tmp_path / f"talker{i}.wav"
        sf.write(path, speechlike(1.0, seed=i), 16000)
        rows.append({"audio_filepath": str(path), "duration": 1.0, "text": "x"})
    write_manifest(tmp_path / "m.jsonl", rows)
    out = tmp_path / "noise" / "babble.wav"
    done = run("--manifest", str(tmp_path / "m.jsonl"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    wave, sr = sf.read(out, dtype="float32")
    assert sr == 16000 and len(wave) == 30 * 16000
    assert abs(np.sqrt(np.mean(wave**2)) - 0.1) < 2e-3


def test_a_source_without_audio_is_an_error(tmp_path):
    done = run("--speech-dir", str(tmp_path), "--out", str(tmp_path / "b.wav"))
    assert done.returncode == 2 and "no audio files" in done.stderr
    assert not (tmp_path / "b.wav").exists()
