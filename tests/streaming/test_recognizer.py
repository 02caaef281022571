"""`StreamingRecognizer`: chunked logits equal the offline model's, endpoints,
backends (TF, TFLite), state and decoding."""

import keras
import numpy as np
import pytest

from asr import text as text_lib
from asr.config import load_config
from asr.decoding import ctc
from asr.model import build_model
from asr.rnn.convert import fuse_model
from asr.rnn.layer import FusedRNN
from asr.streaming import StreamingError
from asr.streaming.recognizer import StreamingRecognizer
from asr.streaming.state import StreamState
from tests.conftest import speechlike
from tests.tiny_models import CAUSAL, causal_model, lookahead_model, offline


def chunks(wave, size):
    return [wave[i : i + size] for i in range(0, len(wave), size)]


def random_chunks(wave, seed=0):
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(rng.integers(1, 4000, size=len(wave) // 1000 + 2))
    return np.split(wave, cuts[cuts < len(wave)])


def stream_logits(rec, pieces, state=None):
    state = state or rec.initial_state()
    out = [rec.compute_logits(state, p) for p in pieces]
    out.append(rec.compute_logits(state, np.zeros(0, np.float32), flush=True))
    return np.concatenate(out)


@pytest.fixture(scope="module")
def model():
    return causal_model("model.rnn_norm=batch", seed=1)


@pytest.fixture(scope="module")
def wave():
    return speechlike(1.27, seed=5)  # 20320 samples: no chunk size divides it


@pytest.fixture(scope="module")
def reference(model, wave):
    logits = offline(model, wave)
    return logits, ctc.greedy_decode_batch(logits[None])[0]


@pytest.fixture(scope="module")
def rec(model):
    return StreamingRecognizer(model, chunk_ms=100, endpoint_silence_ms=0)


@pytest.mark.parametrize("size", [1, 160, 1280, 1600, 5328, "random", "whole"])
def test_chunked_stream_equals_offline_model(rec, wave, reference, size):
    if size == "random":
        pieces = random_chunks(wave)
    else:
        pieces = chunks(wave, len(wave) if size == "whole" else size)
    logits, text = reference
    streamed = stream_logits(rec, pieces)
    assert streamed.shape == logits.shape
    np.testing.assert_allclose(streamed, logits, atol=1e-4)
    for piece in pieces:
        rec.accept_waveform(piece)
    assert len(text) >= 6  # a text that can disagree
    assert rec.finalize() == text


@pytest.fixture(scope="module")
def tflite_rec(model):
    return StreamingRecognizer(
        model, chunk_ms=100, endpoint_silence_ms=0, backend="tflite"
    )


@pytest.mark.parametrize("size", [1, 1600, "random", "whole"])
def test_tflite_backend_stream_equals_offline_model(tflite_rec, wave, reference, size):
    pieces = (
        random_chunks(wave, 2)
        if size == "random"
        else chunks(wave, len(wave) if size == "whole" else size)
    )
    logits, text = reference
    np.testing.assert_allclose(stream_logits(tflite_rec, pieces), logits, atol=1e-4)
    for piece in pieces:
        tflite_rec.accept_waveform(piece)
    assert tflite_rec.finalize() == text
    assert tflite_rec.trace_count == 0  # the tf.function step never ran


def test_tflite_backend_for_gru_and_unknown_backend():
    model = causal_model("model.rnn_cell=gru", seed=2)
    wave = speechlike(0.9, seed=8)
    rec = StreamingRecognizer(model, chunk_ms=80, backend="tflite")
    np.testing.assert_allclose(
        stream_logits(rec, random_chunks(wave, 3)), offline(model, wave), atol=1e-4
    )
    with pytest.raises(StreamingError, match="backend"):
        StreamingRecognizer(model, backend="onnx")


def test_step_is_traced_once_over_many_chunks(rec, wave):
    for size in (1, 37, 160, 1599, 1601, 7000):
        for piece in chunks(wave, size)[:20]:
            rec.accept_waveform(piece)
        rec.finalize()
    assert rec.trace_count == 1
    assert len(rec.step_times_ms) > 0 and min(rec.step_times_ms) > 0


def test_dropping_state_changes_logits(rec, wave, reference):
    logits = reference[0]
    pieces = chunks(wave, rec.step_samples)
    for part in ("conv", "rnn"):
        state, out = rec.initial_state(), []
        for piece in pieces:
            out.append(rec.compute_logits(state, piece))
            setattr(state, part, getattr(rec.initial_state(), part))
        out.append(rec.compute_logits(state, np.zeros(0), flush=True))
        assert np.abs(np.concatenate(out) - logits).max() > 1e-2, part


def test_step_uses_the_models_own_weights(model, rec, wave):
    dense = model.get_layer("logits")
    old = dense.bias.numpy()
    try:
        dense.bias.assign(old + np.arange(len(old), dtype=np.float32))
        np.testing.assert_allclose(
            stream_logits(rec, chunks(wave, 3000)), offline(model, wave), atol=1e-4
        )
    finally:
        dense.bias.assign(old)
    assert rec.trace_count == 1


def test_stride_four_gru_layer_norm_matches_offline():
    model = causal_model(
        "model.rnn_cell=gru",
        "model.rnn_norm=layer",
        "model.conv_strides=[[2,2],[2,2]]",
        "model.conv_kernels=[[5,11],[3,5]]",
        seed=1,
    )
    wave = speechlike(0.93, seed=6)
    rec = StreamingRecognizer(model, chunk_ms=100)
    assert rec.step_frames == 12  # 10 frames rounded up to the stride
    logits = offline(model, wave)
    for pieces in (chunks(wave, 1000), random_chunks(wave, seed=2)):
        np.testing.assert_allclose(stream_logits(rec, pieces), logits, atol=1e-4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_keras_and_fused_rnn_models_stream_alike(cell):
    keras_model = causal_model(f"model.rnn_cell={cell}", "model.rnn_impl=keras", seed=3)
    model = fuse_model(keras_model)
    wave = speechlike(0.7, seed=7)
    for net, fused_layers in ((keras_model, 0), (model, 2)):
        rec = StreamingRecognizer(net, chunk_ms=60)
        assert (
            sum(isinstance(r.layer, FusedRNN) for r in rec.graph.rnns) == fused_layers
        )
        streamed = stream_logits(rec, random_chunks(wave, seed=3))
        # The tanh RNN with tripled kernels amplifies float32 rounding (the
        # chunked and whole-sequence matmuls sum in other orders): 2-3e-4 seen.
        atol = 5e-4 if cell == "simple_rnn" else 1e-4
        np.testing.assert_allclose(streamed, offline(net, wave), atol=atol)


def test_lookahead_layer_sees_exactly_its_future(tmp_path):
    plain = causal_model(seed=4)
    fresh = build_model(load_config(overrides=CAUSAL + ["model.lookahead=2"]))
    x = np.arange(24.0, dtype=np.float32).reshape(1, 3, 8)
    assert np.allclose(fresh.get_layer("lookahead")(x), x)  # starts as the identity
    model = lookahead_model(context=3)
    for layer in plain.layers:  # same network apart from the look-ahead
        if layer.get_weights():
            model.get_layer(layer.name).set_weights(layer.get_weights())
    wave = speechlike(0.8, seed=9)
    changed = wave.copy()
    changed[8000:] = speechlike(0.3, seed=10)  # new audio from output frame 25 on
    a, b = offline(model, wave), offline(model, changed)
    first = int(np.argmax(np.abs(a - b).max(axis=1) > 1e-6))
    plain_a, plain_b = offline(plain, wave), offline(plain, changed)
    plain_first = int(np.argmax(np.abs(plain_a - plain_b).max(axis=1) > 1e-6))
    assert first == plain_first - 3  # three frames earlier: it sees 3 ahead
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(offline(loaded, wave), a, atol=1e-5)


@pytest.mark.parametrize("backend", ["tf", "tflite"])
def test_lookahead_model_stream_equals_offline(backend):
    model = lookahead_model(context=3)
    wave = speechlike(1.05, seed=11)
    logits = offline(model, wave)
    text = ctc.greedy_decode_batch(logits[None])[0]
    for chunk_ms in (20, 100):  # one output frame per step (< look-ahead), five
        rec = StreamingRecognizer(model, chunk_ms=chunk_ms, backend=backend)
        assert rec.lookahead == 3 and rec.state.delay == 3
        for pieces in (chunks(wave, 1), chunks(wave, 1600), random_chunks(wave, 4)):
            if backend == "tflite" and len(pieces) > 2000:
                continue  # one sample at a time: covered by the TF step
            streamed = stream_logits(rec, pieces)
            assert streamed.shape == logits.shape
            np.testing.assert_allclose(streamed, logits, atol=1e-4)
        for piece in chunks(wave, 3000):
            rec.accept_waveform(piece)
        assert len(text) >= 6 and rec.finalize() == text
        rec.accept_waveform(wave[:600])  # 3 output frames: all come from flushing
        assert (
            rec.finalize()
            == ctc.greedy_decode_batch(offline(model, wave[:600])[None])[0]
        )


def test_short_streams_and_reuse(rec, wave, reference):
    assert rec.accept_waveform(wave[:1]) == ""
    assert rec.finalize() == ""  # fewer samples than one window: no frames
    rec.accept_waveform(wave[:399])
    assert rec.finalize() == ""
    rec.accept_waveform(wave[:400])
    first = rec.finalize()
    assert first == ctc.greedy_decode_batch(offline(rec.network, wave[:400])[None])[0]
    rec.accept_waveform(wave)
    assert rec.finalize() == reference[1]


def test_bidirectional_or_non_causal_models_are_refused():
    bi = build_model(load_config(overrides=CAUSAL[:3] + ["model.causal=true"]))
    with pytest.raises(StreamingError, match="bidirectional"):
        StreamingRecognizer(bi)
    centred = build_model(
        load_config(overrides=CAUSAL[:3] + ["model.bidirectional=false"])
    )
    with pytest.raises(StreamingError, match="causal"):
        StreamingRecognizer(centred)


# -- endpointing ----------------------------------------------------------------------
A, B, SPACE = (text_lib.VOCAB.index(c) for c in "ab ")


def one_hot(ids):
    logits = np.full((len(ids), text_lib.vocab_size()), -5.0, np.float32)
    logits[np.arange(len(ids)), ids] = 5.0
    return logits


def test_endpoint_after_trailing_blanks_from_hand_logits(rec):
    rec.endpoint_frames = 3
    try:
        state = rec.initial_state()
        # _ a a _ a b _ _ | _ _ _ _ b (space) _ | _: two utterances, 20 ms frames
        rec.decode_logits(state, one_hot([0, A, A, 0, A, B, 0, 0]))
        assert state.utterance == "aab" and state.finals == []
        rec.decode_logits(state, one_hot([0, 0, 0, 0, B, SPACE, 0]))
        assert state.finals == [{"text": "aab", "start": 0.02, "end": 0.12}]
        assert state.utterance == "b "
        rec.decode_logits(state, one_hot([0]))
        assert state.finals[1:] == [{"text": "b", "start": 0.24, "end": 0.26}]
        assert state.text == "aabb "  # the whole stream, as offline greedy decoding
    finally:
        rec.endpoint_frames = 0


@pytest.mark.parametrize("seed", range(4))
def test_pauses_break_words_as_offline_in_any_chunking(seed):
    # random peaky paths with pauses of 0-12 frames (blank or with a space)
    # between letters, decoded by the stream in random pieces with endpoints,
    # give the offline greedy text of `ctc.mark_pauses`' logits, and the
    # stream's text is its finals joined (pause <= endpoint)
    rng = np.random.default_rng(seed)
    path = [0] * int(rng.integers(0, 10))
    for _ in range(30):
        path += [int(rng.choice([A, B]))] * int(rng.integers(1, 3))
        gap = [0] * int(rng.integers(0, 13))
        if gap and rng.random() < 0.2:
            gap[int(rng.integers(len(gap)))] = SPACE
        path += gap
    logits = one_hot(path)
    state = StreamState(audio=np.zeros(0, np.float32), conv=[], rnn=[])
    cuts = np.cumsum(rng.integers(1, 9, size=len(path)))
    for piece in np.split(logits, cuts[cuts < len(path)]):
        state.decode(piece, 8, 0.02, pause_frames=6)
    state.close_utterance(0.02)
    offline = ctc.greedy_decode_batch(ctc.mark_pauses(logits, 6)[None])[0]
    assert text_lib.tidy(state.text) == offline
    assert " ".join(f["text"] for f in state.finals) == offline
    assert offline != ctc.greedy_decode_batch(logits[None])[0]  # pauses mattered


def fake_step(rec):
    """Logits from loudness: each step's 5 frames are 'a' if its new samples are
    loud, else blank; the model state passes through unchanged."""
    n = rec.step_frames // rec.time_stride

    def step(audio, valid_frames, *state):
        loud = np.sqrt(np.mean(np.asarray(audio)[0, : rec.step_samples] ** 2)) > 0.01
        logits = one_hot([A if loud else 0] * n)[None]
        names = [s.name for s in rec.state_specs]
        return {"logits": logits, **dict(zip(names, state, strict=True))}

    return step


def test_endpointing_emits_utterances_with_times(model):
    rec = StreamingRecognizer(model, chunk_ms=100, endpoint_silence_ms=500)
    rec.step = fake_step(rec)
    tone = 0.1 * np.sin(np.arange(16000) * 0.3).astype(np.float32)
    silence = np.zeros(16000, np.float32)
    partials = []
    for piece in chunks(np.concatenate([tone[:4800], silence]), 700):
        partials.append(rec.accept_waveform(piece))
    assert "a" in partials and partials[-1] == ""
    assert rec.pop_finals() == [{"text": "a", "start": 0.0, "end": 0.3}]
    assert rec.pop_finals() == []
    rec.accept_waveform(np.concatenate([tone[:3200], silence[:3000]]))
    assert rec.finalize() == "a a"  # a second apart: two words, as its finals
    assert rec.pop_finals() == [{"text": "a", "start": 1.3, "end": 1.5}]
    rec.accept_waveform(tone[:1600])  # the next stream starts at time 0
    rec.finalize()
    assert rec.pop_finals() == [{"text": "a", "start": 0.0, "end": 0.08}]
