"""Where a run's weights come from besides its own training: `init_from`
(`train.init_from`, `--init-from`: fine-tuning from another model) and
`load_teacher` (`train.distill_from`: the distillation teacher).
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from asr.checkpoint import load_network
from asr.config import ConfigError
from asr.model import LookAhead

logger = logging.getLogger(__name__)


def load_teacher(source: str, network: keras.Model) -> keras.Model:
    """The distillation teacher's network (`train.distill_from`), with fused
    recurrent layers (inference speed); it must read the same audio and
    give the same frames and vocabulary as `network`."""
    from asr.rnn.convert import fuse_model

    teacher = fuse_model(load_network(source)[0])  # Trainer freezes it
    probe = [np.zeros((1, 16000), np.float32), np.array([16000], np.int32)]
    (t_logits, t_len), (s_logits, s_len) = (m(probe) for m in (teacher, network))
    if t_logits.shape[-1] != s_logits.shape[-1] or int(t_len[0]) != int(s_len[0]):
        raise ConfigError(
            f"train.distill_from: {source} gives {int(t_len[0])} frames x "
            f"{t_logits.shape[-1]} labels for 16,000 samples, this model "
            f"{int(s_len[0])} x {s_logits.shape[-1]}; they must match"
        )
    logger.info("distilling from %s", source)
    return teacher


def init_from(network: keras.Model, source: str) -> None:
    """Copies weights layer by layer from a trained model (matching names and
    shapes), e.g. to fine-tune on new data. `source` is anything
    `asr.checkpoint.load_network` takes (a bundled name too); its recurrent
    layers are first converted to this network's implementation
    (`model.rnn_impl`). A look-ahead layer with
    more context than the source's keeps the source's taps and starts the new
    ones at zero (`LookAhead.extend_from`)."""
    from asr.rnn.convert import fuse_model, unfuse_model
    from asr.rnn.layer import FusedRNN

    src, _ = load_network(source)
    convert = (
        fuse_model
        if any(isinstance(x, FusedRNN) for x in network.layers)
        else unfuse_model
    )
    src = convert(src)
    copied = 0
    for layer in network.layers:
        try:
            other = src.get_layer(layer.name)
        except ValueError:
            continue
        w_new, w_old = layer.get_weights(), other.get_weights()
        if w_new and [w.shape for w in w_new] == [w.shape for w in w_old]:
            layer.set_weights(w_old)
            copied += 1
        elif isinstance(layer, LookAhead) and isinstance(other, LookAhead):
            layer.extend_from(w_old[0])
            logger.info(
                "look-ahead extended from %d to %d frames", other.context, layer.context
            )
            copied += 1
    logger.info("initialised %d layers from %s", copied, source)
    if copied == 0:
        raise ValueError(f"{source}: no layer matched the new model")
