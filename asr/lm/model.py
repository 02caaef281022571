"""The word-level LSTM language model: its settings, the Keras network, and
`LanguageModel`, which scores sentences with it.

    lm = LanguageModel.load("runs/lm")          # folder written by `asr lm train`
    lm.sentence_log_probs(["the cat sat"])      # -> (1,) natural-log probabilities

The network is stock Keras (nothing custom to register, so a `.keras` file
loads with `safe_mode=True`): ids (batch, time) -> `Embedding` -> 1-2 `LSTM`
with dropout -> logits (batch, time, vocab), either a `Dense` layer or, with
`tied`, the transposed embedding matrix (`keras.layers.ReversibleEmbedding`,
after a `Dense` projection to the embedding width when the LSTM is wider).

A model folder holds `model.keras` (best validation perplexity), `vocab.txt`
(`asr.lm.vocabulary`), `lm.json` (the `LMConfig`), and after training
`history.csv`, `learning_curve.png` and `backup/` (for resuming).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.files import atomic_write_text
from asr.lm.vocabulary import PAD_ID, Vocabulary, pad_batch

MODEL_FILE, VOCAB_FILE, CONFIG_FILE = "model.keras", "vocab.txt", "lm.json"


class LMConfigError(ValueError):
    """Bad LM settings, or a model folder whose `lm.json` cannot be used
    (names the file or the key)."""


@dataclass(frozen=True)
class LMConfig:
    """The network and its training (defaults: ~0.7 M weights for a vocabulary
    of 2,000 words, trained in a few minutes on a CPU)."""

    embedding_dim: int = 128
    units: int = 256  # per LSTM layer
    layers: int = 1  # 1 or 2
    dropout: float = 0.5  # after the embedding and after each LSTM
    tied: bool = True  # output matrix = the embedding's, transposed
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 2e-3
    clip_norm: float = 1.0
    # In training, each occurrence of a word seen once becomes <unk> with this
    # probability, so the model learns what <unk> means (as the n-gram's
    # discounting gives it mass).
    unk_rate: float = 0.25
    seed: int = 0

    def __post_init__(self):
        checks = {
            "embedding_dim": self.embedding_dim >= 1,
            "units": self.units >= 1,
            "layers": self.layers in (1, 2),
            "dropout": 0 <= self.dropout < 1,
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "learning_rate": self.learning_rate > 0,
            "clip_norm": self.clip_norm > 0,
            "unk_rate": 0 <= self.unk_rate <= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise LMConfigError(
                f"bad LM setting {bad[0]}={getattr(self, bad[0])!r} (layers: 1 or "
                "2; dropout in [0, 1); unk_rate in [0, 1]; the rest positive)"
            )

    @classmethod
    def from_dict(cls, values: dict, source: str = "LM settings") -> LMConfig:
        """Raises `LMConfigError` naming `source` and an unknown key."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise LMConfigError(f"{source}: unknown key {unknown[0]!r}")
        return cls(**values)


def build_network(cfg: LMConfig, vocab_size: int):
    """The Keras model: int32 ids (batch, time) -> logits (batch, time, vocab).

    Id 0 is padding: inputs are right-padded, so no mask is needed (an LSTM
    step never sees a later one) and the loss ignores targets 0.
    """
    import keras

    keras.utils.set_random_seed(cfg.seed)
    ids = keras.Input((None,), dtype="int32", name="ids")
    embed_cls = keras.layers.ReversibleEmbedding if cfg.tied else keras.layers.Embedding
    embedding = embed_cls(vocab_size, cfg.embedding_dim, name="embedding")
    x = embedding(ids)
    x = keras.layers.Dropout(cfg.dropout, name="dropout_embedding")(x)
    for i in range(cfg.layers):
        x = keras.layers.LSTM(cfg.units, return_sequences=True, name=f"lstm_{i}")(x)
        x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{i}")(x)
    if cfg.tied:
        if cfg.units != cfg.embedding_dim:
            x = keras.layers.Dense(cfg.embedding_dim, name="projection")(x)
        logits = embedding(x, reverse=True)
    else:
        logits = keras.layers.Dense(vocab_size, name="logits")(x)
    return keras.Model(ids, logits, name="lstm_lm")


def compile_network(network, cfg: LMConfig) -> None:
    """Adam with gradient clipping; cross-entropy that ignores padding (the
    loss is the mean negative log-likelihood per predicted token)."""
    import keras

    network.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate, clipnorm=cfg.clip_norm),
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=PAD_ID
        ),
    )


def read_config(folder: str | os.PathLike) -> LMConfig:
    """The `LMConfig` saved in `folder/lm.json`."""
    path = Path(folder) / CONFIG_FILE
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found (not an LM folder?)") from None
    except json.JSONDecodeError as e:
        raise LMConfigError(f"{path}:{e.lineno}: {e.msg}") from None
    if not isinstance(values, dict):
        raise LMConfigError(f"{path}: expected a JSON object")
    return LMConfig.from_dict(values, str(path))


def write_config(folder: str | os.PathLike, cfg: LMConfig) -> None:
    atomic_write_text(
        Path(folder) / CONFIG_FILE, json.dumps(dataclasses.asdict(cfg), indent=2)
    )


class LanguageModel:
    """A trained network with its vocabulary; scores whole sentences.

    Args:
        network: `build_network`'s model (trained).
        vocab: the vocabulary it was trained with.
        batch_size: sentences per forward pass when scoring.
    """

    def __init__(self, network, vocab: Vocabulary, batch_size: int = 256):
        out = network.outputs[0].shape[-1]
        if out != len(vocab):
            raise LMConfigError(
                f"network predicts {out} tokens, vocabulary has {len(vocab)}"
            )
        self.network, self.vocab, self.batch_size = network, vocab, batch_size
        self._forward = None

    @classmethod
    def load(cls, folder: str | os.PathLike) -> LanguageModel:
        """Loads `folder/model.keras` (with `safe_mode=True`) and `vocab.txt`.

        Raises:
            FileNotFoundError: not an LM folder (names the missing file).
        """
        import keras

        folder = Path(folder)
        for name in (MODEL_FILE, VOCAB_FILE):
            if not (folder / name).is_file():
                raise FileNotFoundError(
                    f"{folder / name}: not found (is {folder} an `asr lm train` "
                    "folder?)"
                )
        network = keras.saving.load_model(
            folder / MODEL_FILE, compile=False, safe_mode=True
        )
        return cls(network, Vocabulary.load(folder / VOCAB_FILE))

    def _logits(self, inputs: np.ndarray) -> np.ndarray:
        if self._forward is None:
            import tensorflow as tf

            network = self.network
            self._forward = tf.function(
                lambda x: network(x, training=False),
                input_signature=[tf.TensorSpec([None, None], tf.int32)],
            )
        return np.asarray(self._forward(inputs))

    def token_log_probs(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Per text, the natural-log probability of each word (`<unk>`'s for a
        word outside the vocabulary) and of the final `</s>`.

        Returns:
            One (words + 1,) float64 array per text.
        """
        sentences = list(self.vocab.sentences(texts))
        out: list[np.ndarray | None] = [None] * len(sentences)
        order = np.argsort([len(s) for s in sentences], kind="stable")
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            inputs, targets = pad_batch([sentences[i] for i in idx])
            logits = self._logits(inputs).astype(np.float64)
            logits[..., PAD_ID] = -np.inf  # padding is never a word
            m = logits.max(axis=-1, keepdims=True)
            lse = m[..., 0] + np.log(np.exp(logits - m).sum(axis=-1))
            picked = np.take_along_axis(logits, targets[..., None], -1)[..., 0]
            lp = picked - lse
            for row, i in enumerate(idx):
                out[i] = lp[row, : len(sentences[i]) - 1]
        return out  # type: ignore[return-value]

    def sentence_log_probs(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts),) natural-log probability of each whole text (its words
        and `</s>`, after `<s>`)."""
        return np.array([lp.sum() for lp in self.token_log_probs(texts)])
