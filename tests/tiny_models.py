"""Tiny random causal models, shared by the streaming, export and training
tests, and the offline logits they are compared with."""

import keras
import numpy as np

from asr.config import dump_yaml, load_config
from asr.model import build_model, make_predict_fn
from asr.rnn.layer import FusedRNN

OFFLINE = ["model.rnn_units=8", "model.rnn_layers=1", "model.conv_filters=[2,2]"]

CAUSAL = [
    "model.rnn_units=8",
    "model.rnn_layers=2",
    "model.conv_filters=[3,3]",
    "model.causal=true",
    "model.bidirectional=false",
]


def causal_model(*extra, seed: int = 0):
    """A tiny random causal model with non-trivial BatchNorm and feature stats
    and a sharpened output layer, so the greedy text has many characters."""
    keras.utils.set_random_seed(seed)
    model = build_model(load_config(overrides=CAUSAL + list(extra)))
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.name.endswith("_bn"):
            shape = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0, 0.5, shape))
            layer.moving_variance.assign(rng.uniform(0.3, 2.0, shape))
            layer.gamma.assign(rng.uniform(0.5, 1.5, shape))
            layer.beta.assign(rng.normal(0, 0.3, shape))
    model.get_layer("normalization").set_stats(
        rng.normal(-6, 1, 80), rng.uniform(1.5, 3, 80)
    )
    for layer in model.layers:
        if isinstance(layer, FusedRNN):
            layer.kernel.assign(3 * layer.kernel)
        elif layer.name.startswith("rnn") and hasattr(layer, "cell"):
            layer.cell.kernel.assign(3 * layer.cell.kernel)
    dense = model.get_layer("logits")
    dense.kernel.assign(rng.normal(0, 20, dense.kernel.shape))
    return model


_PREDICT: dict = {}


def offline(model, wave):
    """(frames, vocab) logits of the offline model (one compiled fn per model)."""
    predict = _PREDICT.setdefault(id(model), (model, make_predict_fn(model)))[1]
    logits, lengths = predict(wave[None], np.array([len(wave)], np.int32))
    return logits.numpy()[0, : int(lengths[0])]


def lookahead_model(context=3, seed=4):
    """A causal model with a trained-looking (not identity) look-ahead."""
    model = causal_model(f"model.lookahead={context}", seed=seed)
    layer = model.get_layer("lookahead")
    rng = np.random.default_rng(seed)
    layer.kernel.assign(rng.normal(0, 0.7, layer.kernel.shape))
    return model


def save_tiny_run(path, seed: int | None = None):
    """A run folder (`model.keras` + `config.yaml`) of a tiny random offline
    model, as `load_model` and the CLI take it; `seed` fixes its weights."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    cfg = load_config(overrides=OFFLINE)
    build_model(cfg).save(path / "model.keras")
    (path / "config.yaml").write_text(dump_yaml(cfg))
    return path
