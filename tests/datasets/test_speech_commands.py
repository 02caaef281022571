"""prepare_speech_commands on a tiny corpus in the official v2 on-disk layout."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.datasets.speech_commands import (
    MD5,
    URL,
    background_noise_files,
    prepare_speech_commands,
)

# word -> [(file name, seconds)]; clips are not all 1 s long.
CLIPS = {
    "yes": [("0a7c2a8d_nohash_0.wav", 1.0), ("0a7c2a8d_nohash_1.wav", 0.5)],
    "left": [("1b4c9b89_nohash_0.wav", 0.75), ("c1d39ce8_nohash_0.wav", 1.0)],
    "backward": [("0165e0e8_nohash_0.wav", 0.625)],
    "learn": [("02ade946_nohash_0.wav", 1.0)],
}
VALIDATION = ["left/1b4c9b89_nohash_0.wav", "learn/02ade946_nohash_0.wav"]
TESTING = ["yes/0a7c2a8d_nohash_1.wav"]


def _make_corpus(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for word, clips in CLIPS.items():
        (root / word).mkdir(parents=True)
        for name, seconds in clips:
            noise = 0.1 * rng.standard_normal(int(seconds * 16000))
            sf.write(root / word / name, noise, 16000, subtype="PCM_16")
    (root / "_background_noise_").mkdir()
    for name in ("white_noise.wav", "doing_the_dishes.wav"):
        sf.write(root / "_background_noise_" / name, np.zeros(32000), 16000)
    (root / "_background_noise_" / "README.md").write_text("noise\n")
    (root / "validation_list.txt").write_text("\n".join(VALIDATION) + "\n")
    (root / "testing_list.txt").write_text("\n".join(TESTING) + "\n")
    (root / "LICENSE").write_text("CC BY 4.0\n")
    return root


def _rows(path: Path) -> list[tuple]:
    return [tuple(json.loads(line).values()) for line in path.open()]


def test_prepare_writes_the_three_splits(tmp_path):
    root, out = _make_corpus(tmp_path / "sc"), tmp_path / "out"
    got = prepare_speech_commands(root, out, progress=False)
    assert got == {s: out / f"{s}.jsonl" for s in ("train", "validation", "test")}
    assert _rows(got["train"]) == [
        ("../sc/backward/0165e0e8_nohash_0.wav", 0.625, "backward"),
        ("../sc/left/c1d39ce8_nohash_0.wav", 1.0, "left"),
        ("../sc/yes/0a7c2a8d_nohash_0.wav", 1.0, "yes"),
    ]
    assert _rows(got["validation"]) == [
        ("../sc/learn/02ade946_nohash_0.wav", 1.0, "learn"),
        ("../sc/left/1b4c9b89_nohash_0.wav", 0.75, "left"),
    ]
    assert _rows(got["test"]) == [("../sc/yes/0a7c2a8d_nohash_1.wav", 0.5, "yes")]
    assert sorted(p.name for p in out.iterdir()) == [
        "test.jsonl",
        "train.jsonl",
        "validation.jsonl",
    ]


def test_rerun_changes_nothing(tmp_path):
    root, out = _make_corpus(tmp_path / "sc"), tmp_path / "out"
    got = prepare_speech_commands(root, out, progress=False)
    before = {split: path.read_bytes() for split, path in got.items()}
    again = prepare_speech_commands(root, out, progress=False)
    assert {split: path.read_bytes() for split, path in again.items()} == before
    assert len(list(out.iterdir())) == 3


def test_background_noise_is_not_speech(tmp_path):
    root = _make_corpus(tmp_path / "sc")
    got = prepare_speech_commands(root, tmp_path / "out")
    texts = {row[2] for path in got.values() for row in _rows(path)}
    assert texts == {"yes", "left", "backward", "learn"}
    assert background_noise_files(root) == [
        root / "_background_noise_" / "doing_the_dishes.wav",
        root / "_background_noise_" / "white_noise.wav",
    ]


def test_broken_and_missing_clips_are_reported_and_skipped(tmp_path, caplog):
    root, out = _make_corpus(tmp_path / "sc"), tmp_path / "out"
    (root / "left" / "c1d39ce8_nohash_0.wav").write_bytes(b"RIFF....garbage")
    (root / "learn" / "02ade946_nohash_0.wav").unlink()  # listed in validation
    with caplog.at_level(logging.WARNING, logger="asr.datasets.speech_commands"):
        got = prepare_speech_commands(root, out)
    assert len(_rows(got["train"])) == 2
    assert _rows(got["validation"]) == [
        ("../sc/left/1b4c9b89_nohash_0.wav", 0.75, "left")
    ]
    train_skips = [json.loads(x) for x in (out / "train.skipped.jsonl").open()]
    assert [s["audio_filepath"] for s in train_skips] == [
        "../sc/left/c1d39ce8_nohash_0.wav"
    ]
    assert "unreadable or not audio" in train_skips[0]["reason"]
    val_skips = [json.loads(x) for x in (out / "validation.skipped.jsonl").open()]
    where = root.resolve() / "validation_list.txt"
    assert val_skips == [
        {
            "audio_filepath": "../sc/learn/02ade946_nohash_0.wav",
            "reason": f"{where}:2: listed, but no such file",
        }
    ]
    assert not (out / "test.skipped.jsonl").exists()
    assert "speech commands train: skipped 1 file(s)" in caplog.text


def test_missing_split_list_suggests_download(tmp_path):
    root = _make_corpus(tmp_path / "sc")
    (root / "testing_list.txt").unlink()
    with pytest.raises(FileNotFoundError, match="testing_list.txt.*--download"):
        prepare_speech_commands(root, tmp_path / "out")


def test_background_noise_files_requires_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="_background_noise_"):
        background_noise_files(tmp_path)


def test_official_tarball_defaults():
    assert URL == "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
    assert MD5 == "6b74f3901214cb2c2934e98196829835"
