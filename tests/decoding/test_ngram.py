"""`LMDecoder`: beam search with a word n-gram LM, both backends."""

import importlib.util

import numpy as np
import pytest

from asr import text
from asr.decoding import ngram

needs_pyctcdecode = pytest.mark.skipif(
    importlib.util.find_spec("pyctcdecode") is None
    or importlib.util.find_spec("kenlm") is None,
    reason="pyctcdecode and kenlm are not installed (pip install 'asr[lm]')",
)


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
        assert ngram.LMDecoder().decode(THE_CET) == "the cet"  # acoustics alone
    decoder = ngram.LMDecoder(arpa, beam_width=16, backend=backend)
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
    decoder = ngram.LMDecoder(arpa, backend="flashlight")
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
    assert ngram.LMDecoder(arpa).backend == "flashlight"
    assert ngram.LMDecoder(arpa, hotwords=["cat"]).backend == "pyctcdecode"
    assert ngram.LMDecoder().backend == "pyctcdecode"  # no LM: nothing to look up
    with pytest.raises(ValueError, match="hotwords"):
        ngram.LMDecoder(arpa, hotwords=["cat"], backend="flashlight")
    with pytest.raises(ValueError, match="backend must be one of"):
        ngram.LMDecoder(arpa, backend="kenlm")


@needs_pyctcdecode
def test_hotwords_boost_their_spelling(arpa):
    assert ngram.LMDecoder(hotwords=["cat"]).decode(THE_CET) == "the cat"
    boosted = ngram.LMDecoder(arpa, hotwords=["cet"], hotword_weight=10.0)
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
        ngram.LMDecoder()


def test_labels_keep_blank_first():
    assert ngram.LABELS[0] == "" and ngram.LABELS[1] == " " and ngram.LABELS[2] == "'"
    assert ngram.LABELS[3:] == tuple("abcdefghijklmnopqrstuvwxyz")
    assert len(ngram.LABELS) == text.vocab_size()
