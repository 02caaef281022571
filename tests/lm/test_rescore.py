"""N-best lists from the beam searches, and rescoring them with the LSTM LM."""

import importlib.util
import json

import numpy as np
import pytest
import soundfile as sf

from asr import text
from asr.cli import main
from asr.decoding import ngram
from asr.decoding.arpa import build_arpa
from asr.lm.rescore import Rescorer, merge_nbest, pick, tune_weight
from asr.manifest import Utterance, write_manifest
from asr.transcribe import load_model
from tests.conftest import speechlike
from tests.tiny_models import save_tiny_run


class TableLM:
    """A stand-in LM whose sentence log-probabilities come from a dict."""

    def __init__(self, scores):
        self.scores = scores

    def sentence_log_probs(self, texts):
        return np.array([self.scores[t] for t in texts])


def test_rescoring_picks_the_hypothesis_the_lm_prefers():
    nbest = [("the cat sad on a mat", -4.0), ("the cat sat on a mat", -4.5)]
    lm = TableLM({"the cat sad on a mat": -20.0, "the cat sat on a mat": -8.0})
    assert Rescorer(lm, weight=0.0).best(nbest) == "the cat sad on a mat"
    assert Rescorer(lm, weight=0.1).best(nbest) == "the cat sat on a mat"
    assert pick(nbest, [-20.0, -8.0], 0.04) == 0  # 0.5 acoustic > 0.04 * 12
    assert Rescorer(lm).best_batch([nbest, [], nbest[:1]]) == [
        "the cat sat on a mat",
        "",
        "the cat sad on a mat",
    ]
    assert merge_nbest([("a", -3.0), ("b", -1.0), ("a", -2.0)], 5) == [
        ("b", -1.0),
        ("a", -2.0),
    ]


def test_tuning_finds_the_weight_with_the_lowest_wer():
    nbests = [
        [("the cat sad", -1.0), ("the cat sat", -1.5)],
        [("a dog ran", -1.0), ("a dog rand", -1.2)],
    ]
    lm = TableLM(
        {
            "the cat sad": -9.0,
            "the cat sat": -5.0,
            "a dog ran": -4.0,
            "a dog rand": -20.0,
        }
    )
    refs = ["the cat sat", "a dog ran"]
    result = tune_weight(Rescorer(lm), nbests, refs, weights=[0.0, 0.05, 0.5, 5.0])
    assert result.weight == 0.5 and result.wer == 0.0
    assert [round(r["wer"], 3) for r in result.table] == [0.167, 0.167, 0.0, 0.0]


def test_the_trained_lm_rescores_a_constructed_nbest_list(lm_dir):
    from asr.lm.model import LanguageModel

    rescorer = Rescorer(LanguageModel.load(lm_dir), weight=1.0)
    # The acoustically best text breaks the grammar; the LM prefers the second.
    nbest = [("the cat sat a on mat", -3.0), ("the cat sat on a mat", -3.5)]
    assert rescorer.best(nbest) == "the cat sat on a mat"
    rescorer.weight = 0.0
    assert rescorer.best(nbest) == "the cat sat a on mat"


def _matrix(frames):
    x = np.full((len(frames), text.vocab_size()), 1e-4)
    for t, probs in enumerate(frames):
        for sym, p in probs.items():
            x[t, 0 if sym == "_" else text.encode(sym)[0]] = p
    x /= x.sum(axis=1, keepdims=True)
    return np.log(x)


THE_CET = _matrix(
    [
        f
        for probs in [{"t": 0.99}, {"h": 0.99}, {"e": 0.99}, {" ": 0.99}, {"c": 0.99}]
        + [{"e": 0.52, "a": 0.46}, {"t": 0.99}]
        for f in (probs, {"_": 0.99})
    ]
)


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(
            b,
            marks=pytest.mark.skipif(
                importlib.util.find_spec(m) is None
                or not importlib.util.find_spec("kenlm"),
                reason=f"needs {m} and kenlm (asr[lm])",
            ),
        )
        for b, m in (("pyctcdecode", "pyctcdecode"), ("flashlight", "flashlight"))
    ],
)
def test_lm_beam_search_gives_an_nbest_list(tmp_path, backend):
    build_arpa(["the cat sat", "the cat", "a cat"], tmp_path / "lm.arpa", order=2)
    decoder = ngram.LMDecoder(tmp_path / "lm.arpa", beam_width=16, backend=backend)
    nbest = decoder.decode_nbest(THE_CET, n=4)
    assert nbest[0][0] == decoder.decode(THE_CET) == "the cat"
    assert 1 <= len(nbest) <= 4 and len({t for t, _ in nbest}) == len(nbest)
    scores = [s for _, s in nbest]
    assert scores == sorted(scores, reverse=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return save_tiny_run(tmp_path_factory.mktemp("run"), seed=1)


def test_plain_beam_search_gives_an_nbest_list(run):
    recognizer = load_model(run)
    logits = np.random.default_rng(0).normal(0, 3, (40, text.vocab_size()))
    nbest = recognizer.nbest(logits, n=5)
    assert nbest[0][0] == recognizer.decode(logits, decoder="beam")
    assert 1 < len(nbest) == len({t for t, _ in nbest}) <= 5
    assert [s for _, s in nbest] == sorted((s for _, s in nbest), reverse=True)


def test_cli_rescoring(tmp_path, run, lm_dir, capsys):
    rows = []
    for i in range(2):
        path = tmp_path / f"{i}.flac"
        sf.write(path, speechlike(0.8, seed=i), 16000)
        rows.append(Utterance(str(path), 0.8, "the cat sat"))
    write_manifest(tmp_path / "dev.jsonl", rows)
    args = ["--model", str(run), "--manifest", str(tmp_path / "dev.jsonl")]
    rescore = ["--rescore", str(lm_dir), "--rescore-weight", "0.3", "--nbest", "4"]
    assert main(["evaluate", *args, *rescore, "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["rescore_weight"] == 0.3 and summary["nbest"] == 4
    assert summary["decoder"] == "beam"
    assert (
        main(["transcribe", "--model", str(run), *rescore, rows[0].audio_filepath]) == 0
    )
    weights = ["--weights", "0,0.5", "--out", str(tmp_path / "tune.json")]
    assert main(["lm", "tune-weight", *args, "--rescore", str(lm_dir), *weights]) == 0
    tuned = json.loads((tmp_path / "tune.json").read_text())
    assert [r["weight"] for r in tuned["table"]] == [0.0, 0.5]
    assert tuned["oracle_wer"] <= min(r["wer"] for r in tuned["table"])
    assert "best weight" in capsys.readouterr().out
    assert main(["evaluate", *args, "--rescore", str(tmp_path), "--out", "x"]) == 2
