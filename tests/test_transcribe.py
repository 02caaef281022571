"""`Recognizer` / `load_model`: batching, long files in windows, XLA loops."""

import keras
import numpy as np
import pytest
import soundfile as sf

from asr.config import load_config
from asr.model import build_model
from asr.transcribe import Recognizer, load_model
from tests.conftest import speechlike
from tests.tiny_models import save_tiny_run

TINY = ["model.rnn_units=8", "model.rnn_layers=1", "model.conv_filters=[2,2]"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    # Seeded: stitching is exact only where the LSTMs' memory is shorter than
    # the window context; some random initialisations remember longer.
    return save_tiny_run(tmp_path_factory.mktemp("run"), seed=2)


def test_load_model_from_run_dir_and_transcribe_files_and_arrays(run_dir, tmp_path):
    rec = load_model(run_dir)
    wave = speechlike(1.3, seed=1)
    sf.write(tmp_path / "a.flac", wave, 16000)
    sf.write(tmp_path / "b.wav", speechlike(0.7, seed=2), 16000)
    texts = rec.transcribe_batch([str(tmp_path / "a.flac"), str(tmp_path / "b.wav")])
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    assert rec.transcribe(wave) == texts[0]
    seg = rec.transcribe_segments([str(tmp_path / "a.flac")])[0]
    assert seg.duration == pytest.approx(1.3)


def test_long_input_in_windows_equals_one_pass(run_dir):
    rec = load_model(run_dir)
    rec.window_seconds, rec.context_seconds = 3.0, 2.0
    wave = speechlike(11.37, seed=3)
    whole = rec.logits_batch([wave])[0]
    stitched, total = rec.logits_long(iter(np.array_split(wave, 7)))
    assert total == len(wave)
    assert stitched.shape == whole.shape
    np.testing.assert_allclose(stitched, whole, atol=1e-4)


def test_batch_results_do_not_depend_on_batch_companions(run_dir):
    rec = load_model(run_dir, precision="float32")  # bfloat16: tests/test_precision.py
    waves = [speechlike(s, seed=i) for i, s in enumerate([0.4, 2.2, 1.1])]
    together = rec.logits_batch(waves)
    for wave, logits in zip(waves, together):
        np.testing.assert_allclose(rec.logits_batch([wave])[0], logits, atol=1e-5)


@pytest.mark.parametrize("rnn_impl", ["keras", "fused"])
def test_single_utterances_run_xla_loops_with_the_same_logits(rnn_impl):
    from asr.rnn.layer import FusedRNN

    keras.utils.set_random_seed(4)
    cfg = load_config(overrides=[*TINY, f"model.rnn_impl={rnn_impl}"])
    network = build_model(cfg)
    wave = speechlike(1.7, seed=5)
    xla = Recognizer(network, cfg, xla_loops=True)
    xla.xla_min_seconds = 1.5
    graph = Recognizer(network, cfg, xla_loops=False)
    np.testing.assert_allclose(
        xla.logits_batch([wave])[0], graph.logits_batch([wave])[0], atol=1e-5
    )
    rnns = [layer for layer in xla.xla_network.layers if isinstance(layer, FusedRNN)]
    assert rnns and all(layer.jit_compile for layer in rnns)
    calls = []
    xla._predict_one = lambda *a: calls.append(1) or graph._predict(*a)
    xla.logits_batch([wave[:8000]])  # shorter than xla_min_seconds: the graph
    assert not calls
    assert graph._single_predict() is graph._predict


def test_recognizer_is_exported_in_the_package():
    import asr

    assert asr.Recognizer is Recognizer


def test_long_array_for_a_classifier_is_one_input_not_windows(monkeypatch):
    """A keyword classifier answers once for its whole input, however long."""
    classes = ["yes", "no"]
    cfg = load_config(
        overrides=[*TINY, "model.head=classifier", "model.classes=[yes,no]"]
    )
    rec = Recognizer(build_model(cfg), cfg)

    def no_windows(*args, **kwargs):
        raise AssertionError("a classifier's input went the long-input path")

    monkeypatch.setattr(rec, "logits_long", no_windows)
    long = speechlike(rec.window_seconds + rec.context_seconds + 1, seed=3)
    text = rec.transcribe(long)
    assert text in classes
    assert text == rec.cfg.model.classes[int(np.argmax(rec.logits_batch([long])[0]))]


def test_a_pause_breaks_a_word_for_every_decoder_and_the_word_times():
    from asr import text
    from asr.decoding import alignment
    from tests.test_tidy_text import one_hot_logits
    from tests.tiny_models import CAUSAL, causal_model

    rec = Recognizer(causal_model(), load_config(overrides=CAUSAL))
    pause = round(rec.pause_seconds / rec.frame_seconds)
    a, b = text.encode("ab")
    logits = one_hot_logits([a, a, *[0] * pause, b, 0])
    assert rec.decode(logits) == "a b"
    assert rec.decode(logits, decoder="beam", beam_width=4) == "a b"
    seg = rec._segment(logits, 16000, {})
    assert [w["word"] for w in seg.words] == ["a", "b"]
    assert alignment.word_timestamps(logits, None, rec.frame_seconds)[0]["word"] == "ab"
    short = one_hot_logits([a, *[0] * (pause - 1), b])
    assert rec.decode(short) == "ab"  # a shorter gap is not a pause
    rec.pause_seconds = 0
    assert rec.decode(logits) == "ab"


def test_utterances_are_heard_with_a_quiet_edge_and_keep_their_word_times(
    run_dir, monkeypatch
):
    rec = load_model(run_dir, precision="float32")
    assert rec.edge_seconds == 0  # off by default
    rec.edge_seconds = 0.25
    wave = speechlike(0.9, seed=5)
    heard = []
    real = rec.logits_batch
    monkeypatch.setattr(rec, "logits_batch", lambda ws: heard.extend(ws) or real(ws))
    seg = rec.transcribe_segments([wave])[0]
    edge = round(rec.edge_seconds * 16000)
    assert edge == rec.edge_samples == 4000
    (x,) = heard
    assert len(x) == len(wave) + 2 * edge
    np.testing.assert_array_equal(x[edge:-edge], wave)
    assert not x[:edge].any() and not x[-edge:].any()
    assert seg.duration == pytest.approx(0.9)
    assert all(0 <= w["start"] <= w["end"] <= 0.9 for w in seg.words)
    rec.edge_seconds = 0  # turns the edge off
    np.testing.assert_array_equal(rec.utterance_logits([wave])[0], real([wave])[0])


def test_edge_word_times_move_back_by_the_edge_within_the_clip():
    from asr.decoding.alignment import shift_words

    words = [
        {"word": "a", "start": 0.1, "end": 0.4},
        {"word": "b", "start": 0.5, "end": 1.6},
    ]
    moved = shift_words(words, -0.25, duration=1.2)
    assert [(w["start"], w["end"]) for w in moved] == [(0.0, 0.15), (0.25, 1.2)]
    assert shift_words(words, 1.0)[1]["end"] == 2.6  # no duration: no clamp
