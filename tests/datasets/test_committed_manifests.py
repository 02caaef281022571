"""`data_manifests/`: the committed manifests of the shared FSDD corpus."""

from pathlib import Path

import pytest

from asr.manifest import read_manifest
from tests.shared_data import FSDD_MANIFESTS, SHARED_FSDD

DIGITS = set("zero one two three four five six seven eight nine".split())


def _rows(split):
    return read_manifest(FSDD_MANIFESTS / f"{split}.jsonl")


def test_committed_fsdd_splits_are_disjoint_and_hold_the_stated_takes():
    rows = {split: _rows(split) for split in ("train", "validation", "test")}
    assert {s: len(r) for s, r in rows.items()} == {
        "train": 1600,
        "validation": 200,
        "test": 200,
    }
    files = {
        s: {u.text + Path(u.audio_filepath).name for u in r} for s, r in rows.items()
    }
    assert not files["train"] & files["test"]
    assert not files["train"] & files["validation"]
    assert not files["validation"] & files["test"]
    for u in rows["test"]:
        assert u.text in DIGITS
        # held-out takes 0-4 of each speaker and digit (the model card's test set)
        assert int(Path(u.audio_filepath).stem.rsplit("_", 1)[1]) < 5, u
        assert Path(u.audio_filepath).parent.name == u.text


@pytest.mark.skipif(not SHARED_FSDD.is_dir(), reason=f"{SHARED_FSDD} not present")
def test_committed_fsdd_manifests_are_what_prepare_writes(tmp_path):
    from asr.datasets.speech_commands import prepare_speech_commands

    written = prepare_speech_commands(SHARED_FSDD, tmp_path, progress=False)
    for split, path in written.items():
        committed = _rows(split)
        assert read_manifest(path) == committed, split
        assert all(Path(u.audio_filepath).is_file() for u in committed)
