"""`asr transcribe` on folders and stdin with --output-dir: one file per input
and format, resuming, --overwrite, broken files reported and skipped."""

import errno
import io
import json
import os
import signal
import sys

import pytest
import soundfile as sf

from asr.cli import main
from tests.conftest import speechlike
from tests.tiny_models import save_tiny_run

TINY = ["model.rnn_units=8", "model.rnn_layers=1", "model.conv_filters=[2,2]"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return save_tiny_run(tmp_path_factory.mktemp("run"))


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "audio"
    (root / "a" / "deep").mkdir(parents=True)
    (root / "b").mkdir()
    sf.write(root / "top.wav", speechlike(0.6, seed=0), 16000)
    sf.write(root / "a" / "deep" / "x.flac", speechlike(0.8, seed=1), 16000)
    sf.write(root / "b" / "x.wav", speechlike(0.7, seed=2), 16000)
    (root / "b" / "broken.wav").write_text("not audio at all")
    (root / "b" / "notes.txt").write_text("not an audio extension: ignored")
    return root


def test_folder_to_output_dir_resumes_and_overwrites(run_dir, folder, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["transcribe", str(folder), "--model", str(run_dir)]
    argv += ["--output-dir", str(out), "--format", "all"]
    assert main(argv) == 2  # the broken file
    err = capsys.readouterr().err
    assert "broken.wav" in err and "1 of 4 file(s) could not be read" in err
    stems = ["top", "a/deep/x", "b/x"]  # two x's: their folders are kept
    for stem in stems:
        for ext in ("txt", "json", "srt", "vtt", "tsv"):
            assert (out / f"{stem}.{ext}").is_file(), f"{stem}.{ext}"
    assert not list(out.rglob("broken*")) and not list(out.rglob(".*tmp"))
    result = json.loads((out / "top.json").read_text())
    assert result["audio_filepath"] == str(folder / "top.wav")
    assert result["duration"] == pytest.approx(0.6)
    assert (out / "top.vtt").read_text().startswith("WEBVTT\n\n")
    assert (out / "top.tsv").read_text().startswith("start\tend\ttext\tconfidence\n")
    conf = result["confidence"]
    assert conf is None or 0.0 <= conf <= 1.0

    (out / "top.txt").write_text("kept")
    assert main(argv) == 2  # the broken one is still reported
    err = capsys.readouterr().err
    assert "skipped 3 file(s) whose outputs exist" in err
    assert (out / "top.txt").read_text() == "kept"

    (out / "b" / "x.srt").unlink()  # an interrupted file: redone
    assert main(argv) == 2
    assert "skipped 2 file(s)" in capsys.readouterr().err
    assert (out / "b" / "x.srt").is_file()

    assert main([*argv, "--overwrite"]) == 2
    assert "skipped" not in capsys.readouterr().err
    assert (out / "top.txt").read_text() != "kept"


def test_unique_stems_are_flat_and_one_format(run_dir, folder, tmp_path, capsys):
    out = tmp_path / "out"
    files = [str(folder / "top.wav"), str(folder / "b" / "x.wav")]
    argv = ["transcribe", *files, "--model", str(run_dir), "--output-dir", str(out)]
    assert main([*argv, "--format", "srt"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["top.srt", "x.srt"]


def test_stdin_audio(run_dir, tmp_path, monkeypatch, capsys):
    buf = io.BytesIO()
    sf.write(buf, speechlike(0.6, seed=0), 16000, format="FLAC")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(buf.getvalue())))
    assert main(["transcribe", "-", "--model", str(run_dir), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["audio_filepath"] == "-"
    assert line["duration"] == pytest.approx(0.6)


def test_stdin_garbage_is_reported(run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"garbage")))
    out = tmp_path / "out"
    argv = ["transcribe", "-", "--model", str(run_dir), "--output-dir", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "asr transcribe: -: " in err and "asr-stdin" not in err


def test_format_needs_output_dir(run_dir, tmp_path, capsys):
    argv = ["transcribe", str(tmp_path), "--model", str(run_dir), "--format", "srt"]
    assert main(argv) == 2
    assert "--format needs --output-dir" in capsys.readouterr().err


@pytest.mark.parametrize("segment", ["pauses", "windows"])
def test_long_files_are_segmented_as_asked(run_dir, tmp_path, monkeypatch, segment):
    from asr.transcribe import Recognizer

    seen = []
    original = Recognizer._long

    def spy(self, blocks, progress, options):
        seen.append(self.segmentation)
        return original(self, blocks, progress, options)

    monkeypatch.setattr(Recognizer, "_long", spy)
    sf.write(tmp_path / "long.wav", speechlike(23.0, seed=4), 16000)
    argv = ["transcribe", str(tmp_path / "long.wav"), "--model", str(run_dir)]
    argv += ["--json"] + (["--segment", segment] if segment == "windows" else [])
    assert main(argv) == 0
    assert seen == [segment]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_after_the_current_file_with_its_outputs_whole(
    run_dir, folder, tmp_path, capsys, monkeypatch, sig
):
    import asr.cli.batch

    out = tmp_path / "out"
    written = []
    original = asr.cli.batch.write_outputs

    def write_then_signal(*args, **kwargs):
        if not written:
            os.kill(os.getpid(), sig)  # arrives while the first file is written
        original(*args, **kwargs)
        written.append(args[1])

    monkeypatch.setattr(asr.cli.batch, "write_outputs", write_then_signal)
    argv = ["transcribe", str(folder), "--model", str(run_dir)]
    argv += ["--output-dir", str(out), "--format", "all"]
    before = signal.getsignal(sig)  # SIG_IGN for SIGINT in a background job
    assert main(argv) == 75
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"asr transcribe: stopped by {signal.Signals(sig).name} after 1 of 3 "
        "file(s); every finished output is complete; run the same command again "
        "to do the rest (finished outputs are kept)"
    )
    assert len(written) == 1
    assert len(list(out.rglob("*.*"))) == 5  # all five formats of that file
    monkeypatch.setattr(asr.cli.batch, "write_outputs", original)
    assert main(argv) == 2  # the rest (and the broken file again)
    assert "skipped 1 file(s) whose outputs exist" in capsys.readouterr().err
    assert signal.getsignal(sig) == before  # the handler is given back


def test_a_full_disk_ends_with_one_line_naming_the_file(
    run_dir, folder, tmp_path, capsys, monkeypatch
):
    from asr import files

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = tmp_path / "out"
    monkeypatch.setattr(files.os, "fsync", full)
    argv = ["transcribe", str(folder / "top.wav"), "--model", str(run_dir)]
    assert main([*argv, "--output-dir", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"asr transcribe: error: {out / 'top.txt'}: cannot write: "
        "No space left on device (nothing written)"
    ]
    assert not list(out.iterdir())
