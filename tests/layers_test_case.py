"""The shared test every custom Keras layer of `asr` runs (as keras-hub's
`TestCase.run_layer_test`): call it from the layer's own test file.

    run_layer_test(FusedRNN, {"units": 4}, [x], tmp_path, reference=keras_lstm)

checks that
- the class is registered as `asr>ClassName` (what `.keras` files name);
- `get_config` -> `from_config` (directly and through Keras's serialisation)
  gives a layer with the same config;
- a functional model around the layer, saved to `.keras` and loaded with
  `safe_mode=True`, gives the same outputs (weights perturbed first, so an
  identity or zero initialisation cannot hide a weight that is not saved);
- the `training=True` forward pass equals the `training=False` one
  (`same_in_training`, for layers that only change the gradient), and the
  `training=False` output equals `reference(layer, *inputs)`: the path
  inference, streaming or export takes, or an independent implementation.

`tests/test_layout.py` checks that every registered layer runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf


def _flat(outputs) -> list[np.ndarray]:
    return [np.asarray(o) for o in tf.nest.flatten(outputs)]


def _assert_outputs_equal(got, want, atol: float, what: str) -> None:
    got, want = _flat(got), _flat(want)
    assert len(got) == len(want), what
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, atol=atol, err_msg=what)


def run_layer_test(
    layer_cls: type[keras.layers.Layer],
    init_kwargs: dict,
    inputs: Sequence[np.ndarray],
    tmp_path: Path,
    *,
    reference: Callable | None = None,
    same_in_training: bool = True,
    atol: float = 1e-5,
    seed: int = 0,
) -> keras.layers.Layer:
    """Runs the shared checks (see the module docstring); returns the layer.

    Args:
        layer_cls: the custom layer.
        init_kwargs: its constructor arguments.
        inputs: the positional call arguments, each with a batch axis first.
        tmp_path: a folder for the `.keras` file.
        reference: `(layer, *inputs) -> outputs` the `training=False` output
            must equal; None skips the check.
        same_in_training: also require equal outputs with `training=True`.
        atol: absolute tolerance of every comparison.
        seed: for the weight perturbation.
    """
    name = keras.saving.get_registered_name(layer_cls)
    assert name == f"asr>{layer_cls.__name__}", name

    layer = layer_cls(**init_kwargs)
    layer(*inputs)  # builds
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [
            w + 0.1 * rng.standard_normal(w.shape).astype(w.dtype)
            if np.issubdtype(w.dtype, np.floating)
            else w
            for w in layer.get_weights()
        ]
    )
    want = layer(*inputs, training=False)

    config = layer.get_config()
    assert layer_cls.from_config(config).get_config() == config
    again = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(again) is layer_cls and again.get_config() == config

    symbolic = [
        keras.Input(shape=np.shape(x)[1:], dtype=str(np.asarray(x).dtype))
        for x in inputs
    ]
    model = keras.Model(symbolic, layer(*symbolic))
    path = tmp_path / f"{layer_cls.__name__}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    _assert_outputs_equal(
        loaded(list(inputs), training=False), want, atol, ".keras save/load"
    )

    if same_in_training:
        _assert_outputs_equal(
            layer(*inputs, training=True), want, atol, "training=True"
        )
    if reference is not None:
        _assert_outputs_equal(want, reference(layer, *inputs), atol, "reference")
    return layer
