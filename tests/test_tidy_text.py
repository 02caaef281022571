"""Every decoded text is tidy: no space at either end, one between words,
whichever decoder made it (`asr.text.tidy`)."""

import numpy as np
import pytest

from asr import text
from asr.decoding import ctc

# ids: blank 0, space 1, a 3, b 4. Greedy path: " a  b " before tidying.
PATH = [1, 0, 3, 1, 0, 1, 4, 1]
VOCAB_SIZE = len(text.VOCAB)


def one_hot_logits(path, vocab=VOCAB_SIZE):
    """(frames, vocab) logits whose argmax is `path`, confidently."""
    logits = np.full((len(path), vocab), -10.0, np.float32)
    logits[np.arange(len(path)), path] = 10.0
    return logits


def test_tidy_strips_and_collapses_spaces():
    assert text.tidy("  paul   wanted ") == "paul wanted"
    assert text.tidy(" ") == "" and text.tidy("ab") == "ab"


def test_greedy_and_beam_texts_have_no_stray_spaces():
    logits = one_hot_logits(PATH)
    assert text.decode(ctc.greedy_decode(logits)) == " a  b "  # the raw path
    assert ctc.greedy_decode_batch(logits[None]) == ["a b"]
    assert ctc.beam_search(logits, beam_width=4)[0][0] == " a  b "  # a prefix
    assert ctc.beam_search_batch(np.stack([logits, logits])) == ["a b", "a b"]


def test_recognizer_texts_have_no_stray_spaces():
    from asr.config import load_config
    from asr.transcribe import Recognizer
    from tests.tiny_models import CAUSAL, causal_model

    rec = Recognizer(causal_model(), load_config(overrides=CAUSAL))
    logits = one_hot_logits(PATH)
    assert rec.decode(logits) == "a b"
    assert rec.decode(logits, decoder="beam", beam_width=4) == "a b"


def test_lm_decoder_text_has_no_stray_spaces():
    pytest.importorskip("pyctcdecode")
    from asr.decoding.ngram import LMDecoder

    decoder = LMDecoder(hotwords=["a"], backend="pyctcdecode")
    assert decoder.decode(one_hot_logits(PATH)) == "a b"


def test_streaming_partials_and_final_have_no_stray_spaces():
    from asr.config import load_config
    from asr.streaming.recognizer import StreamingRecognizer
    from asr.transcribe import Recognizer
    from tests.tiny_models import CAUSAL, causal_model

    rec = StreamingRecognizer(
        Recognizer(causal_model(), load_config(overrides=CAUSAL)), backend="tf"
    )
    frames = iter([one_hot_logits(PATH[:3]), one_hot_logits(PATH[3:]), []])
    rec.compute_logits = lambda state, samples, flush=False: np.asarray(
        next(frames), np.float32
    ).reshape(-1, len(text.VOCAB))
    assert rec.accept_waveform(np.zeros(1600, np.float32)) == "a"
    assert rec.accept_waveform(np.zeros(1600, np.float32)) == "a b"
    assert rec.finalize() == "a b"
    assert [f["text"] for f in rec.pop_finals()] == ["a b"]
