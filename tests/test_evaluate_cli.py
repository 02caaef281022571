"""`asr evaluate`, `asr transcribe` and the CLI's error handling, end to end."""

import json

import pytest
import soundfile as sf

from asr.cli import main
from asr.evaluate import evaluate
from asr.manifest import Utterance, write_manifest
from asr.transcribe import load_model
from tests.conftest import speechlike
from tests.tiny_models import save_tiny_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return save_tiny_run(tmp_path_factory.mktemp("run"))


@pytest.fixture
def manifest(tmp_path):
    rows = []
    for i in range(3):
        path = tmp_path / f"{i}.flac"
        sf.write(path, speechlike(0.6 + 0.2 * i, seed=i), 16000)
        rows.append(Utterance(str(path), 0.6 + 0.2 * i, "hello world"))
    broken = tmp_path / "broken.wav"
    broken.write_text("not audio at all")
    rows.append(Utterance(str(broken), 1.0, "broken"))
    rows.append(Utterance(str(tmp_path / "missing.wav"), 1.0, "missing"))
    write_manifest(tmp_path / "test.jsonl", rows)
    return tmp_path / "test.jsonl"


def test_evaluate_scores_good_files_and_lists_broken_ones(run_dir, manifest, tmp_path):
    summary = evaluate(load_model(run_dir), manifest, tmp_path / "out")
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["num_utterances"] == 3
    assert written["num_skipped"] == 2
    reasons = {
        s["audio_filepath"].rsplit("/", 1)[-1]: s["reason"] for s in written["skipped"]
    }
    assert (
        "unreadable" in reasons["broken.wav"] and "not found" in reasons["missing.wav"]
    )
    for key in ("wer", "cer", "substitutions", "deletions", "insertions", "rtf"):
        assert key in written
    assert written["rtf"] > 0
    assert summary["wer"] == written["wer"]
    recogs = (tmp_path / "out" / "recogs.jsonl").read_text().splitlines()
    assert len(recogs) == 3 and json.loads(recogs[0])["ref"] == "hello world"
    assert (tmp_path / "out" / "errs.txt").read_text().strip()


def test_cli_evaluate_and_transcribe(run_dir, manifest, tmp_path, capsys):
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(run_dir),
                "--manifest",
                str(manifest),
                "--out",
                str(tmp_path / "ev"),
            ]
        )
        == 0
    )
    assert "WER" in capsys.readouterr().out
    clip = manifest.parent / "0.flac"
    assert main(["transcribe", "--model", str(run_dir), "--json", str(clip)]) == 0
    obj = json.loads(capsys.readouterr().out.strip())
    assert set(obj) == {"audio_filepath", "text", "words", "duration", "confidence"}
    assert obj["duration"] == pytest.approx(0.6)


def test_edge_flag_sets_the_silence_each_utterance_is_heard_with(
    run_dir, manifest, tmp_path, monkeypatch, capsys
):
    from asr.transcribe import Recognizer

    heard = []
    real = Recognizer.logits_batch

    def spy(self, waves):
        heard.extend(len(w) for w in waves)
        return real(self, waves)

    monkeypatch.setattr(Recognizer, "logits_batch", spy)
    clip = manifest.parent / "0.flac"  # 0.6 s
    assert (
        main(["transcribe", "--model", str(run_dir), "--edge", "0.5", str(clip)]) == 0
    )
    assert heard[-1] == 9600 + 2 * 8000
    argv = ["evaluate", "--model", str(run_dir), "--manifest", str(manifest)]
    assert main([*argv, "--edge", "0.25", "--out", str(tmp_path / "e")]) == 0
    assert heard[-1] == 16000 + 2 * 4000  # the 1.0 s clip and its edges
    summary = json.loads((tmp_path / "e" / "summary.json").read_text())
    assert summary["edge_seconds"] == 0.25
    assert main([*argv, "--out", str(tmp_path / "e0")]) == 0
    assert heard[-1] == 16000  # by default as it is
    summary = json.loads((tmp_path / "e0" / "summary.json").read_text())
    assert summary["edge_seconds"] == 0
    capsys.readouterr()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (
            ["evaluate", "--model", "nope", "--manifest", "x.jsonl", "--out", "o"],
            "nope",
        ),
        (["train", "--config", "missing.yaml", "--out", "o"], "missing.yaml"),
        (
            [
                "train",
                "--config",
                "configs/ds2_small.yaml",
                "--set",
                "model.bogus=1",
                "--out",
                "o",
            ],
            "model.bogus",
        ),
        (["transcribe", "--model", "RUN", "MISSING.wav"], "MISSING.wav"),
    ],
)
def test_input_errors_exit_2_with_one_line_naming_the_problem(
    argv, needle, run_dir, capsys
):
    argv = [str(run_dir) if a == "RUN" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["train"],
        ["evaluate", "--model"],
        ["frobnicate"],
        ["transcribe"],
        ["prepare", "nothing"],
    ],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_every_subcommand_has_help(capsys):
    for command in ("prepare", "train", "evaluate", "transcribe", "demo"):
        with pytest.raises(SystemExit) as e:
            main([command, "--help"])
        assert e.value.code == 0
        assert "usage:" in capsys.readouterr().out
