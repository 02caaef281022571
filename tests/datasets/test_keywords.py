"""prepare_keywords: keyword, _unknown_ and _silence_ rows from tiny sources."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from asr.audio import load_audio
from asr.datasets.keywords import (
    keyword_classes,
    prepare_keywords,
    silence_clip,
    unknown_words,
)
from asr.manifest import Utterance, read_manifest, write_manifest
from tests.conftest import speechlike


def _sources(tmp_path, n_keywords=16):
    """A source manifest: `n_keywords` keyword clips ("one", "two"), three
    non-keyword sentences (2.5 s) and rows that must never be _unknown_."""
    rows = []
    for i in range(n_keywords):
        path = tmp_path / "src" / f"k{i}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, speechlike(0.6, seed=i), 16000)
        rows.append(Utterance(str(path), 0.6, ["One", "two"][i % 2], (("x", i),)))
    for i, text in enumerate(
        ["hello there my friend", "a green tree", "see you soon", "one more time"]
        + ["ready for it", "seven"]
    ):
        path = tmp_path / "src" / f"s{i}.wav"
        sf.write(path, speechlike(2.5, seed=100 + i), 16000)
        rows.append(Utterance(str(path), 2.5, text))
    manifest = tmp_path / "src" / "train.jsonl"
    write_manifest(manifest, rows)
    noise = tmp_path / "noise"
    noise.mkdir()
    rng = np.random.default_rng(0)
    sf.write(noise / "hum.wav", 0.3 * rng.standard_normal(8000), 16000)
    return manifest, noise


def test_three_kinds_of_rows_with_labels_durations_and_shares(tmp_path):
    manifest, noise = _sources(tmp_path)
    out = prepare_keywords(
        tmp_path / "kw",
        ["one", "two"],
        {"train": [manifest]},
        noise_dir=noise,
        unknown_fraction=0.1,
        silence_fraction=0.2,
        synthetic=False,
        seed=3,
    )
    rows = read_manifest(out["train"])
    labels = Counter(r.text for r in rows)
    # 16 keyword rows are 70 % of 16 / 0.7 = 22.9 rows: 2 unknown, 5 silence
    assert labels == {"one": 8, "two": 8, "_unknown_": 2, "_silence_": 5}
    for row in rows:
        extra = dict(row.extra)
        if row.text in ("one", "two"):
            assert extra["source"] == "keyword" and row.duration == 0.6
            assert "x" in extra  # source keys kept
        elif row.text == "_unknown_":
            assert extra["source"] == "unknown_real" and row.duration == 1.0
            # no keyword, no sound-alike ("for"); another digit is fine
            assert extra["transcript"] in (
                "hello there my friend",
                "a green tree",
                "see you soon",
                "seven",
            )
            offset, duration = row.segment
            assert 0 <= offset <= 1.5 and duration == 1.0
            assert len(load_audio(row.audio_filepath, *row.segment)) == 16000
        else:
            assert extra["source"].startswith("silence_")
            wave = load_audio(row.audio_filepath)
            assert len(wave) == 16000 and row.duration == 1.0
            assert np.sqrt(np.mean(wave**2)) < 10 ** (-20 / 20)  # quiet
            if extra["source"] == "silence_zeros":
                assert not wave.any()
    meta = json.loads((tmp_path / "kw" / "metadata.json").read_text())
    assert meta["classes"] == ["one", "two", "_unknown_", "_silence_"]
    assert meta["splits"]["train"]["rows"] == len(rows)
    # the same seed: the same manifest
    again = prepare_keywords(
        tmp_path / "kw2",
        ["one", "two"],
        {"train": [manifest]},
        noise_dir=noise,
        unknown_fraction=0.1,
        silence_fraction=0.2,
        synthetic=False,
        seed=3,
    )
    assert [(r.text, r.segment) for r in read_manifest(again["train"])] == [
        (r.text, r.segment) for r in rows
    ]


def test_synthetic_unknown_words_fill_the_share(tmp_path):
    manifest, _ = _sources(tmp_path, n_keywords=8)
    out = prepare_keywords(
        tmp_path / "kw",
        ["one", "two"],
        {"dev": [manifest]},
        unknown_fraction=0.5,
        silence_fraction=0.1,
        seed=0,
        workers=1,
        progress=False,
    )
    rows = read_manifest(out["dev"])
    sources = Counter(dict(r.extra)["source"] for r in rows)
    # 8 / 0.4 = 20 rows: 10 unknown (5 real, 5 synthetic), 2 silence
    assert sources["unknown_real"] == 5 and sources["unknown_synthetic"] == 5
    assert {k for k in sources if k.startswith("silence")} <= {
        "silence_zeros",
        "silence_floor",
    }
    for row in rows:
        if dict(row.extra)["source"] == "unknown_synthetic":
            word = dict(row.extra)["transcript"]
            assert word not in ("one", "two", "to", "too", "won")
            assert 0.1 < row.duration < 3 and row.text == "_unknown_"
            assert "/unknown/dev/" in row.audio_filepath.replace("\\", "/")


def test_unknown_words_exclude_keywords_and_sound_alikes():
    words = unknown_words(["one", "two", "four"])
    assert len(words) > 300
    assert not {"one", "two", "four", "to", "too", "for", "won"} & set(words)
    assert keyword_classes(["yes"]) == ("yes", "_unknown_", "_silence_")


def test_silence_kinds():
    import random

    rng = random.Random(0)
    noise = np.ones(100, np.float32)  # shorter than the clip: tiled
    clip = silence_clip("noise", rng, 1600, [noise])
    assert clip.shape == (1600,) and clip.dtype == np.float32 and clip.any()
    assert not silence_clip("zeros", rng, 1600).any()
    floor = silence_clip("floor", rng, 1600)
    assert 1e-5 < np.sqrt(np.mean(floor**2)) < 1e-3
    with pytest.raises(ValueError):
        silence_clip("noise", rng, 1600)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"keywords": []},
        {"keywords": ["Yes"]},
        {"keywords": ["go", "go"]},
        {"unknown_fraction": 0.6, "silence_fraction": 0.5},
    ],
)
def test_bad_arguments_raise(tmp_path, kwargs):
    args = {"keywords": ["yes"], **kwargs}
    with pytest.raises(ValueError):
        prepare_keywords(tmp_path, sources={}, **args)


def test_cli_writes_the_splits_and_needs_sources(tmp_path, capsys):
    from asr.cli import main

    manifest, noise = _sources(tmp_path)
    out = tmp_path / "kw"
    args = ["prepare", "keywords", "--out", str(out), "--keywords", "one,two"]
    assert main([*args, "--train", str(manifest), "--test", str(manifest),
                 "--noise-dir", str(noise), "--no-synthetic"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "train: 20 rows (16 keyword, 2 _unknown_, 2 _silence_)" in printed
    assert (out / "test.jsonl").is_file() and not (out / "dev.jsonl").exists()
    assert main(args) == 2
    assert "--train" in capsys.readouterr().err
