import keras
import numpy as np
import pytest

from asr.config import load_config
from asr.features import num_frames
from asr.model import (
    ClippedReLU,
    ConvLengths,
    LookAhead,
    MaskedMeanPool,
    MaskTime,
    SequenceMask,
    build_model,
    make_predict_fn,
    output_lengths,
)
from tests.conftest import speechlike
from tests.layers_test_case import run_layer_test

TINY = ["model.rnn_units=8", "model.rnn_layers=2", "model.conv_filters=[3,3]"]


def tiny(*extra):
    return load_config(overrides=TINY + list(extra))


def batch_of(waves):
    width = max(len(w) for w in waves)
    audio = np.zeros((len(waves), width), np.float32)
    for i, w in enumerate(waves):
        audio[i, : len(w)] = w
    return audio, np.array([len(w) for w in waves], np.int32)


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["model.rnn_cell=gru"],
        ["model.rnn_cell=simple_rnn", "model.rnn_norm=layer"],
        ["model.causal=true", "model.bidirectional=false", "model.rnn_norm=batch"],
        ["model.conv_strides=[[3,2],[2,2]]", "model.conv_activation=clipped_relu"],
    ],
)
def test_padding_never_changes_real_frames(extra):
    cfg = tiny(*extra)
    model = build_model(cfg)
    predict = make_predict_fn(model)
    short, long = speechlike(0.61, seed=1), speechlike(1.73, seed=2)
    alone, n_alone = predict(*batch_of([short]))
    both, n_both = predict(*batch_of([short, long]))
    n = int(n_alone[0])
    assert n == int(n_both[0]) == alone.shape[1]
    np.testing.assert_allclose(both.numpy()[0, :n], alone.numpy()[0], atol=1e-5)


@pytest.mark.parametrize("samples", [400, 401, 3999, 16000, 16161, 31999])
def test_output_lengths_match_real_shapes(samples):
    cfg = tiny("model.conv_strides=[[2,2],[3,2]]")
    model = build_model(cfg)
    logits, lengths = make_predict_fn(model)(*batch_of([speechlike(samples / 16000)]))
    expected = output_lengths(num_frames(samples, cfg.features), cfg.model)
    assert logits.shape[1] == lengths[0] == expected


def test_keras_file_round_trip_in_safe_mode(tmp_path):
    cfg = tiny()
    model = build_model(cfg)
    model.get_layer("normalization").set_stats(np.full(80, -5.0), np.full(80, 2.0))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    audio, lengths = batch_of([speechlike(0.8, seed=7)])
    a = make_predict_fn(model)(audio, lengths)[0].numpy()
    b = make_predict_fn(loaded)(audio, lengths)[0].numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    clone = keras.Model.from_config(model.get_config())
    assert clone.count_params() == model.count_params()


def test_spec_augment_only_when_training():
    cfg = tiny(
        "model.dropout=0.0",
        "augment.spec_time_masks=2",
        "augment.spec_freq_masks=2",
        "augment.spec_freq_width=30",
    )
    model = build_model(cfg)
    audio, lengths = batch_of([speechlike(1.5, seed=3)])
    eval1 = model([audio, lengths], training=False)[0].numpy()
    eval2 = model([audio, lengths], training=False)[0].numpy()
    np.testing.assert_array_equal(eval1, eval2)
    aug = model.get_layer("spec_augment")
    feats = np.ones((1, 150, 80), np.float32)
    masked = aug(feats, np.array([150]), training=True).numpy()
    assert 0 < (masked == 0).mean() < 0.9
    assert np.array_equal(aug(feats, np.array([150]), training=False).numpy(), feats)


def test_classifier_head_outputs_one_score_per_class():
    cfg = tiny("model.head=classifier", "model.classes=[left,right,up]")
    model = build_model(cfg)
    logits, _ = make_predict_fn(model)(*batch_of([speechlike(0.5), speechlike(0.9)]))
    assert logits.shape == (2, 3)


def test_ds2_small_has_the_reference_size():
    """2 conv + 3 BiLSTM x 256, 80 mels: the PyTorch reference counts 5,252,861
    trainable Keras-equivalent parameters."""
    cfg = load_config("configs/ds2_small.yaml")
    model = build_model(cfg)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 5_252_861


X = np.random.default_rng(0).normal(size=(2, 6, 3)).astype(np.float32)
LENGTHS = np.array([6, 2], np.int32)
REAL = (np.arange(6)[None, :] < LENGTHS[:, None])[..., None]


def _look_ahead(layer, x):
    w = np.asarray(layer.get_weights()[0])
    padded = np.concatenate([x, np.zeros((len(x), layer.context, x.shape[2]))], 1)
    return sum(w[i] * padded[:, i : i + x.shape[1]] for i in range(len(w)))


@pytest.mark.parametrize(
    "cls, kwargs, inputs, reference",
    [
        (MaskTime, {}, [X, LENGTHS], lambda _, x, n: x * REAL),
        (ConvLengths, {"stride": 4}, [LENGTHS], lambda _, n: -(-n // 4)),
        (SequenceMask, {}, [X, LENGTHS], lambda _, x, n: REAL[..., 0]),
        (
            MaskedMeanPool,
            {},
            [X, LENGTHS],
            lambda _, x, n: (x * REAL).sum(1) / n[:, None],
        ),
        (ClippedReLU, {}, [30 * X], lambda _, x: np.clip(x, 0, 20)),
        (LookAhead, {"context": 2}, [X], _look_ahead),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_model_layers_shared_layer_checks(cls, kwargs, inputs, reference, tmp_path):
    run_layer_test(cls, kwargs, inputs, tmp_path, reference=reference)
