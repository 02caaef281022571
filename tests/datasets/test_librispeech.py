"""prepare_librispeech on tiny corpora in the official on-disk layout."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.datasets.librispeech import PARTS, prepare_librispeech

# (speaker, chapter) -> [(utt, seconds, transcript)]
CORPUS = {
    ("84", "121123"): [
        ("0000", 0.5, "GO DO YOU HEAR"),
        ("0001", 0.25, "HE'S BUT IN LESS THAN FIVE"),
    ],
    ("84", "121550"): [("0002", 0.75, "CAFÉ SOCIETY")],
    ("174", "50561"): [("0000", 1.0, "A MAN SAID TO THE UNIVERSE")],
}


def _make_part(root: Path, part: str, corpus=CORPUS) -> Path:
    rng = np.random.default_rng(0)
    for (spk, chap), utts in corpus.items():
        folder = root / "LibriSpeech" / part / spk / chap
        folder.mkdir(parents=True)
        lines = []
        for utt, seconds, text in utts:
            uid = f"{spk}-{chap}-{utt}"
            noise = 0.1 * rng.standard_normal(int(seconds * 16000))
            sf.write(folder / f"{uid}.flac", noise, 16000, format="FLAC")
            lines.append(f"{uid} {text}\n")
        (folder / f"{spk}-{chap}.trans.txt").write_text("".join(lines))
    return root / "LibriSpeech" / part


def _rows(path: Path) -> list[tuple]:
    return [tuple(json.loads(line).values()) for line in path.open()]


EXPECTED = [  # sorted by utterance id
    ("174/50561/174-50561-0000.flac", 1.0, "a man said to the universe"),
    ("84/121123/84-121123-0000.flac", 0.5, "go do you hear"),
    ("84/121123/84-121123-0001.flac", 0.25, "he's but in less than five"),
    ("84/121550/84-121550-0002.flac", 0.75, "cafe society"),
]


def _expected(prefix: str) -> list[tuple]:
    return [(prefix + path, seconds, text) for path, seconds, text in EXPECTED]


def test_prepare_writes_one_manifest_per_part(tmp_path):
    _make_part(tmp_path / "data", "dev-clean")
    _make_part(tmp_path / "data", "test-other", {("7", "8"): [("0000", 0.5, "YES")]})
    out = tmp_path / "out"
    got = prepare_librispeech(tmp_path / "data", out, progress=False)
    assert got == {
        "dev-clean": out / "dev-clean.jsonl",
        "test-other": out / "test-other.jsonl",
    }
    assert _rows(got["dev-clean"]) == _expected("../data/LibriSpeech/dev-clean/")
    assert _rows(got["test-other"]) == [
        ("../data/LibriSpeech/test-other/7/8/7-8-0000.flac", 0.5, "yes")
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "dev-clean.jsonl",
        "test-other.jsonl",
    ]


def test_rerun_changes_nothing(tmp_path):
    _make_part(tmp_path / "data", "dev-clean")
    out = tmp_path / "out"
    got = prepare_librispeech(tmp_path / "data", out, ["dev-clean"], progress=False)
    before = got["dev-clean"].read_bytes()
    prepare_librispeech(tmp_path / "data", out, ["dev-clean"], progress=False)
    assert got["dev-clean"].read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["dev-clean.jsonl"]


def test_root_may_be_the_librispeech_folder(tmp_path):
    _make_part(tmp_path, "dev-clean")
    out = tmp_path / "out"
    got = prepare_librispeech(tmp_path / "LibriSpeech", out, ["dev-clean"])
    assert _rows(got["dev-clean"]) == _expected("../LibriSpeech/dev-clean/")


def test_root_may_hold_the_parts_directly(tmp_path):
    # lhotse's layout: ROOT/dev-clean/..., no LibriSpeech/ level; any folder name.
    _make_part(tmp_path, "dev-clean")
    parts = tmp_path / "corpora" / "libri"
    parts.parent.mkdir()
    (tmp_path / "LibriSpeech").rename(parts)
    out = tmp_path / "out"
    got = prepare_librispeech(parts, out, progress=False)
    assert list(got) == ["dev-clean"]
    assert _rows(got["dev-clean"]) == _expected("../corpora/libri/dev-clean/")


@pytest.mark.parametrize("layout", ["holder", "librispeech", "parts"])
def test_every_layout_gives_the_same_rows(tmp_path, layout):
    _make_part(tmp_path / "c", "dev-clean")
    root = tmp_path / "c"
    if layout == "librispeech":
        root = root / "LibriSpeech"
    elif layout == "parts":
        root = (root / "LibriSpeech").rename(tmp_path / "parts")
    got = prepare_librispeech(root, tmp_path / "out", ["dev-clean"], progress=False)
    rows = [json.loads(line) for line in got["dev-clean"].open()]
    assert [(Path(r["audio_filepath"]).name, r["text"]) for r in rows] == [
        (Path(path).name, text) for path, _, text in EXPECTED
    ]


def test_missing_part_lists_every_folder_looked_for(tmp_path):
    _make_part(tmp_path, "dev-clean")
    with pytest.raises(FileNotFoundError) as e:
        prepare_librispeech(tmp_path, tmp_path / "out", ["test-clean"])
    msg = str(e.value)
    assert str(tmp_path / "LibriSpeech" / "test-clean") in msg
    assert str(tmp_path / "test-clean") in msg


def test_no_parts_lists_both_layouts(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as e:
        prepare_librispeech(tmp_path / "empty", tmp_path / "out")
    msg = str(e.value)
    assert str(tmp_path / "empty" / "LibriSpeech") + "/<part>" in msg
    assert str(tmp_path / "empty") + "/<part>" in msg
    assert "dev-clean" in msg and "train-other-500" in msg


def test_broken_files_are_reported_and_skipped(tmp_path, caplog):
    part = _make_part(tmp_path / "data", "dev-clean")
    (part / "84/121123/84-121123-0001.flac").write_bytes(b"not a flac")
    (part / "84/121550/84-121550-0002.flac").unlink()  # line without audio
    sf.write(part / "174/50561/174-50561-0009.flac", np.zeros(800), 16000)  # no line
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="asr.datasets.librispeech"):
        got = prepare_librispeech(tmp_path / "data", out, ["dev-clean"])
    d = "../data/LibriSpeech/dev-clean/"
    assert _rows(got["dev-clean"]) == [
        (d + "174/50561/174-50561-0000.flac", 1.0, "a man said to the universe"),
        (d + "84/121123/84-121123-0000.flac", 0.5, "go do you hear"),
    ]
    skipped = [json.loads(line) for line in (out / "dev-clean.skipped.jsonl").open()]
    assert [s["audio_filepath"] for s in skipped] == [
        d + "174/50561/174-50561-0009.flac",
        d + "84/121123/84-121123-0001.flac",
        d + "84/121550/84-121550-0002.flac",
    ]
    reasons = [s["reason"] for s in skipped]
    assert reasons[0].startswith("no transcript line for 174-50561-0009")
    assert "unreadable or not audio" in reasons[1]
    assert reasons[2].endswith(
        "84-121550.trans.txt:1: transcript line has no audio file 84-121550-0002.flac"
    )
    assert "skipped 3 file(s)" in caplog.text


def test_fixed_corpus_removes_stale_skip_report(tmp_path):
    part = _make_part(tmp_path / "data", "dev-clean")
    broken = part / "84/121123/84-121123-0001.flac"
    good = broken.read_bytes()
    broken.write_bytes(b"")
    out = tmp_path / "out"
    prepare_librispeech(tmp_path / "data", out, ["dev-clean"])
    assert (out / "dev-clean.skipped.jsonl").is_file()
    broken.write_bytes(good)
    got = prepare_librispeech(tmp_path / "data", out, ["dev-clean"])
    assert not (out / "dev-clean.skipped.jsonl").exists()
    assert len(_rows(got["dev-clean"])) == 4


def test_missing_part_names_folder_and_suggests_download(tmp_path):
    _make_part(tmp_path, "dev-clean")
    missing = tmp_path / "LibriSpeech" / "test-clean"
    with pytest.raises(
        FileNotFoundError, match=re.escape(str(missing)) + ".*--download"
    ):
        prepare_librispeech(tmp_path, tmp_path / "out", ["dev-clean", "test-clean"])
    assert not (tmp_path / "out").exists()  # nothing written before the check


def test_no_parts_at_all_suggests_download(tmp_path):
    with pytest.raises(
        FileNotFoundError, match="no LibriSpeech part folders.*--download"
    ):
        prepare_librispeech(tmp_path, tmp_path / "out")


def test_unknown_part_is_rejected(tmp_path):
    _make_part(tmp_path, "dev-clean")
    with pytest.raises(ValueError, match="unknown LibriSpeech part.*'dev_clean'"):
        prepare_librispeech(tmp_path, tmp_path / "out", ["dev_clean"])


def test_parts_table_lists_the_official_archives():
    assert list(PARTS) == [
        "dev-clean",
        "dev-other",
        "test-clean",
        "test-other",
        "train-clean-100",
        "train-clean-360",
        "train-other-500",
    ]
    for part, (url, md5) in PARTS.items():
        assert url == f"https://www.openslr.org/resources/12/{part}.tar.gz"
        assert re.fullmatch(r"[0-9a-f]{32}", md5)


@pytest.mark.parametrize("parts", ["dev-clean", iter(["dev-clean"])])
def test_parts_may_be_one_name_or_any_iterable(tmp_path, parts):
    _make_part(tmp_path, "dev-clean")
    got = prepare_librispeech(tmp_path, tmp_path / "out", parts, download=False)
    assert list(got) == ["dev-clean"]
