"""A keyword classifier end to end: a tiny model trained in seconds on
speech-like tones ("one"), loud noise (`_unknown_`) and silence, then
`classify`, `asr transcribe`, `asr evaluate` and `asr stream` with it."""

import json

import numpy as np
import pytest
import soundfile as sf

from asr.cli import main
from asr.manifest import Utterance, write_manifest
from asr.transcribe import load_model
from tests.tiny_models import KEYWORD_CLASSES, keyword_clip, train_keyword_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path, loss = train_keyword_run(tmp_path_factory.mktemp("kw") / "run")
    assert loss < 0.2  # it learnt the task
    return path


def test_silence_wins_on_silence(run):
    rec = load_model(run)
    rng = np.random.default_rng(7)
    quiet = [
        np.zeros(16000, np.float32),
        np.zeros(4000, np.float32),
        (1e-3 * rng.standard_normal(16000)).astype(np.float32),
    ]
    for wave in quiet:
        answer = rec.classify(rec.logits_batch([wave])[0])
        assert answer.word == "_silence_", answer
        assert answer.probability > 0.5
    # and not on the other classes (held-out clips)
    assert rec.transcribe(keyword_clip("one", 999)) == "one"
    assert rec.transcribe(keyword_clip("_unknown_", 998)) == "_unknown_"
    p = rec.probabilities(rec.logits_batch([quiet[0]])[0])
    assert p.shape == (3,) and p.sum() == pytest.approx(1.0)


def test_threshold_rejects_a_keyword(run):
    rec = load_model(run)
    wave = keyword_clip("one", 997)
    assert rec.transcribe(wave) == "one"
    rec.threshold = 1.0  # nothing is that sure
    assert rec.transcribe(wave) == "_unknown_"
    assert rec.classify(rec.logits_batch([wave])[0]).best == "one"
    assert rec.edge_samples == 0  # a classifier hears its clip as trained, no edge


def test_transcribe_prints_word_and_probability(run, tmp_path, capsys):
    sf.write(tmp_path / "one.wav", keyword_clip("one", 990), 16000)
    sf.write(tmp_path / "quiet.wav", np.zeros(16000, np.float32), 16000)
    assert main(["transcribe", "--model", str(run), str(tmp_path / "one.wav")]) == 0
    path, word, prob = capsys.readouterr().out.strip().split("\t")
    assert path.endswith("one.wav") and word == "one" and 0.5 < float(prob) <= 1
    args = ["transcribe", "--model", str(run), "--json", str(tmp_path / "quiet.wav")]
    assert main(args) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["word"] == "_silence_" and len(row["top"]) == 3
    assert sum(t["probability"] for t in row["top"]) == pytest.approx(1, abs=1e-3)
    args = ["transcribe", "--model", str(run), "--threshold", "1"]
    assert main([*args, str(tmp_path / "one.wav")]) == 0
    assert capsys.readouterr().out.split("\t")[1] == "_unknown_"


def test_evaluate_reports_confusion_and_false_accepts(run, tmp_path, capsys):
    rows = []
    for i, label in enumerate(KEYWORD_CLASSES * 3):
        path = tmp_path / f"{i}.wav"
        sf.write(path, keyword_clip(label, 2000 + i), 16000)
        rows.append(Utterance(str(path), 1.0, label))
    # a loud "_silence_" row the model answers _unknown_ or one: an error
    sf.write(tmp_path / "loud.wav", keyword_clip("one", 3000), 16000)
    rows.append(Utterance(str(tmp_path / "loud.wav"), 1.0, "_silence_"))
    write_manifest(tmp_path / "test.jsonl", rows)
    out = tmp_path / "eval"
    args = ["evaluate", "--model", str(run), "--manifest", str(tmp_path / "test.jsonl")]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "confusion matrix" in printed and "false-accept rate" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"] == pytest.approx(9 / 10)
    assert summary["non_keyword_rows"] == 7
    assert summary["false_accept_rate"] == pytest.approx(1 / 7)
    assert summary["confusion"]["classes"] == list(KEYWORD_CLASSES)
    assert summary["per_class"]["one"]["recall"] == 1.0
    assert (out / "confusion.png").is_file()
    assert "confusion matrix" in (out / "errs.txt").read_text()
    recog = json.loads((out / "recogs.jsonl").read_text().splitlines()[0])
    assert {"probability", "top", "best"} <= recog.keys()


def test_stream_spots_a_keyword_between_silences(run, tmp_path, capsys):
    one = keyword_clip("one", 4000)
    quiet = np.zeros(24000, np.float32)
    wave = np.concatenate([quiet, one, quiet, one, quiet])
    sf.write(tmp_path / "stream.wav", wave, 16000)
    args = ["stream", "--model", str(run), "--file", str(tmp_path / "stream.wav")]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[2] for line in lines] == ["one", "one"], lines
    times = [float(line.split()[0]) for line in lines]
    first_end = (len(quiet) + len(one)) / 16000
    assert 1.5 <= times[0] <= first_end + 1.0
    assert times[1] - times[0] == pytest.approx(
        (len(quiet) + len(one)) / 16000, abs=0.6
    )
