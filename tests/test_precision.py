"""The offline network's precision: bfloat16 where the CPU has it, float32 else."""

import keras
import numpy as np
import pytest

from asr import precision
from asr.config import load_config
from asr.model import build_model
from asr.rnn.layer import FusedRNN
from asr.transcribe import Recognizer, load_model
from tests.conftest import TINY, speechlike

INTEL_AMX = "flags\t: fpu sse4_2 avx2 avx512f amx_tile amx_bf16\n"
AMD_ZEN4 = "flags\t: fpu sse4_2 avx2 fma avx512f avx512_bf16 avx512_vnni\n"
AVX2_ONLY = "flags\t: fpu sse4_2 avx avx2 fma f16c\n"


def test_native_bfloat16_is_read_from_the_cpu_flags():
    assert precision.native_bf16(INTEL_AMX)
    assert precision.native_bf16(AMD_ZEN4)
    assert not precision.native_bf16(AVX2_ONLY)
    assert not precision.native_bf16("")


@pytest.mark.parametrize("native, expected", [(True, "bfloat16"), (False, "float32")])
def test_auto_picks_bfloat16_only_on_a_cpu_that_computes_it(
    monkeypatch, native, expected
):
    monkeypatch.setattr(precision, "native_bf16", lambda cpuinfo=None: native)
    assert precision.resolve("auto") == expected
    assert precision.resolve("float32") == "float32"
    assert precision.resolve("bfloat16") == "bfloat16"


def test_a_bad_precision_is_named_before_any_model_loads():
    with pytest.raises(ValueError, match="'half' is not one of auto, float32"):
        load_model("no-such-model", precision="half")


def test_bfloat16_copy_runs_the_second_convolution_and_rnn_projections_in_bfloat16():
    keras.utils.set_random_seed(3)
    cfg = load_config(overrides=[*TINY, "model.rnn_layers=2"])
    network = build_model(cfg)
    assert precision.inference_network(network, "float32") is network
    copy = precision.inference_network(network, "bfloat16")
    policies = {layer.name: layer.dtype_policy.name for layer in copy.layers}
    assert policies["conv1"] == "mixed_bfloat16"
    assert {p for n, p in policies.items() if n != "conv1"} == {"float32"}
    projections = {
        layer.name: layer.projection_dtype
        for layer in copy.layers
        if isinstance(layer, FusedRNN)
    }
    assert projections == {"bi_rnn0": "bfloat16", "bi_rnn1": "bfloat16"}
    assert all(
        layer.projection_dtype == "float32"
        for layer in network.layers
        if isinstance(layer, FusedRNN)
    )
    for old, new in zip(network.weights, copy.weights, strict=True):
        np.testing.assert_array_equal(old.numpy(), new.numpy())

    exact = Recognizer(network, cfg)
    fast = Recognizer(network, cfg, precision="bfloat16")
    assert exact.inference_network is network and exact.precision == "float32"
    wave = speechlike(1.3, seed=2)
    a, b = exact.logits_batch([wave])[0], fast.logits_batch([wave])[0]
    assert a.shape == b.shape and a.dtype == b.dtype == np.float32
    # bfloat16 keeps 8 bits of mantissa: close, not equal
    np.testing.assert_allclose(b, a, atol=0.05 * np.abs(a).max())
    assert np.abs(a - b).max() > 0
    reference = network([wave[None], np.array([len(wave)])])[0][0]
    np.testing.assert_allclose(a, reference, atol=1e-5)  # float32: the network


def test_bfloat16_keeps_a_trained_models_texts():
    """On the bundled model and the demo's synthetic sentences (voices no
    model heard): bfloat16 rounds, so a misspelt word may be misspelt another
    way (docs/performance.md: 384 of `english`'s 400 dev texts identical,
    the WER the same), but the texts stay within 1 % of each other's
    characters and score the same WER within one word."""
    pytest.importorskip("asr.datasets.synthetic")
    from asr import demo
    from asr.metrics import error_rates

    clips = demo.make_clips(8, seed=11)
    exact = load_model("synth-en", precision="float32")
    fast = Recognizer(exact.network, exact.cfg, precision="bfloat16")
    a, b = exact.transcribe_batch(clips.waves), fast.transcribe_batch(clips.waves)
    assert error_rates(a, b)["cer"] <= 0.01
    errors = [error_rates(clips.texts, t) for t in (a, b)]
    assert abs(errors[0]["wer"] - errors[1]["wer"]) * errors[0]["ref_words"] <= 1


def test_the_package_loader_takes_the_precision():
    import asr

    with pytest.raises(ValueError, match="'half' is not one of"):
        asr.load_model("synth-en", precision="half")
    assert asr.load_model("synth-en", precision="float32").precision == "float32"
