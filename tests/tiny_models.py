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


KEYWORD_CLASSES = ("one", "_unknown_", "_silence_")


def keyword_clip(label: str, seed: int) -> "np.ndarray":
    """A tiny keyword task's clip: "one" is speech-like tones, `_unknown_`
    loud white noise, `_silence_` zeros or a faint noise floor (0.5-1 s)."""
    from tests.conftest import speechlike

    rng = np.random.default_rng(seed)
    seconds = rng.uniform(0.5, 1.0)
    n = int(seconds * 16000)
    if label == "one":
        return speechlike(seconds, seed=seed)
    if label == "_unknown_":
        return (0.2 * rng.standard_normal(n)).astype(np.float32)
    level = 0.0 if seed % 2 else rng.uniform(1e-4, 3e-3)
    return (level * rng.standard_normal(n)).astype(np.float32)


def train_keyword_run(path, steps: int = 40, seed: int = 0):
    """A run folder of a tiny classifier (classes `KEYWORD_CLASSES`) trained
    for `steps` Adam steps on `keyword_clip`s: a few seconds on a CPU."""
    import tensorflow as tf

    from asr.features import compute_feature_stats

    keras.utils.set_random_seed(seed)
    cfg = load_config(
        overrides=OFFLINE
        + [
            "model.head=classifier",
            f"model.classes=[{','.join(KEYWORD_CLASSES)}]",
            "augment.spec_time_masks=0",
            "augment.spec_freq_masks=0",
        ]
    )
    model = build_model(cfg)
    clips = [
        (keyword_clip(label, 1000 * k + i), k)
        for i in range(8)
        for k, label in enumerate(KEYWORD_CLASSES)
    ]
    mean, std = compute_feature_stats((w for w, _ in clips), cfg.features)
    model.get_layer("normalization").set_stats(mean, std)
    width = max(len(w) for w, _ in clips)
    audio = np.zeros((len(clips), width), np.float32)
    for i, (w, _) in enumerate(clips):
        audio[i, : len(w)] = w
    lengths = np.array([len(w) for w, _ in clips], np.int32)
    labels = np.array([k for _, k in clips], np.int32)
    optimizer = keras.optimizers.Adam(0.01)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(x, n, y):
        with tf.GradientTape() as tape:
            logits, _ = model([x, n], training=True)
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    for _ in range(steps):
        loss = step(audio, lengths, labels)
    path.mkdir(parents=True, exist_ok=True)
    model.save(path / "model.keras")
    (path / "config.yaml").write_text(dump_yaml(cfg))
    return path, float(loss)
