"""Keras callbacks used by `asr.training.fit`: validation WER, best-model
checkpoint, the non-finite-loss guard, the wall-time budget and the learning
curve (the backup for resuming is `asr.training.backup`)."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from pathlib import Path

import keras
import numpy as np

from asr import text
from asr.audio import SAMPLE_RATE
from asr.checkpoint import save_model
from asr.config import ExperimentConfig
from asr.decoding.ctc import greedy_decode_batch, mark_pauses, pause_frames
from asr.files import atomic_path, atomic_write_text
from asr.metrics import error_rates
from asr.model import make_predict_fn, time_stride

logger = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Training met a NaN/inf loss or gradient and `train.nan_policy` is stop."""


class ValidationMetrics(keras.callbacks.Callback):
    """Adds `val_wer` and `val_cer` (greedy decoding with pauses as word breaks,
    `asr.metrics.error_rates`: the rates `asr evaluate` reports) to the epoch
    logs; for the classifier head `val_accuracy`, with `val_wer` = 1 -
    accuracy."""

    def __init__(self, network, val_ds, cfg: ExperimentConfig, max_utterances=500):
        super().__init__()
        self.network, self.val_ds, self.cfg = network, val_ds, cfg
        self.max_utterances = max_utterances
        self._predict = None

    def on_epoch_end(self, epoch, logs=None):
        if self.val_ds is None or logs is None:
            return
        logs.update(self.evaluate())
        logger.info(
            "epoch %d: %s",
            epoch + 1,
            ", ".join(f"{k}={v:.4f}" for k, v in logs.items() if k.startswith("val_")),
        )

    def evaluate(self) -> dict[str, float]:
        """The validation metrics of the network's current weights."""
        logs: dict[str, float] = {}
        if self._predict is None:
            self._predict = make_predict_fn(self.network)
        refs, hyps, correct, seen = [], [], 0, 0
        samples_per_frame = time_stride(self.cfg.model) * self.cfg.features.hop_length
        pause = pause_frames(samples_per_frame / SAMPLE_RATE)
        for x, y in self.val_ds:
            logits, lengths = self._predict(x["audio"], x["audio_lengths"])
            logits = logits.numpy()
            if self.cfg.model.head == "classifier":
                correct += int(np.sum(logits.argmax(-1) == y["class_id"].numpy()))
            else:
                lengths = lengths.numpy()
                marked = [mark_pauses(u, pause, n) for u, n in zip(logits, lengths)]
                hyps += greedy_decode_batch(np.stack(marked), lengths)
                labels, label_lengths = y["labels"].numpy(), y["label_lengths"].numpy()
                refs += [text.decode(lab[:n]) for lab, n in zip(labels, label_lengths)]
            seen += len(logits)
            if seen >= self.max_utterances:
                break
        if self.cfg.model.head == "classifier":
            logs["val_accuracy"] = correct / max(seen, 1)
            logs["val_wer"] = 1.0 - logs["val_accuracy"]
        else:
            rates = error_rates(refs, hyps) if refs else {"wer": 1.0, "cer": 1.0}
            logs["val_wer"], logs["val_cer"] = rates["wer"], rates["cer"]
        return logs


class BestModelCheckpoint(keras.callbacks.Callback):
    """Keeps `model.keras` = the network with the best validation WER so far
    (train loss without validation data). The best value survives resumes."""

    def __init__(self, network, run_dir: Path, cfg: ExperimentConfig):
        super().__init__()
        self.network, self.run_dir = network, Path(run_dir)
        self.monitor = self.monitor_name(cfg) if cfg.data.val_manifest else "loss"
        self.state_path = self.run_dir / "best.json"
        self.best = np.inf
        if self.state_path.exists():
            self.best = json.loads(self.state_path.read_text()).get("value", np.inf)

    @staticmethod
    def monitor_name(cfg: ExperimentConfig) -> str:
        return "val_wer"

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value) or value >= self.best:
            return
        self.best = float(value)
        save_model(self.network, self.run_dir / "model.keras")
        atomic_write_text(
            self.state_path,
            json.dumps(
                {"monitor": self.monitor, "value": self.best, "epoch": epoch + 1}
            ),
        )
        logger.info(
            "epoch %d: %s improved to %.4f, saved model.keras",
            epoch + 1,
            self.monitor,
            self.best,
        )


def trim_history(history_csv: str | os.PathLike, epochs: int) -> None:
    """Keeps the header and the rows of the first `epochs` epochs of a
    `CSVLogger` file (rows of epochs that are run again on resume, and a row
    cut short by a kill, go); with `epochs` 0 the file is removed."""
    path = Path(history_csv)
    if not path.is_file():
        return
    if epochs <= 0:
        path.unlink()
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, kept = rows[0], [rows[0]]
    for row in rows[1:]:
        if len(row) != len(header):
            continue
        try:
            epoch = int(row[0])
        except ValueError:
            continue
        if epoch < epochs:
            kept.append(row)
    if kept != rows:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(kept)
        atomic_write_text(path, buf.getvalue())


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Reports steps whose loss or gradients were NaN/inf, naming the batch's
    files. Such steps never change the weights: the trainer does not apply
    their gradients, and this callback puts back the state the forward pass
    changed (batch-norm moving statistics, which a NaN batch would poison for
    good). With policy "stop" training ends after the step (the last good
    checkpoint stays)."""

    def __init__(self, trainer, policy: str = "stop"):
        super().__init__()
        self.trainer, self.policy = trainer, policy
        self.seen = 0.0
        self.error: str | None = None
        self.total = 0
        self._state: list | None = None

    def _snapshot(self) -> None:
        """Copies the non-trainable float variables (after the last good step)."""
        self._state = [
            (v, np.array(v.numpy()))
            for v in self.trainer.network.non_trainable_variables
            if np.issubdtype(np.dtype(v.dtype), np.floating)
        ]

    def _restore(self) -> None:
        for v, value in self._state or ():
            v.assign(value)

    def on_epoch_begin(self, epoch, logs=None):
        self.seen = 0.0
        self._snapshot()  # after every on_train_begin: resumed weights included

    def on_train_batch_end(self, batch, logs=None):
        count = float((logs or {}).get("nonfinite_steps", 0.0))
        if count <= self.seen:
            self._snapshot()
            return
        self.seen = count
        self.total += 1
        self._restore()
        files = self.trainer.bad_files()
        message = (
            f"non-finite loss or gradient at step {batch + 1}; the batch's files: "
            + ", ".join(files)
        )
        if self.policy == "stop":
            self.error = message
            self.model.stop_training = True
            logger.error("%s; stopping (train.nan_policy=stop)", message)
        else:
            logger.warning("%s; step skipped (train.nan_policy=skip)", message)


class TimeBudget(keras.callbacks.Callback):
    """Stops training at the end of the first step that ends `minutes` or
    more after training began (`train.max_minutes`; the first
    `on_train_begin`, so a `fit` that runs the rest of a resumed epoch and then
    the other epochs in two calls keeps one budget). It sets
    `model.stop_training`: Keras then ends the epoch, short (validation and the
    epoch-end callbacks run on it), and `asr.training.backup.Backup`, placed
    after this callback, saves the step reached, so running the same command
    again resumes there with a new budget.

    Attributes:
        spent: whether the budget stopped training.
        steps: steps trained under this budget.
    """

    def __init__(self, minutes: float, clock=time.monotonic):
        super().__init__()
        self.seconds, self.clock = 60.0 * minutes, clock
        self.started: float | None = None
        self.spent = False
        self.steps = 0

    def on_train_begin(self, logs=None):
        if self.started is None:
            self.started = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.spent or self.clock() - self.started < self.seconds:
            return
        self.spent = True
        self.model.stop_training = True
        logger.info(
            "train.max_minutes=%g spent after %d steps: stopping after this "
            "step (run the same command again to go on)",
            self.seconds / 60,
            self.steps,
        )


class LearningCurvePlot(keras.callbacks.Callback):
    """Redraws loss and WER curves (train vs validation) from history.csv."""

    def __init__(self, history_csv: Path, png: Path):
        super().__init__()
        self.history_csv, self.png = Path(history_csv), Path(png)

    def on_epoch_end(self, epoch, logs=None):
        try:
            plot_learning_curve(self.history_csv, self.png)
        except Exception as e:  # a plot must never stop training
            logger.warning("could not draw %s: %s", self.png, e)


def plot_learning_curve(history_csv: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(history_csv) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]

    def series(key):
        # CSVLogger writes "NA" for validation keys of runs without validation.
        return [
            float(r[key]) if r.get(key) not in (None, "", "NA") else np.nan
            for r in rows
        ]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, series("loss"), "o-", label="train")
    if "val_loss" in rows[0]:
        ax1.plot(epochs, series("val_loss"), "o-", label="validation")
    ax1.set(xlabel="epoch", ylabel="loss", title="Loss", yscale="log")
    ax1.legend()
    if "val_wer" in rows[0]:
        ax2.plot(
            epochs, [100 * v for v in series("val_wer")], "o-", label="validation WER"
        )
    if "val_cer" in rows[0]:
        ax2.plot(
            epochs, [100 * v for v in series("val_cer")], "o-", label="validation CER"
        )
    ax2.set(xlabel="epoch", ylabel="%", title="Error rate")
    if ax2.lines:
        ax2.legend()
    fig.tight_layout()
    try:
        with atomic_path(png) as tmp:
            fig.savefig(tmp, dpi=90, format="png")
    finally:
        plt.close(fig)
