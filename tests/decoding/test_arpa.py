"""The ARPA builder (modified Kneser-Ney) and reading an ARPA file's words."""

import importlib.util
import subprocess
import sys

import pytest

from asr.decoding import arpa as arpa_mod
from tests.decoding.conftest import CORPUS

needs_kenlm = pytest.mark.skipif(
    importlib.util.find_spec("kenlm") is None, reason="kenlm is not installed"
)


def test_build_arpa_writes_the_arpa_layout(arpa):
    lines = arpa.read_text().splitlines()
    assert lines[1] == "\\data\\"
    assert lines[2:5] == ["ngram 1=15", "ngram 2=22", "ngram 3=20"]
    assert lines[-1] == "\\end\\"
    unigrams = lines[lines.index("\\1-grams:") + 1 : lines.index("\\2-grams:") - 1]
    words = {line.split("\t")[1]: line.split("\t") for line in unigrams}
    assert {"<s>", "</s>", "<unk>", "cat", "hello"} <= set(words)
    assert float(words["<s>"][0]) == -99.0
    assert all(len(parts) == 3 for parts in words.values())  # prob, word, backoff
    trigrams = lines[lines.index("\\3-grams:") + 1 : -2]
    assert all(len(line.split("\t")) == 2 for line in trigrams)  # no backoff
    assert sorted(arpa_mod.read_arpa_unigrams(arpa)) == sorted(
        {w for s in CORPUS for w in s.split()}
    )


def test_build_arpa_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="order"):
        arpa_mod.build_arpa(CORPUS, tmp_path / "x.arpa", order=1)
    with pytest.raises(ValueError, match="no words"):
        arpa_mod.build_arpa(["", "  ", "?!"], tmp_path / "x.arpa")
    assert not (tmp_path / "x.arpa").exists()


def test_discounts_from_count_of_counts():
    # t1..t4 = 10, 4, 2, 1: Y = 10/18, D1 = 1 - 2Y(4/10), D2 = 2 - 3Y(2/4),
    # D3+ = 3 - 4Y(1/2).
    counts = [1] * 10 + [2] * 4 + [3] * 2 + [7]
    d = arpa_mod._discounts({(str(i),): c for i, c in enumerate(counts)})
    y = 10 / 18
    assert d == pytest.approx((1 - 0.8 * y, 2 - 1.5 * y, 3 - 2 * y))
    # Too few counts for the estimate: lmplz's fallback.
    assert arpa_mod._discounts({("a",): 1, ("b",): 1}) == (0.5, 1.0, 1.5)


def _unigrams(path) -> dict[str, float]:
    lines = path.read_text().splitlines()
    section = lines[lines.index("\\1-grams:") + 1 : lines.index("\\2-grams:") - 1]
    return {line.split("\t")[1]: 10 ** float(line.split("\t")[0]) for line in section}


def test_a_vocabulary_joins_the_unigrams_at_its_weight(tmp_path, arpa):
    vocabulary = {"Zebra": 3.0, "cat": 1.0, "rhino": 0.0, "two words": 5.0}
    path = tmp_path / "mixed.arpa"
    arpa_mod.build_arpa(CORPUS, path, vocabulary=vocabulary, vocabulary_weight=0.2)
    plain, mixed = _unigrams(arpa), _unigrams(path)
    # "zebra" (normalised) is new; no zero-frequency word, no word with a space.
    assert set(mixed) == set(plain) | {"zebra"}
    assert mixed["zebra"] == pytest.approx(0.2 * 3 / 4, rel=1e-6)
    assert mixed["cat"] == pytest.approx(0.8 * plain["cat"] + 0.2 / 4, rel=1e-6)
    assert mixed["the"] == pytest.approx(0.8 * plain["the"], rel=1e-6)
    del mixed["<s>"]
    assert sum(mixed.values()) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="vocabulary_weight"):
        arpa_mod.build_arpa(
            CORPUS, tmp_path / "x.arpa", vocabulary={"a": 1}, vocabulary_weight=1.0
        )
    with pytest.raises(ValueError, match="no usable word"):
        arpa_mod.build_arpa(CORPUS, tmp_path / "x.arpa", vocabulary={"a b": 1.0})
    assert not (tmp_path / "x.arpa").exists()


def test_make_lm_adds_common_english_words(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(CORPUS) + "\n")
    out = tmp_path / "lm.arpa"
    cmd = [sys.executable, "scripts/make_lm.py", "--text", str(text), "--out", str(out)]
    subprocess.run([*cmd, "--vocabulary", "2000"], check=True, capture_output=True)
    words = set(arpa_mod.read_arpa_unigrams(out))
    assert {w for s in CORPUS for w in s.split()} <= words
    assert {"house", "water", "because", "people"} <= words
    assert 1500 < len(words) <= 2000 + len(words & {"hello", "mat", "log"})
    unigrams = _unigrams(out)
    assert unigrams["people"] > unigrams["water"] > 10**-5  # by frequency
    bad = subprocess.run([*cmd, "--vocabulary", "-1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--vocabulary" in bad.stderr


@needs_kenlm
@pytest.mark.parametrize("vocabulary", [None, {"zebra": 2.0, "the": 5.0, "lion": 1.0}])
def test_kenlm_loads_arpa_and_it_is_normalised(tmp_path, vocabulary):
    import kenlm

    arpa = tmp_path / "lm.arpa"
    arpa_mod.build_arpa(
        CORPUS, arpa, order=3, vocabulary=vocabulary, vocabulary_weight=0.3
    )
    model = kenlm.Model(str(arpa))
    assert model.order == 3
    assert model.score("the cat sat on the mat") > model.score("mat the on sat cat the")
    assert model.score("the cat sat") > model.score("the cat zebra")
    vocab = arpa_mod.read_arpa_unigrams(arpa) + ["</s>", "<unk>"]
    for context in [[], ["the"], ["the", "cat"], ["on", "the"], ["zebra", "cat"]]:
        state = kenlm.State()
        model.BeginSentenceWrite(state)
        for word in context:
            out = kenlm.State()
            model.BaseScore(state, word, out)
            state = out
        total = sum(10 ** model.BaseScore(state, w, kenlm.State()) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-5), context
