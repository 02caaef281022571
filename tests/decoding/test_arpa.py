"""The ARPA builder (modified Kneser-Ney) and reading an ARPA file's words."""

import importlib.util

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


@needs_kenlm
def test_kenlm_loads_arpa_and_it_is_normalised(arpa):
    import kenlm

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
