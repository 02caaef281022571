"""CTC decoders without an LM: greedy, prefix beam search, word timestamps."""

from pathlib import Path

import numpy as np
import pytest

from asr import text
from asr.decoding import alignment, ctc
from asr.decoding.ctc import greedy_spikes
from tests.conftest import brute_force_ctc

A, B, SPACE = text.encode("a")[0], text.encode("b")[0], text.encode(" ")[0]
V = text.vocab_size()


def _peaky(symbols: list[int], vocab: int = V, high: float = 8.0) -> np.ndarray:
    """Logits whose argmax per frame is `symbols[t]` (margin `high`)."""
    x = np.zeros((len(symbols), vocab), np.float32)
    x[np.arange(len(symbols)), symbols] = high
    return x


def test_greedy_decode_collapses_repeats_and_drops_blanks():
    x = _peaky([A, A, 0, A, B, 0])
    assert ctc.greedy_decode(x) == [A, A, B]
    assert text.decode(ctc.greedy_decode(x)) == "aab"
    assert ctc.greedy_decode(x, length=3) == [A]
    assert ctc.greedy_decode(x, length=0) == []


def test_greedy_decode_batch_uses_true_lengths():
    x1 = _peaky([A, A, 0, A, B, 0])
    x2 = _peaky([B, SPACE, A, B, B, B])  # last 3 frames are padding
    batch = np.stack([x1, x2])
    assert ctc.greedy_decode_batch(batch, np.array([6, 3])) == ["aab", "b a"]
    assert ctc.greedy_decode_batch(batch) == ["aab", "b ab"]
    # Log-probabilities give the same answer as logits.
    assert ctc.greedy_decode_batch(ctc.log_softmax(batch), [6, 3]) == ["aab", "b a"]


@pytest.mark.parametrize("seed", range(6))
def test_beam_search_matchesbrute_force_ctc(seed):
    rng = np.random.default_rng(seed)
    frames, vocab = (4, 3) if seed % 2 else (5, 4)
    logits = rng.normal(scale=1.5, size=(frames, vocab))
    truth = brute_force_ctc(ctc.log_softmax(logits))
    best = max(truth, key=truth.get)
    # Wide enough to hold every prefix, no pruning: exact prefix probabilities.
    results = ctc.beam_search(
        logits, beam_width=512, prune_threshold=-np.inf, top_k=vocab, beam_prune=np.inf
    )
    assert results[0][0] == text.decode(best)
    assert results[0][1] == pytest.approx(truth[best], abs=1e-9)
    want = {text.decode(k): v for k, v in truth.items()}
    assert len(results) == len(want)
    for hyp, score in results:
        assert score == pytest.approx(want[hyp], abs=1e-9)
    # Default settings still find the best sequence on these tiny cases.
    assert ctc.beam_search(logits)[0][0] == text.decode(best)


def test_beam_search_prefers_summed_paths_over_best_path():
    # Best path is "_ _" (empty), but "a" has more total mass over its paths.
    p = np.array([[0.4, 0.35, 0.25], [0.4, 0.35, 0.25]])
    truth = brute_force_ctc(np.log(p))
    assert truth[()] == pytest.approx(np.log(0.16))
    assert truth[(1,)] > truth[()]
    assert ctc.greedy_decode(np.log(p)) == []
    assert ctc.beam_search(np.log(p))[0][0] == text.decode([1])


def test_beam_search_returns_greedy_answer_on_peaky_input():
    symbols = [0, A, A, 0, A, B, SPACE, B, 0, 0, A, A, 0]
    x = _peaky(symbols)
    want = text.decode(ctc.greedy_decode(x))
    assert want == "aab ba"
    results = ctc.beam_search(x, beam_width=8)
    assert results[0][0] == want
    assert results[0][1] > results[1][1]
    assert ctc.beam_search(ctc.log_softmax(x))[0] == pytest.approx(results[0])
    assert ctc.beam_search(x, length=3)[0][0] == "a"
    assert ctc.beam_search_batch(np.stack([x, x]), [13, 6]) == ["aab ba", "aab"]


def test_word_timestamps_from_greedy_alignment():
    # frame:   0  1  2  3  4      5  6  7  8  9  10 11
    symbols = [0, A, 0, A, B, SPACE, 0, B, 0, B, A, 0]
    x = _peaky(symbols)
    words = alignment.word_timestamps(x, length=10, frame_seconds=0.02)
    assert words == [
        {"word": "aab", "start": 0.02, "end": 0.1},
        {"word": "bb", "start": 0.14, "end": 0.2},
    ]
    words = alignment.word_timestamps(x, length=None, frame_seconds=0.04)
    assert [w["word"] for w in words] == ["aab", "bba"]
    assert words[1] == {"word": "bba", "start": 0.28, "end": 0.44}
    assert alignment.word_timestamps(_peaky([0, SPACE, 0]), None, 0.02) == []


def test_greedy_spikes_and_the_frame_offset_between_two_models():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "spike_offset.py"
    spec = importlib.util.spec_from_file_location("spike_offset", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    a, b = text.encode("a")[0], text.encode("b")[0]
    path_ids = [0, a, a, 0, b, b, 0, a, 0, 0, 0, 0]
    logits = np.eye(text.vocab_size())[path_ids] * 5
    assert greedy_spikes(logits) == ([a, b, a], [1, 4, 7])
    assert greedy_spikes(logits, length=5) == ([a, b], [1, 4])
    later = np.concatenate([np.eye(text.vocab_size())[[0] * 3] * 5, logits[:-3]])
    other = np.eye(text.vocab_size())[[0, b, 0, 0]] * 5  # other labels: no pairs
    assert script.spike_offsets([logits, logits], [later, other]) == [3, 3, 3]


def test_a_long_pause_between_letters_becomes_a_word_break():
    x = _peaky([A, *[0] * 5, B, 0, B, *[0] * 4, A])
    marked = ctc.mark_pauses(x, min_frames=5)
    assert text.decode(ctc.greedy_decode(marked)) == "a bba"  # 4 blanks: no break
    # only the pause's last frame changes: its blank and space scores swapped
    changed = np.flatnonzero((marked != x).any(axis=1))
    assert changed.tolist() == [5]
    assert marked[5, SPACE] == x[5, 0] and marked[5, 0] == x[5, SPACE]
    # the beam search sees the break too
    assert ctc.beam_search(marked, beam_width=4)[0][0] == "a bba"
    # marking marked logits changes nothing (Recognizer.decode relies on it)
    assert ctc.mark_pauses(marked, min_frames=5) is marked


def test_mark_pauses_leaves_pauses_with_a_space_edges_and_short_gaps():
    x = _peaky([0, 0, 0, 0, 0, 0, A, 0, 0, SPACE, 0, 0, 0, B, 0, 0, 0, 0, 0, 0])
    assert ctc.mark_pauses(x, min_frames=3) is x  # the space is already there
    assert ctc.mark_pauses(x, min_frames=0) is x  # off
    y = _peaky([A, 0, 0, 0, B, *[0] * 8])
    assert ctc.mark_pauses(y, min_frames=4) is y  # 3 < 4; trailing blanks kept
    # frames after `length` are padding: no letter there ends a pause
    z = _peaky([A, 0, 0, 0, 0, B])
    assert ctc.mark_pauses(z, min_frames=4, length=5) is z
    assert text.decode(ctc.greedy_decode(ctc.mark_pauses(z, 4))) == "a b"


def test_mark_pauses_breaks_even_where_blank_and_space_tie():
    x = _peaky([A, 0, 0, 0, B])
    x[3, SPACE] = x[3, 0]
    assert text.decode(ctc.greedy_decode(ctc.mark_pauses(x, 3))) == "a b"


def test_pause_frames_from_seconds():
    assert ctc.pause_frames(0.02) == round(ctc.PAUSE_SECONDS / 0.02)
    assert ctc.pause_frames(0.02, 0.5) == 25
    assert ctc.pause_frames(0.02, 0.01) == 2  # never a single frame
    assert ctc.pause_frames(0.02, 0) == 0


def test_shifted_words_keep_everything_but_their_times():
    from asr.decoding.alignment import shift_words

    words = [{"word": "hi", "start": 0.04, "end": 0.3, "confidence": 0.9}]
    assert shift_words(words, 20.0016) == [
        {"word": "hi", "start": 20.042, "end": 20.302, "confidence": 0.9}
    ]
    assert words[0]["start"] == 0.04  # the input is not changed
