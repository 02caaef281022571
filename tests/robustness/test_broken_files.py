"""A manifest full of broken files: `asr prepare`, `train`, `evaluate` and
`transcribe` complete, use the good and the odd-but-valid files (8- and 24-bit
PCM, stereo 44.1 kHz), and report every broken one with file and reason, in
their output and in a report file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from asr.cli import main
from asr.config import dump_yaml, load_config
from asr.manifest import Utterance, read_manifest, write_manifest
from asr.model import build_model
from asr.training.pipeline import Skipped, make_dataset
from tests.conftest import TINY
from tests.robustness.conftest import BAD, MESSY, USABLE, make_messy_corpus, write_clip

REASON = {name: MESSY[name][2] for name in BAD}  # what train says, in part
# Readable audio that cannot carry its transcript; every other fault is in the
# file itself, whatever the transcript.
TRANSCRIPT_FAULTS = ("one_ms.wav", "oov.wav")
FILE_REASON = {n: r for n, r in REASON.items() if n not in TRANSCRIPT_FAULTS}


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """The messy corpus and a manifest listing every file with the duration
    a header-reading tool would record (1 s where there is none)."""
    root = tmp_path_factory.mktemp("messy")
    clips = make_messy_corpus(root / "audio")
    rows = [
        Utterance(str(root / "audio" / c.name), c.duration, c.text)
        for c in clips.values()
    ]
    write_manifest(root / "all.jsonl", rows)
    return root


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    cfg = load_config(overrides=TINY[:3])
    path = tmp_path_factory.mktemp("model")
    build_model(cfg).save(path / "model.keras")
    (path / "config.yaml").write_text(dump_yaml(cfg))
    return path


def _by_name(rows) -> dict[str, str]:
    return {Path(r["audio_filepath"]).name: r["reason"] for r in rows}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _assert_reasons(reasons: dict[str, str], expected: dict[str, str]) -> None:
    assert sorted(reasons) == sorted(expected)
    for name, fragment in expected.items():
        assert fragment in reasons[name], (name, reasons[name])


def _assert_named_in(output: str, names) -> None:
    lines = output.splitlines()
    for name in names:
        assert any(name in line and "skip" in line for line in lines), name


def test_train_uses_the_usable_files_and_reports_every_broken_one(
    messy, tmp_path, caplog
):
    run, manifest = tmp_path / "run", messy / "all.jsonl"
    argv = ["train", "-c", "configs/ds2_small.yaml", "--train", str(manifest)]
    argv += ["--val", str(manifest), "--epochs", "1", "--out", str(run)]
    for item in TINY:
        argv += ["--set", item]
    with caplog.at_level(logging.WARNING):
        assert main(argv) == 0
    report = _jsonl(run / "skipped.jsonl")
    _assert_reasons(_by_name(report), REASON)
    # Each broken file is logged once, with its reason, however often it is met.
    for name in BAD:
        logged = [r for r in caplog.records if name in r.getMessage()]
        assert len(logged) == 1 and REASON[name] in logged[0].getMessage(), name
    assert (run / "model.keras").is_file()


def test_audio_shorter_than_the_manifest_says_is_reported_not_trained(tmp_path):
    """A stale duration: the 1 ms clip listed as 1 s would pass the manifest
    check and make the CTC loss infinite."""
    write_clip(tmp_path / "one_ms.wav", "one_ms")
    write_clip(tmp_path / "good.wav", "good")
    rows = [
        Utterance(str(tmp_path / "one_ms.wav"), 1.0, "abab"),
        Utterance(str(tmp_path / "good.wav"), 0.8, "abab"),
    ]
    cfg = load_config(overrides=TINY)
    skipped = Skipped()
    batches = list(make_dataset(rows, cfg, training=False, skipped=skipped))
    paths = [p.decode() for _, y in batches for p in y["paths"].numpy()]
    assert paths == [str(tmp_path / "good.wav")]
    assert [r["audio_filepath"] for r in skipped.rows] == [rows[0].audio_filepath]
    assert "too short for its transcript" in skipped.rows[0]["reason"]


def test_evaluate_scores_the_usable_files_and_reports_every_broken_one(
    messy, model_dir, tmp_path, capsys
):
    out = tmp_path / "ev"
    argv = ["evaluate", "--model", str(model_dir), "--manifest"]
    assert main(argv + [str(messy / "all.jsonl"), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    expected = dict(REASON)
    expected["oov.wav"] = "empty after normalisation"
    _assert_reasons(_by_name(summary["skipped"]), expected)
    assert summary["num_skipped"] == len(BAD)
    assert summary["num_utterances"] == len(USABLE)
    scored = sorted(
        Path(r["audio_filepath"]).name for r in _jsonl(out / "recogs.jsonl")
    )
    assert scored == USABLE
    _assert_named_in(capsys.readouterr().err, BAD)


def test_evaluate_with_nothing_readable_exits_2_naming_a_file(
    messy, model_dir, tmp_path, capsys
):
    rows = [
        r
        for r in read_manifest(messy / "all.jsonl")
        if Path(r.audio_filepath).name in FILE_REASON
    ]
    write_manifest(tmp_path / "bad.jsonl", rows)
    argv = [
        "evaluate",
        "--model",
        str(model_dir),
        "--manifest",
        str(tmp_path / "bad.jsonl"),
    ]
    assert main(argv + ["--out", str(tmp_path / "ev")]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no utterance could be scored" in err and "bad.jsonl" in err


def test_transcribe_prints_the_readable_files_and_reports_the_rest(
    messy, model_dir, tmp_path, capsys
):
    files = [str(messy / "audio" / name) for name in MESSY]
    report = tmp_path / "skipped.jsonl"
    argv = ["transcribe", "--model", str(model_dir), "--skipped", str(report)]
    assert main(argv + files) == 2  # some input could not be read
    out, err = capsys.readouterr()
    printed = [Path(line.split("\t")[0]).name for line in out.splitlines()]
    assert printed == [n for n in MESSY if n not in FILE_REASON]
    _assert_reasons(_by_name(_jsonl(report)), FILE_REASON)
    for name in FILE_REASON:
        assert any(name in line for line in err.splitlines()), name
    assert f"{len(FILE_REASON)} of {len(files)} file(s) could not be read" in err


def _speech_commands(root: Path) -> None:
    """The messy WAV clips in the Speech Commands layout: `<word>/<clip>`."""
    for i, (name, (kind, word, _)) in enumerate(MESSY.items()):
        if name.endswith(".wav"):
            folder = "yes" if word in ("ab", "ba", "abab") else word
            write_clip(root / folder / name, kind, seed=i)
    (root / "validation_list.txt").write_text("yes/pcm8.wav\nyes/missing.wav\n")
    (root / "testing_list.txt").write_text("yes/good0.wav\n")


def test_prepare_speech_commands_reports_every_broken_clip(tmp_path, capsys):
    root, out = tmp_path / "sc", tmp_path / "manifests"
    _speech_commands(root)
    argv = ["prepare", "speech-commands", "--root", str(root), "--out", str(out)]
    assert main(argv) == 0
    kept = {
        split: sorted(
            Path(r.audio_filepath).name for r in read_manifest(out / f"{split}.jsonl")
        )
        for split in ("train", "validation", "test")
    }
    assert kept == {
        "train": ["good2.wav", "one_ms.wav", "pcm24.wav", "stereo44k.wav"],
        "validation": ["pcm8.wav"],
        "test": ["good0.wav"],
    }
    reasons = {}
    for split in ("train", "validation"):
        reasons |= _by_name(_jsonl(out / f"{split}.skipped.jsonl"))
    _assert_reasons(
        reasons,
        {
            "zero_length.wav": "empty file",
            "random.wav": "unreadable",
            "missing.wav": "no such file",
            "nan.wav": "NaN",
            "oov.wav": "not a word",
        },
    )
    assert not (out / "test.skipped.jsonl").exists()
    _assert_named_in(capsys.readouterr().err, reasons)
    # The odd-but-valid clips are listed with their true durations.
    rows = {Path(r.audio_filepath).name: r for r in read_manifest(out / "train.jsonl")}
    assert rows["stereo44k.wav"].duration == pytest.approx(0.8, abs=1e-4)
    assert rows["one_ms.wav"].duration == pytest.approx(0.001)


def test_prepare_librispeech_reports_every_broken_file(tmp_path, capsys):
    chapter = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123"
    kinds = {
        "0000": ("good", "GO DO YOU HEAR", None),
        "0001": ("pcm24", "HE'S BUT IN LESS", None),
        "0002": ("stereo44k", "CAFÉ SOCIETY", None),
        "0003": ("truncated_flac", "A MAN SAID", "truncated"),
        "0004": ("text", "TO THE UNIVERSE", "unreadable"),
        "0005": ("missing", "SIR I EXIST", "no audio file"),
        "0006": ("good", "\u4f60\u597d", "empty after normalisation"),
    }
    lines = []
    for utt, (kind, text, _) in kinds.items():
        write_clip(chapter / f"84-121123-{utt}.flac", kind, seed=int(utt))
        lines.append(f"84-121123-{utt} {text}\n")
    (chapter / "84-121123.trans.txt").write_text("".join(lines))
    out = tmp_path / "manifests"
    argv = ["prepare", "librispeech", "--root", str(tmp_path), "--out", str(out)]
    assert main(argv) == 0
    rows = read_manifest(out / "dev-clean.jsonl")
    assert [Path(r.audio_filepath).stem[-4:] for r in rows] == ["0000", "0001", "0002"]
    reasons = _by_name(_jsonl(out / "dev-clean.skipped.jsonl"))
    expected = {f"84-121123-{u}.flac": why for u, (_, _, why) in kinds.items() if why}
    _assert_reasons(reasons, expected)
    _assert_named_in(capsys.readouterr().err, expected)


def test_train_with_no_decodable_file_exits_2_instead_of_waiting(
    messy, tmp_path, capsys
):
    """Every batch of the repeated training data would be filtered out: the
    run would wait for a first batch forever."""
    rows = read_manifest(messy / "all.jsonl")
    broken = [r for r in rows if Path(r.audio_filepath).name in FILE_REASON]
    write_manifest(tmp_path / "broken.jsonl", broken)
    argv = ["train", "-c", "configs/ds2_small.yaml", "--out", str(tmp_path / "run")]
    argv += ["--train", str(tmp_path / "broken.jsonl")]
    argv += ["--val", str(tmp_path / "broken.jsonl")]  # a manifest that exists
    for item in TINY:
        argv += ["--set", item]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"none of the {len(FILE_REASON)} usable utterance(s) could be decoded" in err
