"""Every `asr` subcommand run with wrong arguments exits 2 with a message
naming the argument, key or file, and no traceback; bad arguments are refused
before any work starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from asr.cli import main
from asr.config import dump_yaml, load_config
from asr.model import build_model

TRAIN = ["train", "--config", "configs/ds2_small.yaml", "--out", "OUT"]
SYN = ["prepare", "synthetic", "--out", "OUT"]
LIBRI = ["prepare", "librispeech", "--root", "OUT", "--out", "OUT"]
EVAL = ["evaluate", "--model", "RUN", "--manifest", "m.jsonl", "--out", "OUT"]
EVAL_NOPE = ["evaluate", "--model", "nope", "--manifest", "m.jsonl", "--out", "OUT"]

# (argv, fragment the last stderr line must hold); RUN is a model folder,
# CLIP a readable clip, OUT a fresh folder, EMPTY an empty folder, NOTAUDIO a
# text file named not_audio.wav.
CASES = {
    # argparse: missing, malformed or out-of-range arguments
    "prepare: no corpus": (["prepare"], "CORPUS"),
    "prepare: unknown corpus": (["prepare", "timit"], "timit"),
    "librispeech: no --root": (["prepare", "librispeech", "--out", "OUT"], "--root"),
    "librispeech: unknown part": ([*LIBRI, "--parts", "dev_clean"], "dev_clean"),
    "speech-commands: no --out": (
        ["prepare", "speech-commands", "--root", "OUT"],
        "--out",
    ),
    "speech-commands: unknown option": (
        ["prepare", "speech-commands", "--root", "OUT", "--out", "OUT", "--x"],
        "--x",
    ),
    "synthetic: no --out": (["prepare", "synthetic"], "--out"),
    "synthetic: hours not a number": ([*SYN, "--hours", "lots"], "--hours"),
    "synthetic: zero hours": ([*SYN, "--hours", "0"], "--hours"),
    "synthetic: infinite hours": ([*SYN, "--hours", "inf"], "--hours"),
    "synthetic: zero workers": ([*SYN, "--workers", "0"], "--workers"),
    "synthetic: old fraction above 1": (
        [*SYN, "--old-fraction", "2"],
        "--old-fraction",
    ),
    "synthetic: unknown vocabulary": ([*SYN, "--vocabulary", "big"], "--vocabulary"),
    "train: no --config": (["train", "--out", "OUT"], "--config"),
    "train: epochs not an int": ([*TRAIN, "--epochs", "2.5"], "--epochs"),
    "train: zero epochs": ([*TRAIN, "--epochs", "0"], "--epochs"),
    "train: unknown strategy": ([*TRAIN, "--strategy", "tpu"], "--strategy"),
    "evaluate: no --manifest": (
        ["evaluate", "--model", "RUN", "--out", "OUT"],
        "--manifest",
    ),
    "evaluate: unknown decoder": (
        ["evaluate", "--model", "RUN", "--manifest", "m", "--out", "OUT"]
        + ["--decoder", "viterbi"],
        "--decoder",
    ),
    "evaluate: zero beam width": (
        ["evaluate", "--model", "RUN", "--manifest", "m", "--out", "OUT"]
        + ["--beam-width", "0"],
        "--beam-width",
    ),
    "evaluate: bad --snr list": (
        [*EVAL, "--noise", "CLIP", "--snr", "10,loud"],
        "--snr",
    ),
    "evaluate: --snr with -inf": ([*EVAL, "--noise", "CLIP", "--snr=0,-inf"], "-inf"),
    "evaluate: --snr twice": ([*EVAL, "--noise", "CLIP", "--snr", "5,5"], "twice"),
    "evaluate: negative pad": ([*EVAL, "--pad-silence", "-1"], "--pad-silence"),
    "evaluate: pad level above 0 dBFS": (
        [*EVAL, "--pad-silence", "1", "--pad-level-dbfs", "6"],
        "--pad-level-dbfs",
    ),
    "transcribe: no files": (["transcribe", "--model", "RUN"], "FILE"),
    "transcribe: negative beam width": (
        ["transcribe", "CLIP", "--beam-width", "-4"],
        "--beam-width",
    ),
    "transcribe: unknown option": (["transcribe", "CLIP", "--lang", "en"], "--lang"),
    "stream: no source": (["stream"], "--mic"),
    "stream: two sources": (["stream", "--mic", "--file", "CLIP"], "--file"),
    "stream: zero chunk": (
        ["stream", "--file", "CLIP", "--chunk-ms", "0"],
        "--chunk-ms",
    ),
    "stream: negative endpoint": (
        ["stream", "--file", "CLIP", "--endpoint-ms", "-1"],
        "--endpoint-ms",
    ),
    "export: no --format": (["export", "--model", "RUN", "--out", "OUT"], "--format"),
    "export: unknown format": (
        ["export", "--model", "RUN", "--format", "onnx", "--out", "OUT"],
        "--format",
    ),
    "export: negative chunk": (
        ["export", "--model", "RUN", "--format", "tflite", "--out", "OUT"]
        + ["--chunk-ms", "-10"],
        "--chunk-ms",
    ),
    "demo: zero sentences": (["demo", "--n", "0"], "--n"),
    "demo: zero hours": (["demo", "--train", "--hours", "0"], "--hours"),
    "demo: unknown option": (["demo", "--fast"], "--fast"),
    # input errors found after parsing: one line naming the key or file
    "train: unknown config key": (
        [*TRAIN, "--set", "model.rnn_unit=8"],
        "model.rnn_unit",
    ),
    "train: wrong config type": (
        [*TRAIN, "--set", "model.rnn_units=many"],
        "model.rnn_units",
    ),
    "train: stride larger than the input": (
        [*TRAIN, "--set", "model.conv_strides=[[2,2],[1,64]]"],
        "model.conv_strides[1]",
    ),
    "train: malformed --set": ([*TRAIN, "--set", "model.rnn_units"], "model.rnn_units"),
    "train: missing manifest": ([*TRAIN, "--train", "nothing.jsonl"], "nothing.jsonl"),
    "librispeech: missing root": (LIBRI, "LibriSpeech"),
    "speech-commands: missing root": (
        ["prepare", "speech-commands", "--root", "OUT/none", "--out", "OUT"],
        "none",
    ),
    "evaluate: missing manifest": (
        ["evaluate", "--model", "RUN", "--manifest", "m.jsonl", "--out", "OUT"],
        "m.jsonl",
    ),
    "evaluate: unknown model": (
        ["evaluate", "--model", "nope", "--manifest", "m.jsonl", "--out", "OUT"],
        "nope",
    ),
    # noise settings are checked before the model loads: the model is "nope"
    "evaluate: missing noise": (
        [*EVAL_NOPE, "--noise", "OUT/none", "--snr", "10"],
        "none",
    ),
    "evaluate: empty noise folder": (
        [*EVAL_NOPE, "--noise", "EMPTY", "--snr", "10"],
        "no noise audio",
    ),
    "evaluate: unreadable noise": (
        [*EVAL_NOPE, "--noise", "NOTAUDIO", "--snr", "10"],
        "not_audio.wav",
    ),
    "evaluate: --snr without --noise": ([*EVAL_NOPE, "--snr", "clean,5"], "--noise"),
    "evaluate: --noise without --snr": ([*EVAL_NOPE, "--noise", "CLIP"], "--snr"),
    "transcribe: missing file": (
        ["transcribe", "--model", "RUN", "gone.wav"],
        "gone.wav",
    ),
    "stream: offline model": (
        ["stream", "--file", "CLIP", "--model", "RUN"],
        "bidirectional",
    ),
    "export: unknown model": (
        ["export", "--model", "nope", "--format", "tflite", "--out", "OUT/m.tflite"],
        "nope",
    ),
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    cfg = load_config(
        overrides=[
            "model.rnn_units=8",
            "model.rnn_layers=1",
            "model.conv_filters=[2,2]",
        ]
    )
    path = tmp_path_factory.mktemp("model")
    build_model(cfg).save(path / "model.keras")
    (path / "config.yaml").write_text(dump_yaml(cfg))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    import numpy as np
    import soundfile as sf

    path = tmp_path_factory.mktemp("clip") / "clip.wav"
    sf.write(path, np.zeros(8000, np.float32), 16000)
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_wrong_arguments_exit_2_with_a_message_and_no_traceback(
    case, model_dir, clip, tmp_path, capsys
):
    argv, fragment = CASES[case]
    (tmp_path / "empty").mkdir()
    (tmp_path / "not_audio.wav").write_text("not audio\n" * 100)
    names = {
        "RUN": str(model_dir),
        "CLIP": str(clip),
        "OUT": str(tmp_path / "out"),
        "EMPTY": str(tmp_path / "empty"),
        "NOTAUDIO": str(tmp_path / "not_audio.wav"),
    }
    argv = [names.get(a, a.replace("OUT/", f"{tmp_path}/out/")) for a in argv]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse, before any work is done
        code = e.code
        assert not (tmp_path / "out").exists()
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("asr") and fragment in lines[-1], err
    assert "Traceback" not in err


def test_installed_command_reports_a_bad_config_key_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "asr", *TRAIN[:3], "--out", str(tmp_path)]
        + ["--set", "train.nan_policy=ignore"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if "asr train" in line]
    assert len(lines) == 1 and "train.nan_policy" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
