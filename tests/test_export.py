import json
import warnings

import numpy as np
import pytest
import tensorflow as tf

from asr.config import load_config
from asr.decoding import ctc
from asr.export import SAVEDMODEL_INFO, export_savedmodel, export_tflite
from asr.transcribe import Recognizer
from tests.conftest import speechlike
from tests.tiny_models import CAUSAL, causal_model, lookahead_model, offline

# Exported logits vs the Keras model's: TFLite's kernels (XNNPACK) and its DFT
# as a matrix product round differently from TF's; the test model's logits
# reach +-20, so allow 1e-5 relative on top of 1e-4 absolute.
TOL = {"atol": 1e-4, "rtol": 1e-5}


@pytest.fixture(scope="module")
def recognizer():
    extra = "model.rnn_norm=batch"
    return Recognizer(causal_model(extra), load_config(overrides=CAUSAL + [extra]))


@pytest.fixture(scope="module")
def waves():
    return [speechlike(s, seed=i) for i, s in enumerate((0.43, 1.1, 0.8))]


@pytest.fixture(scope="module")
def reference(recognizer, waves):
    return [offline(recognizer.network, w) for w in waves]


def greedy(logits):
    return ctc.greedy_decode_batch(logits[None])[0]


def interpreter(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        return tf.lite.Interpreter(model_path=str(path))


def run_stream_step(step, info, wave):
    """Host side of the exported streaming step: overlapping windows, zero state,
    zero padding after the end (marked by valid_frames), the look-ahead's lag
    dropped, then keep the offline model's frame count."""
    s = info["streaming"]
    state = {x["name"]: np.zeros(x["shape"], np.float32) for x in s["state"]}
    frames = 1 + (len(wave) - info["win_length"]) // info["hop_length"]
    total = -(-frames // s["time_stride"])
    per_step, lag = s["output_frames_per_step"], s["lookahead_frames"]
    steps = -(-(total + lag) // per_step)
    audio = np.zeros(steps * s["step_samples"] + s["overlap_samples"], np.float32)
    audio[: len(wave)] = wave
    out = []
    for k in range(steps):
        window = audio[k * s["step_samples"] :][: s["window_samples"]]
        valid = np.int32(np.clip(total - k * per_step, 0, per_step))
        result = step(audio=window[None], valid_frames=valid, **state)
        out.append(np.asarray(result.pop("logits"))[0])
        state = {name: np.asarray(value) for name, value in result.items()}
    return np.concatenate(out)[lag : lag + total]


def test_savedmodel_matches_keras(recognizer, waves, reference, tmp_path):
    out = export_savedmodel(recognizer, tmp_path / "saved")
    info = json.loads((out / SAVEDMODEL_INFO).read_text())
    loaded = tf.saved_model.load(str(out))
    serve = loaded.signatures["serving_default"]
    width = max(len(w) for w in waves)
    batch = np.stack([np.pad(w, (0, width - len(w))) for w in waves])
    result = serve(
        audio=tf.constant(batch),
        audio_lengths=tf.constant([len(w) for w in waves], tf.int32),
    )
    logits, lengths = result["logits"].numpy(), result["logit_lengths"].numpy()
    for i, ref in enumerate(reference):
        assert lengths[i] == len(ref)
        np.testing.assert_allclose(logits[i, : lengths[i]], ref, **TOL)
        assert greedy(logits[i, : lengths[i]]) == greedy(ref)
    step = loaded.signatures["stream_step"]
    streamed = run_stream_step(step, info, waves[1])
    np.testing.assert_allclose(streamed, reference[1], **TOL)


def test_tflite_offline_matches_keras(recognizer, waves, reference, tmp_path):
    out = export_tflite(recognizer, tmp_path / "model.tflite")
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["flex_ops"] == [] and "CONV_2D" in info["builtin_ops"]
    run = interpreter(out).get_signature_runner()
    for wave, ref in zip(waves, reference, strict=True):
        result = run(audio=wave[None], audio_lengths=np.array([len(wave)], np.int32))
        assert result["logit_lengths"][0] == len(ref)
        np.testing.assert_allclose(result["logits"][0], ref, **TOL)
        assert greedy(result["logits"][0]) == greedy(ref)


def test_tflite_streaming_step_matches_keras(recognizer, waves, reference, tmp_path):
    out = export_tflite(recognizer, tmp_path / "stream.tflite", streaming=True)
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["flex_ops"] == []
    assert [s["name"] for s in info["streaming"]["state"]] == [
        "conv0_cache",
        "conv1_cache",
        "rnn0_h",
        "rnn0_c",
        "rnn1_h",
        "rnn1_c",
    ]
    step = interpreter(out).get_signature_runner()
    for wave, ref in zip(waves, reference, strict=True):
        streamed = run_stream_step(step, info, wave)
        np.testing.assert_allclose(streamed, ref, **TOL)
        assert greedy(streamed) == greedy(ref)


def test_lookahead_streaming_step_exports(tmp_path):
    model = lookahead_model(context=3)
    recognizer = Recognizer(
        model, load_config(overrides=CAUSAL + ["model.lookahead=3"])
    )
    wave = speechlike(0.9, seed=12)
    ref = offline(model, wave)
    out = export_tflite(recognizer, tmp_path / "stream.tflite", streaming=True)
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["streaming"]["lookahead_frames"] == 3
    assert info["streaming"]["state"][-1] == {
        "name": "lookahead_cache",
        "shape": [1, 3, 8],
    }
    streamed = run_stream_step(interpreter(out).get_signature_runner(), info, wave)
    np.testing.assert_allclose(streamed, ref, **TOL)
    saved = export_savedmodel(recognizer, tmp_path / "saved")
    step = tf.saved_model.load(str(saved)).signatures["stream_step"]
    np.testing.assert_allclose(run_stream_step(step, info, wave), ref, **TOL)


def test_int8_streaming_step_is_smaller_and_close(
    recognizer, waves, reference, tmp_path
):
    plain = export_tflite(recognizer, tmp_path / "f.tflite", streaming=True)
    out = export_tflite(recognizer, tmp_path / "q.tflite", streaming=True, int8=True)
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["weights"] == "int8 (dynamic range)" and info["flex_ops"] == []
    int8_weights = [
        d["name"]
        for d in interpreter(out).get_tensor_details()
        if d["dtype"] == np.int8 and d["name"].startswith("conv")
    ]
    assert int8_weights  # conv kernels of > 1024 values are quantised
    assert out.stat().st_size < plain.stat().st_size
    streamed = run_stream_step(interpreter(out).get_signature_runner(), info, waves[1])
    ref = reference[1]
    # int8 weights: close to the float logits (which span about +-20), not equal
    error = np.abs(streamed - ref).max()
    assert 1e-6 < error < 0.05 * np.abs(ref).max()
