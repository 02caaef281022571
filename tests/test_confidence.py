"""Confidence AUC (`asr.metrics.confidence_auc`) and `asr evaluate`'s
confidence outputs."""

import json

import pytest
import soundfile as sf

from asr.cli import main
from asr.config import dump_yaml, load_config
from asr.manifest import Utterance, write_manifest
from asr.metrics import align_words, confidence_auc, hyp_word_correct, write_results
from asr.model import build_model
from tests.conftest import speechlike


def test_auc_perfect_reversed_and_ties():
    assert confidence_auc([0.9, 0.8, 0.3, 0.1], [True, True, False, False]) == 1.0
    assert confidence_auc([0.1, 0.2, 0.8, 0.9], [True, True, False, False]) == 0.0
    assert confidence_auc([0.5] * 6, [True, False] * 3) == 0.5
    # One tie between a right and a wrong word counts half: (3 + 0.5) / 4.
    assert confidence_auc([0.9, 0.5, 0.5, 0.1], [True, True, False, False]) == 0.875
    assert confidence_auc([0.9, 0.1], [True, True]) is None
    with pytest.raises(ValueError):
        confidence_auc([0.5], [True, False])


def test_correct_words_follow_the_wer_alignment():
    (pairs,) = align_words(["the cat sat"], ["the bat sat down"])
    assert hyp_word_correct(pairs) == [True, False, True, False]


def test_write_results_auc_uses_word_confidences(tmp_path):
    results = [
        {
            "audio_filepath": "a.wav",
            "ref": "the cat sat",
            "hyp": "the bat sat down",
            "duration": 1.0,
            "word_confidences": [0.9, 0.2, 0.8, 0.1],
        },
        {  # words differ in number: left out of the AUC
            "audio_filepath": "b.wav",
            "ref": "a",
            "hyp": "b",
            "duration": 1.0,
            "word_confidences": None,
        },
    ]
    summary = write_results(tmp_path, results)
    assert summary["confidence_auc"] == 1.0
    line = json.loads((tmp_path / "recogs.jsonl").read_text().splitlines()[0])
    assert line["word_confidences"] == [0.9, 0.2, 0.8, 0.1]
    plain = {k: v for k, v in results[0].items() if k != "word_confidences"}
    assert "confidence_auc" not in write_results(tmp_path, [plain])


def test_evaluate_writes_confidences(tmp_path, capsys):
    cfg = load_config(
        overrides=[
            "model.rnn_units=8",
            "model.rnn_layers=1",
            "model.conv_filters=[2,2]",
        ]
    )
    run = tmp_path / "run"
    run.mkdir()
    build_model(cfg).save(run / "model.keras")
    (run / "config.yaml").write_text(dump_yaml(cfg))
    rows = []
    for i in range(2):
        path = tmp_path / f"{i}.flac"
        sf.write(path, speechlike(0.8, seed=i), 16000)
        rows.append(Utterance(str(path), 0.8, "hello world"))
    write_manifest(tmp_path / "m.jsonl", rows)
    out = tmp_path / "out"
    argv = ["evaluate", "--model", str(run), "--manifest", str(tmp_path / "m.jsonl")]
    assert main([*argv, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert "confidence_auc" in summary
    for line in (out / "recogs.jsonl").read_text().splitlines():
        rec = json.loads(line)
        words = rec["hyp"].split()
        assert len(rec["word_confidences"]) == len(words)
        assert all(0.0 <= c <= 1.0 for c in rec["word_confidences"])
        assert rec["confidence"] is None if not words else 0 <= rec["confidence"] <= 1
