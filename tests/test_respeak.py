"""scripts/respeak.py: a manifest's sentences spoken again by other voices."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from asr.manifest import write_manifest
from tests.conftest import run_script

pytest.importorskip("espeakng_loader", reason="pip install espeakng-loader")


def run(*args):
    return run_script("respeak.py", *args)


def test_each_sentence_is_spoken_by_the_next_voice_and_reruns_keep_clips(tmp_path):
    texts = ["we call it bear", "zero three five one", "the boy is happy"]
    rows = [{"audio_filepath": f"x{i}.wav", "duration": 1.0, "text": t}
            for i, t in enumerate(texts)]  # fmt: skip
    write_manifest(tmp_path / "m.jsonl", rows)
    voices = ["en-us", "en-gb+f3"]
    if shutil.which("flite"):
        voices.append("flite:slt")
    out = tmp_path / "out"
    done = run("--manifest", str(tmp_path / "m.jsonl"), "--out", str(out),
               "--voices", ",".join(voices))  # fmt: skip
    assert done.returncode == 0, done.stderr
    made = [json.loads(line) for line in (out / "test.jsonl").read_text().splitlines()]
    assert [m["text"] for m in made] == texts
    assert [m["voice"] for m in made] == [voices[i % len(voices)] for i in range(3)]
    for m in made:
        audio, rate = sf.read(out / m["audio_filepath"], dtype="float32")
        assert rate == 16000 and abs(len(audio) / rate - m["duration"]) < 0.01
        assert np.sqrt(np.mean(audio**2)) > 0.01
    first = out / made[0]["audio_filepath"]
    before = first.stat().st_mtime_ns
    assert run("--manifest", str(tmp_path / "m.jsonl"), "--out", str(out),
               "--voices", ",".join(voices)).returncode == 0  # fmt: skip
    assert first.stat().st_mtime_ns == before
    bad = run("--manifest", str(tmp_path / "m.jsonl"), "--out", str(out),
              "--voices", " , ")  # fmt: skip
    assert bad.returncode != 0 and "nothing to do" in bad.stderr
