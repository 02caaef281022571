import importlib.util

import numpy as np
import pytest

from asr import lm, text

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "the cat ate",
    "hello world",
]

needs_kenlm = pytest.mark.skipif(
    importlib.util.find_spec("kenlm") is None, reason="kenlm is not installed"
)
needs_pyctcdecode = pytest.mark.skipif(
    importlib.util.find_spec("pyctcdecode") is None
    or importlib.util.find_spec("kenlm") is None,
    reason="pyctcdecode and kenlm are not installed (pip install 'asr[lm]')",
)


@pytest.fixture
def arpa(tmp_path):
    path = tmp_path / "lm.arpa"
    lm.build_arpa(CORPUS, path, order=3)
    return path


def _matrix(frames: list[dict[str, float]]) -> np.ndarray:
    """Log-probs from per-frame {symbol: prob} ("_" is blank); the rest share 1e-4."""
    x = np.full((len(frames), text.vocab_size()), 1e-4)
    for t, probs in enumerate(frames):
        for sym, p in probs.items():
            x[t, 0 if sym == "_" else text.encode(sym)[0]] = p
    x /= x.sum(axis=1, keepdims=True)
    return np.log(x)


def _spell(word_probs: list[dict[str, float]]) -> list[dict[str, float]]:
    """Each letter frame followed by a blank frame."""
    frames = []
    for probs in word_probs:
        frames += [probs, {"_": 0.99}]
    return frames


# "the cat" where the vowel of cat is acoustically "e" by a small margin.
THE_CET = _matrix(
    _spell(
        [{"t": 0.99}, {"h": 0.99}, {"e": 0.99}, {" ": 0.99}, {"c": 0.99}]
        + [{"e": 0.52, "a": 0.46}, {"t": 0.99}]
    )
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
    assert sorted(lm.read_arpa_unigrams(arpa)) == sorted(
        {w for s in CORPUS for w in s.split()}
    )


def test_build_arpa_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="order"):
        lm.build_arpa(CORPUS, tmp_path / "x.arpa", order=1)
    with pytest.raises(ValueError, match="no words"):
        lm.build_arpa(["", "  ", "?!"], tmp_path / "x.arpa")
    assert not (tmp_path / "x.arpa").exists()


def test_discounts_from_count_of_counts():
    # t1..t4 = 10, 4, 2, 1: Y = 10/18, D1 = 1 - 2Y(4/10), D2 = 2 - 3Y(2/4),
    # D3+ = 3 - 4Y(1/2).
    counts = [1] * 10 + [2] * 4 + [3] * 2 + [7]
    d = lm._discounts({(str(i),): c for i, c in enumerate(counts)})
    y = 10 / 18
    assert d == pytest.approx((1 - 0.8 * y, 2 - 1.5 * y, 3 - 2 * y))
    # Too few counts for the estimate: lmplz's fallback.
    assert lm._discounts({("a",): 1, ("b",): 1}) == (0.5, 1.0, 1.5)


@needs_kenlm
def test_kenlm_loads_arpa_and_it_is_normalised(arpa):
    import kenlm

    model = kenlm.Model(str(arpa))
    assert model.order == 3
    assert model.score("the cat sat on the mat") > model.score("mat the on sat cat the")
    assert model.score("the cat sat") > model.score("the cat zebra")
    vocab = lm.read_arpa_unigrams(arpa) + ["</s>", "<unk>"]
    for context in [[], ["the"], ["the", "cat"], ["on", "the"], ["zebra", "cat"]]:
        state = kenlm.State()
        model.BeginSentenceWrite(state)
        for word in context:
            out = kenlm.State()
            model.BaseScore(state, word, out)
            state = out
        total = sum(10 ** model.BaseScore(state, w, kenlm.State()) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-5), context


needs_flashlight = pytest.mark.skipif(
    importlib.util.find_spec("flashlight") is None,
    reason="flashlight-text is not installed (pip install 'asr[lm]')",
)
BACKENDS = [
    pytest.param("pyctcdecode", marks=needs_pyctcdecode),
    pytest.param("flashlight", marks=needs_flashlight),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_lm_decoder_prefers_a_word_in_the_lm(arpa, backend):
    if backend == "pyctcdecode":
        assert lm.LMDecoder().decode(THE_CET) == "the cet"  # acoustics alone
    decoder = lm.LMDecoder(arpa, beam_width=16, backend=backend)
    assert decoder.backend == backend
    assert decoder.decode(THE_CET) == "the cat"
    # Logits (unnormalised) give the same answer as log-probabilities.
    assert decoder.decode(THE_CET + 3.0) == "the cat"
    padded = np.concatenate([THE_CET, _matrix([{"x": 0.99}] * 3)])
    assert decoder.decode_batch([padded, THE_CET], [len(THE_CET), None]) == [
        "the cat",
        "the cat",
    ]


@needs_flashlight
def test_flashlight_spells_only_lm_words_and_ends_the_last_word(arpa):
    decoder = lm.LMDecoder(arpa, backend="flashlight")
    # "the dog": every word in the LM, the last one complete without a space.
    the_dog = _matrix(_spell([{c: 0.99} for c in "the dog"]))
    assert decoder.decode(the_dog) == "the dog"
    # "the dug": acoustics alone say "dug", which the lexicon cannot spell.
    the_dug = _matrix(_spell([{c: 0.99} for c in "the d"] + [{"u": 0.9}, {"g": 0.99}]))
    assert "dug" not in decoder.decode(the_dug).split()
    assert decoder.decode(np.zeros((0, text.vocab_size()))) == ""


@needs_flashlight
@needs_pyctcdecode
def test_auto_backend_takes_flashlight_unless_hotwords(arpa):
    assert lm.LMDecoder(arpa).backend == "flashlight"
    assert lm.LMDecoder(arpa, hotwords=["cat"]).backend == "pyctcdecode"
    assert lm.LMDecoder().backend == "pyctcdecode"  # no LM: nothing to look up
    with pytest.raises(ValueError, match="hotwords"):
        lm.LMDecoder(arpa, hotwords=["cat"], backend="flashlight")
    with pytest.raises(ValueError, match="backend must be one of"):
        lm.LMDecoder(arpa, backend="kenlm")


@needs_pyctcdecode
def test_hotwords_boost_their_spelling(arpa):
    assert lm.LMDecoder(hotwords=["cat"]).decode(THE_CET) == "the cat"
    boosted = lm.LMDecoder(arpa, hotwords=["cet"], hotword_weight=10.0)
    assert boosted.decode(THE_CET) == "the cet"


def test_lm_decoder_without_pyctcdecode_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "pyctcdecode":
            raise ImportError("No module named 'pyctcdecode'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install 'asr\[lm\]'"):
        lm.LMDecoder()


def test_labels_keep_blank_first():
    assert lm.LABELS[0] == "" and lm.LABELS[1] == " " and lm.LABELS[2] == "'"
    assert lm.LABELS[3:] == tuple("abcdefghijklmnopqrstuvwxyz")
    assert len(lm.LABELS) == text.vocab_size()
