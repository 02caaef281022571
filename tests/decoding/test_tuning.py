"""Choosing the n-gram LM's weight and word bonus (`asr lm tune-ngram`)."""

import importlib.util
import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from asr.decoding import ngram, tuning
from asr.manifest import Utterance
from tests.decoding.test_ngram import THE_CET

needs_lm = pytest.mark.skipif(
    importlib.util.find_spec("kenlm") is None
    or (
        importlib.util.find_spec("flashlight") is None
        and importlib.util.find_spec("pyctcdecode") is None
    ),
    reason="no LM decoder installed (pip install 'asr[lm]')",
)


class ScriptedRecognizer:
    """Gives every clip the logits of "the c(e|a)t", whose vowel the acoustics
    alone hear as "e"."""

    name = "scripted"

    def utterance_logits(self, waves):
        return [THE_CET for _ in waves]

    def mark_pauses(self, logits):
        return logits


def _rows(tmp_path, texts):
    rows = []
    for i, text in enumerate(texts):
        path = tmp_path / f"u{i}.wav"
        sf.write(path, np.zeros(1600, np.float32), 16000)
        rows.append(Utterance(str(path), 0.1, text))
    return rows


@needs_lm
def test_the_grid_is_scored_and_its_best_point_is_the_lowest_wer(tmp_path, arpa):
    rows = _rows(tmp_path, ["the cat", "the cat", ""])
    rows.append(Utterance(str(tmp_path / "gone.wav"), 1.0, "the cat"))
    result = tuning.tune_ngram(
        ScriptedRecognizer(), rows, arpa, lm_weights=[0.0, 2.0], word_bonuses=[0, 1]
    )
    assert [(r["lm_weight"], r["word_bonus"]) for r in result["table"]] == [
        (0.0, 0),
        (0.0, 1),
        (2.0, 0),
        (2.0, 1),
    ]
    assert result["utterances"] == 2 and len(result["skipped"]) == 2
    assert result["wer"] == min(r["wer"] for r in result["table"]) == 0.0
    # the LM's weight of 2 makes the acoustically likelier "cet" the LM's "cat"
    assert all(r["wer"] == 0.0 for r in result["table"] if r["lm_weight"] == 2.0)
    assert result["default"]["lm_weight"] == ngram.DEFAULT_WEIGHTS[result["backend"]][0]

    png = tmp_path / "grid.png"
    tuning.plot_grid(result, png)
    assert png.read_bytes()[:4] == b"\x89PNG"


@needs_lm
def test_saved_weights_are_what_a_decoder_for_that_lm_uses(tmp_path, arpa, caplog):
    backend = ngram.LMDecoder(arpa).backend
    result = {
        "lm": str(arpa),
        "lm_weight": 2.5,
        "word_bonus": -0.5,
        "backend": backend,
        "wer": 0.1,
        "model": "m",
    }
    path = tuning.save_weights(result, "dev.jsonl")
    assert path == str(arpa.with_suffix(".weights.json"))
    decoder = ngram.LMDecoder(arpa)
    assert (decoder.alpha, decoder.beta) == (2.5, -0.5)
    given = ngram.LMDecoder(arpa, alpha=0.7, beta=0.2)
    assert (given.alpha, given.beta) == (0.7, 0.2)  # given weights win

    other = {**json.loads(open(path).read()), "backend": "other"}
    open(path, "w").write(json.dumps(other))
    assert ngram.LMDecoder(arpa).alpha == ngram.DEFAULT_WEIGHTS[backend][0]
    open(path, "w").write("{not json")
    with caplog.at_level(logging.WARNING):
        assert ngram.LMDecoder(arpa).alpha == ngram.DEFAULT_WEIGHTS[backend][0]
    assert "ignored" in caplog.text


def test_an_empty_grid_or_unscorable_manifest_is_refused(tmp_path):
    from asr.manifest import ManifestError

    with pytest.raises(ValueError, match="no LM weights"):
        tuning.tune_ngram(ScriptedRecognizer(), [], "lm.arpa", lm_weights=[])
    with pytest.raises(ManifestError, match="no utterance could be scored"):
        tuning.tune_ngram(ScriptedRecognizer(), _rows(tmp_path, [""]), "lm.arpa")


def _asr(*args):
    return subprocess.run(
        [sys.executable, "-m", "asr", *args], capture_output=True, text=True
    )


def test_cli_names_a_missing_lm_and_a_bad_grid(tmp_path):
    manifest = tmp_path / "dev.jsonl"
    manifest.write_text("")
    missing = _asr(
        "lm", "tune-ngram", "--model", "synth-en", "--manifest", str(manifest),
        "--lm", str(tmp_path / "nope.arpa"), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert missing.returncode == 2 and "nope.arpa" in missing.stderr
    negative = _asr(
        "lm", "tune-ngram", "--model", "synth-en", "--manifest", str(manifest),
        "--lm", "x", "--out", "y", "--lm-weights=-1,2",
    )  # fmt: skip
    assert negative.returncode == 2 and "weights >= 0" in negative.stderr
    (tmp_path / "lm.arpa").write_text("")
    (tmp_path / "taken").write_text("")
    taken = _asr(
        "lm", "tune-ngram", "--model", "synth-en", "--manifest", str(manifest),
        "--lm", str(tmp_path / "lm.arpa"), "--out", str(tmp_path / "taken"),
    )  # fmt: skip
    assert taken.returncode == 2 and "is a file" in taken.stderr


@needs_lm
def test_tune_then_evaluate_with_the_saved_and_the_given_weights(tmp_path, capsys):
    from asr.cli import main
    from asr.decoding.arpa import build_arpa
    from tests.conftest import tiny_corpus
    from tests.tiny_models import save_tiny_run

    (tmp_path / "run").mkdir()
    run = str(save_tiny_run(tmp_path / "run", seed=1))
    manifest = str(tiny_corpus(tmp_path, n=4))
    lm = tmp_path / "lm.arpa"
    build_arpa(["ab ba", "ba ab", "ab"], lm, order=2)
    out = tmp_path / "tune"
    tune = ["lm", "tune-ngram", "--model", run, "--manifest", manifest, "--lm", str(lm)]
    grid = ["--lm-weights", "0.5,1.5", "--word-bonuses=-1,2"]
    assert main([*tune, *grid, "--out", str(out), "--save"]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "summary.json").read_text())
    assert len(result["table"]) == 4 and result["utterances"] == 4
    assert (out / "grid.png").is_file() and f"saved: {tmp_path}" in printed
    best = (result["lm_weight"], result["word_bonus"])

    evaluate = ["evaluate", "--model", run, "--manifest", manifest, "--lm", str(lm)]
    assert main([*evaluate, "--out", str(tmp_path / "e1")]) == 0
    summary = json.loads((tmp_path / "e1" / "summary.json").read_text())
    assert (summary["lm_weight"], summary["word_bonus"]) == best
    assert summary["wer"] == pytest.approx(result["wer"])
    given = ["--lm-weight", "3", "--word-bonus", "0.25", "--out", str(tmp_path / "e2")]
    assert main([*evaluate, *given]) == 0
    summary = json.loads((tmp_path / "e2" / "summary.json").read_text())
    assert (summary["lm_weight"], summary["word_bonus"]) == (3.0, 0.25)
