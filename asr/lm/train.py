"""Training the LSTM language model: `train_lm` (what `asr lm train` runs).

Resumable as `asr train`: the run folder keeps an atomic backup of the weights
after every epoch (`asr.training.callbacks.AtomicBackupAndRestore`, which also
trims `history.csv` to the restored epoch), so running the same command again
after an interruption (even `kill -9`) goes on from the last finished epoch.
`model.keras` is the network with the best validation perplexity (training
loss without validation text); `learning_curve.png` plots the losses (the
loss is the mean negative log-likelihood per token, ln of the perplexity).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from asr.lm.model import (
    CONFIG_FILE,
    MODEL_FILE,
    VOCAB_FILE,
    LanguageModel,
    LMConfig,
    LMConfigError,
    build_network,
    compile_network,
    read_config,
    write_config,
)
from asr.lm.perplexity import lstm_perplexity
from asr.lm.vocabulary import EOS_ID, UNK_ID, Vocabulary, pad_batch

logger = logging.getLogger(__name__)


def _batches_class():
    import keras

    class Batches(keras.utils.PyDataset):
        """Shuffled batches of `[<s>, ..., </s>]` id lists, all padded to the
        longest sentence; each epoch redraws which occurrences of once-seen
        words become `<unk>`."""

        def __init__(self, sentences, rare, cfg: LMConfig, epoch: int):
            super().__init__()
            self.sentences = [np.asarray(s, np.int32) for s in sentences]
            self.rare, self.cfg, self.epoch = rare, cfg, epoch
            self.width = max(len(s) for s in self.sentences) - 1
            self._draw()

        def _draw(self):
            rng = np.random.default_rng([self.cfg.seed, self.epoch])
            self.order = rng.permutation(len(self.sentences))
            self.drawn = []
            for s in self.sentences:
                s = s.copy()
                hit = self.rare[s] & (rng.random(len(s)) < self.cfg.unk_rate)
                s[hit] = UNK_ID
                self.drawn.append(s)

        def __len__(self):
            return math.ceil(len(self.sentences) / self.cfg.batch_size)

        def __getitem__(self, i):
            b = self.cfg.batch_size
            batch = [self.drawn[j] for j in self.order[i * b : (i + 1) * b]]
            return pad_batch(batch, self.width)  # one shape: one traced step

        def on_epoch_end(self):
            self.epoch += 1
            self._draw()

    return Batches


def _callbacks(network, vocab, val_texts, out: Path, backup):
    import keras

    from asr.training.callbacks import BestModelCheckpoint, LearningCurvePlot

    class ValidationPerplexity(keras.callbacks.Callback):
        """Adds `val_ppl` (`asr.lm.perplexity`: the `asr lm perplexity`
        figure, OOVs included) to the epoch logs."""

        lm = LanguageModel(network, vocab)  # one compiled forward pass

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None and val_texts:
                lm = self.lm
                logs["val_ppl"] = lstm_perplexity(lm, val_texts).perplexity
                logger.info("epoch %d: val_ppl %.2f", epoch + 1, logs["val_ppl"])

    class BestLM(BestModelCheckpoint):
        """`model.keras` = the lowest `val_ppl` (or training loss)."""

        def __init__(self):  # the parent's, without a training config
            keras.callbacks.Callback.__init__(self)
            self.network, self.run_dir = network, out
            self.monitor = "val_ppl" if val_texts else "loss"
            self.state_path = out / "best.json"
            self.best = np.inf
            if self.state_path.exists():
                saved = json.loads(self.state_path.read_text())
                self.best = saved.get("value", np.inf)

    return [
        backup,  # first (it trims history.csv); it commits an epoch after the others
        ValidationPerplexity(),
        BestLM(),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
        LearningCurvePlot(out / "history.csv", out / "learning_curve.png"),
    ]


def train_lm(
    texts: Sequence[str],
    out_dir: str | os.PathLike,
    cfg: LMConfig | None = None,
    val_texts: Sequence[str] = (),
    verbose: int = 1,
    callbacks: Sequence = (),
) -> dict:
    """Trains the LSTM LM on `texts` (one sentence each) into `out_dir`.

    Rerunning with the same settings resumes; a finished run returns at once.

    Args:
        texts: training sentences (normalised here).
        out_dir: the model folder (see `asr.lm.model`).
        cfg: the settings (default `LMConfig()`).
        val_texts: validation sentences for `val_ppl` (and `val_loss`, the
            loss on them) and the best model.
        callbacks: more Keras callbacks, run after the run folder's.

    Returns:
        `{"epochs", "vocab_size", "best"}`: "best" is `best.json` (monitor,
        value, epoch) of the finished run.

    Raises:
        LMConfigError: `out_dir` holds a run with other settings or another
            vocabulary.
        ValueError: no words in `texts`.
    """
    cfg = LMConfig() if cfg is None else cfg
    out = Path(out_dir)
    vocab = Vocabulary.from_texts(texts)
    if (out / CONFIG_FILE).is_file() and (out / "backup").exists():
        old = read_config(out)
        if old != cfg:
            raise LMConfigError(
                f"{out / CONFIG_FILE}: this folder was started with other settings; "
                "use a new --out folder, or delete this one to start over"
            )
        if Vocabulary.load(out / VOCAB_FILE).tokens != vocab.tokens:
            raise LMConfigError(
                f"{out / VOCAB_FILE}: this folder was trained on another text; use "
                "a new --out folder"
            )
    out.mkdir(parents=True, exist_ok=True)
    write_config(out, cfg)
    vocab.save(out / VOCAB_FILE)

    network = build_network(cfg, len(vocab))
    compile_network(network, cfg)
    sentences = list(vocab.sentences(texts))
    rare = np.zeros(len(vocab), bool)
    if vocab.counts is not None:
        rare[4:] = vocab.counts == 1
    rare[EOS_ID] = False
    from asr.training.backup import Backup, BackupStore, Position

    store = BackupStore(out / "backup")
    start = store.restore(network).epoch  # whole epochs: they are short
    batches = _batches_class()(sentences, rare, cfg, start)
    val_texts = list(val_texts)
    validation = pad_batch(list(vocab.sentences(val_texts))) if val_texts else None
    if start < cfg.epochs:
        backup = Backup(
            store, Position(start), len(batches), history_csv=out / "history.csv"
        )
        network.fit(
            batches,
            epochs=cfg.epochs,
            initial_epoch=start,
            validation_data=validation,
            validation_batch_size=cfg.batch_size,
            callbacks=[*_callbacks(network, vocab, val_texts, out, backup), *callbacks],
            verbose=verbose,
        )
    if not (out / MODEL_FILE).exists():  # no finite loss at all
        from asr.checkpoint import save_model

        save_model(network, out / MODEL_FILE)
    best_file = out / "best.json"
    best = json.loads(best_file.read_text()) if best_file.exists() else {}
    return {"epochs": cfg.epochs, "vocab_size": len(vocab), "best": best}
