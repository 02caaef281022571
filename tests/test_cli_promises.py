"""What the README and `--help` promise, kept: bad input is refused before a
model loads, `--int8` and `--hotword` do what they say, the CLI shows the
toolkit's own output only."""

from __future__ import annotations

import json

import pytest
import soundfile as sf

from asr.cli import main
from asr.manifest import Utterance, write_manifest
from tests.conftest import speechlike
from tests.tiny_models import save_tiny_run

TINY = ["model.rnn_units=8", "model.rnn_layers=1", "model.conv_filters=[2,2]"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return save_tiny_run(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    rows = []
    for i in range(3):
        path = folder / f"{i}.wav"
        sf.write(path, speechlike(0.5 + 0.2 * i, seed=i), 16000)
        rows.append(Utterance(str(path), 0.5 + 0.2 * i, "hello world"))
    write_manifest(folder / "test.jsonl", rows)
    return folder / "test.jsonl"


@pytest.fixture
def no_model_loading(monkeypatch):
    """Any attempt to load a model fails the test: input errors come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the inputs were checked")

    import asr.checkpoint
    import asr.training.fit
    import asr.transcribe

    monkeypatch.setattr(asr.transcribe, "load_model", refuse)
    monkeypatch.setattr(asr.checkpoint, "load_network", refuse)
    monkeypatch.setattr(asr.training.fit, "fit", refuse)


def test_export_savedmodel_int8_is_refused_before_any_work(
    no_model_loading, tmp_path, capsys
):
    out = tmp_path / "saved"
    argv = ["export", "--model", "synth-en", "--format", "savedmodel"]
    assert main([*argv, "--int8", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--int8" in err[0] and "tflite" in err[0]
    assert not out.exists()


def test_evaluate_takes_hotwords(run_dir, manifest, tmp_path, capsys):
    pytest.importorskip("pyctcdecode")
    out = tmp_path / "ev"
    argv = ["evaluate", "--model", str(run_dir), "--manifest", str(manifest)]
    assert main([*argv, "--hotword", "hello", "--out", str(out)]) == 0
    assert "WER" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["hotwords"] == ["hello"] and summary["decoder"] == "lm"
    assert summary["lm_backend"] == "pyctcdecode" and summary["beam_width"] == 32


TRAIN = ["train", "--config", "configs/ds2_small.yaml", "--out", "OUT/run"]
EVAL = ["evaluate", "--model", "RUN", "--manifest", "MANIFEST", "--out", "OUT/ev"]

# (argv, fragment of the one error line); OUT is a fresh folder, RUN a model
# folder, MANIFEST a good manifest.
MISSING_INPUTS = {
    "stream: missing file": (["stream", "--file", "OUT/gone.wav"], "gone.wav"),
    "stream: unknown model": (["stream", "--file", "CLIP", "--model", "nope"], "nope"),
    "transcribe: missing file": (["transcribe", "--model", "RUN", "gone.wav"], "gone"),
    "transcribe: missing lm": (
        ["transcribe", "--model", "RUN", "--lm", "OUT/lm.arpa", "CLIP"],
        "lm.arpa",
    ),
    "evaluate: missing manifest": (
        ["evaluate", "--model", "RUN", "--manifest", "OUT/m.jsonl", "--out", "OUT"],
        "m.jsonl",
    ),
    "evaluate: missing lm": ([*EVAL, "--lm", "OUT/lm.arpa"], "lm.arpa"),
    "evaluate: unknown model": (
        ["evaluate", "--model", "nope", "--manifest", "MANIFEST", "--out", "OUT"],
        "nope",
    ),
    "export: unknown model": (
        ["export", "--model", "nope", "--format", "tflite", "--out", "OUT/m.tflite"],
        "nope",
    ),
    "export: out is another folder": (
        ["export", "--model", "RUN", "--format", "savedmodel", "--out", "OUT"],
        "not a SavedModel",
    ),
    "train: missing manifest": ([*TRAIN, "--train", "OUT/t.jsonl"], "t.jsonl"),
    "train: missing noise folder": (
        [
            *TRAIN,
            "--train",
            "MANIFEST",
            "--val",
            "MANIFEST",
            "--set",
            "augment.noise_dir=OUT/noise",
        ],
        "augment.noise_dir",
    ),
    "train: unknown starting model": (
        [*TRAIN, "--train", "MANIFEST", "--val", "MANIFEST", "--init-from", "nope"],
        "nope",
    ),
}


@pytest.mark.parametrize("case", sorted(MISSING_INPUTS))
def test_missing_inputs_are_reported_before_a_model_loads(
    case, no_model_loading, run_dir, manifest, tmp_path, capsys
):
    argv, fragment = MISSING_INPUTS[case]
    (tmp_path / "out").mkdir()
    names = {
        "RUN": str(run_dir),
        "MANIFEST": str(manifest),
        "CLIP": str(manifest.parent / "0.wav"),
        "OUT": str(tmp_path / "out"),
    }
    argv = [names.get(a, a.replace("OUT/", f"{tmp_path}/out/")) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0] and err[0].startswith("asr"), err


def test_command_output_has_no_tensorflow_start_up_lines(tmp_path):
    import subprocess
    import sys

    missing = str(tmp_path / "gone.wav")
    run = [sys.executable, "-m", "asr", "stream", "--file", missing]
    done = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    # TensorFlow was imported (every model command imports it first)
    assert done.stderr.strip().splitlines() == [
        f"asr stream: error: {missing}: file not found"
    ], done.stderr
    assert "oneDNN" not in done.stderr and "absl" not in done.stderr


def test_model_commands_show_no_tensorflow_device_lines(run_dir, tmp_path):
    # With TensorFlow's CUDA build on a machine without a GPU, the first device
    # query logs "failed call to cuInit" from C++ unless the CLI keeps it quiet.
    import subprocess
    import sys

    clip = tmp_path / "clip.wav"
    sf.write(clip, speechlike(0.8, seed=0), 16000)
    run = [
        sys.executable,
        "-m",
        "asr",
        "transcribe",
        "--model",
        str(run_dir),
        str(clip),
    ]
    done = subprocess.run(run, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    for marker in ("cuInit", "oneDNN", "absl", "E0000", "I0000", "W0000"):
        assert marker not in done.stderr, done.stderr
