"""`fuse_model` / `unfuse_model`: whole networks, same outputs."""

import dataclasses

import keras
import numpy as np

from asr.config import load_config
from asr.model import build_model
from asr.rnn.convert import fuse_model, unfuse_model
from asr.rnn.layer import FusedRNN
from tests.conftest import speechlike


def test_fuse_model_gives_the_same_model_outputs():
    cfg = load_config(
        overrides=[
            "model.rnn_units=8",
            "model.rnn_layers=2",
            "model.conv_filters=[3,3]",
            "model.rnn_impl=keras",
        ]
    )
    keras.utils.set_random_seed(3)
    model = build_model(cfg)
    assert isinstance(model.get_layer("bi_rnn1"), keras.layers.Bidirectional)
    fused = fuse_model(model)
    assert isinstance(fused.get_layer("bi_rnn1"), FusedRNN)
    # The fused build of the same config has the same weight layout, so
    # weights packed from one load into the other.
    built = build_model(
        dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, rnn_impl="fused"))
    )
    assert isinstance(built.get_layer("bi_rnn1"), FusedRNN)
    built.set_weights(fused.get_weights())
    back = unfuse_model(built)
    assert isinstance(back.get_layer("bi_rnn1"), keras.layers.Bidirectional)
    audio = np.zeros((2, 12000), np.float32)
    audio[0] = speechlike(0.75, seed=1)
    audio[1, :7000] = speechlike(7000 / 16000, seed=2)
    lengths = np.array([12000, 7000], np.int32)
    want, want_lengths = model.predict_on_batch([audio, lengths])
    # fuse_model of an already fused model is a plain copy (it once re-drew them).
    for other in (fused, back, fuse_model(fused)):
        got, got_lengths = other.predict_on_batch([audio, lengths])
        np.testing.assert_array_equal(got_lengths, want_lengths)
        np.testing.assert_allclose(got, want, atol=1e-5)
