"""Whole-model conversion between Keras recurrent layers and `asr.rnn.layer.FusedRNN`.

`fuse_model` swaps every Keras LSTM / GRU / SimpleRNN (or `Bidirectional` of
one) for the equivalent `FusedRNN` (faster on CPU); `unfuse_model` goes back
(cuDNN on a GPU, TFLite's fused LSTM op). Both copy the weights and keep layer
names, so the two models give the same outputs to float rounding.
"""

from __future__ import annotations

import keras

from asr.rnn.layer import FusedRNN, make_rnn


def fuse_model(model: keras.Model, jit_compile: bool = False) -> keras.Model:
    """A copy of functional `model`, weights included, with every Keras LSTM,
    GRU or SimpleRNN layer (or `Bidirectional` of one) replaced by the
    equivalent `FusedRNN` of the same name: e.g. to train or run on CPU a
    model trained with cuDNN. Outputs are equal (to float rounding).
    `jit_compile` applies to every `FusedRNN` of the copy, those already in
    `model` included.

    Raises:
        ValueError: a recurrent layer FusedRNN cannot replace (dropout,
            go_backwards, return_sequences=False, other activations...).
    """

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional):
            return FusedRNN.from_keras(layer, jit_compile=jit_compile)
        config = layer.get_config()
        if isinstance(layer, FusedRNN):
            config["jit_compile"] = jit_compile
        return layer.__class__.from_config(config)

    fused = keras.models.clone_model(model, clone_function=clone)
    for old, new in zip(model.layers, fused.layers, strict=True):
        # from_keras copied the converted layers' weights; everything else,
        # FusedRNN layers already in `model` included, is copied here.
        if not isinstance(old, keras.layers.RNN | keras.layers.Bidirectional):
            new.set_weights(old.get_weights())
    return fused


def unfuse_model(model: keras.Model) -> keras.Model:
    """The inverse of `fuse_model`: a copy of `model` with every `FusedRNN`
    replaced by the equivalent Keras layer (`Bidirectional` for a
    bidirectional one), weights included: e.g. for cuDNN on a GPU, or for
    TFLite, which converts Keras's LSTM to its fused builtin op."""

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if not isinstance(layer, FusedRNN):
            return layer.__class__.from_config(layer.get_config())
        inner = layer.name.removeprefix("bi_") if layer.bidirectional else layer.name
        stock = make_rnn(
            layer.cell,
            layer.units,
            False,
            "keras",
            name=inner,
            kernel_initializer=layer.kernel_initializer,
            kernel_regularizer=layer.kernel_regularizer,
        )
        if layer.bidirectional:
            stock = keras.layers.Bidirectional(
                stock, merge_mode="concat", name=layer.name
            )
        return stock

    stock = keras.models.clone_model(model, clone_function=clone)
    for old, new in zip(model.layers, stock.layers, strict=True):
        if isinstance(old, FusedRNN):
            new.set_weights(old.get_keras_weights())
        else:
            new.set_weights(old.get_weights())
    return stock
