"""Checkpoint averaging: the mean of the weights of a run's N best epochs.

Averaging the parameters of several late checkpoints of one run is a cheap,
standard gain for CTC and attention models (ESPnet's `--keep_nbest_models`
with averaging, fairseq's `average_checkpoints.py`): the epochs sit around one
basin, and their mean generalises better than any one of them. It only makes
sense for checkpoints of one trajectory (one run, or a fine-tune of it).

`NBestSnapshots` keeps the N best epochs' weights during training; `asr.training.fit`
averages them at the end and keeps the average as `model.keras` only if its
validation WER is better than the best single epoch. `average_models` averages
model files after the fact (`scripts/average_models.py`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from asr.checkpoint import load_keras_model, resolve_model_path, save_model
from asr.files import atomic_path, atomic_write_text

logger = logging.getLogger(__name__)

INDEX = "index.json"


def average_weights(weight_lists: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
    """Element-wise mean of several models' `get_weights()` lists.

    Float arrays are averaged in float64 and cast back; integer arrays (step
    counters and the like) are taken from the last list.

    Raises:
        ValueError: no lists, or lists of different lengths or shapes.
    """
    if not weight_lists:
        raise ValueError("average_weights: nothing to average")
    first = weight_lists[0]
    for i, other in enumerate(weight_lists[1:], 1):
        if [np.shape(w) for w in other] != [np.shape(w) for w in first]:
            raise ValueError(
                f"average_weights: model {i} has other variables or shapes than "
                "model 0 (not the same architecture)"
            )
    out = []
    for k, w in enumerate(first):
        w = np.asarray(w)
        if w.dtype.kind == "f":
            mean = np.mean([np.asarray(m[k], np.float64) for m in weight_lists], axis=0)
            out.append(mean.astype(w.dtype))
        else:
            out.append(np.asarray(weight_lists[-1][k]))
    return out


class NBestSnapshots(keras.callbacks.Callback):
    """Keeps `FOLDER/epoch_NNN.weights.h5` for the `n` epochs with the lowest
    `monitor` so far; `FOLDER/index.json` lists them and survives resumes."""

    def __init__(self, network, folder: Path, n: int, monitor: str = "val_wer"):
        super().__init__()
        self.network, self.folder = network, Path(folder)
        self.n, self.monitor = n, monitor
        self.kept: list[dict] = read_index(self.folder)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value):
            return
        ranked = sorted(
            self.kept + [{"epoch": epoch + 1, "value": float(value)}],
            key=lambda e: (e["value"], -e["epoch"]),
        )
        keep, drop = ranked[: self.n], ranked[self.n :]
        if all(e["epoch"] != epoch + 1 for e in keep):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.folder / snapshot_name(epoch + 1), ".weights.h5") as tmp:
            self.network.save_weights(tmp)
        # The index changes before any file goes, so it never names a missing one.
        self.kept = sorted(keep, key=lambda e: e["epoch"])
        atomic_write_text(self.folder / INDEX, json.dumps(self.kept))
        for e in drop:
            (self.folder / snapshot_name(e["epoch"])).unlink(missing_ok=True)


def snapshot_name(epoch: int) -> str:
    return f"epoch_{epoch:03d}.weights.h5"


def read_index(folder: Path) -> list[dict]:
    """The snapshots that `NBestSnapshots` kept in `folder` (empty if none)."""
    path = Path(folder) / INDEX
    if not path.exists():
        return []
    kept = json.loads(path.read_text())
    return [e for e in kept if (Path(folder) / snapshot_name(e["epoch"])).exists()]


def average_snapshots(network: keras.Model, folder: Path) -> list[int]:
    """Sets `network`'s weights to the mean of the snapshots in `folder`;
    returns their epochs (empty, and `network` unchanged, if there are none)."""
    kept = read_index(folder)
    if not kept:
        return []
    current = network.get_weights()
    weight_lists = []
    try:
        for e in kept:
            network.load_weights(Path(folder) / snapshot_name(e["epoch"]))
            weight_lists.append(network.get_weights())
    finally:
        network.set_weights(current)
    network.set_weights(average_weights(weight_lists))
    return [e["epoch"] for e in kept]


def average_run_snapshots(
    run_dir: str | os.PathLike, out_dir: str | os.PathLike
) -> Path:
    """Averages the N best epochs kept in `RUN_DIR/epochs` (`train.average_best`)
    into `OUT_DIR/model.keras`, e.g. for a run stopped before its last epoch.

    Raises:
        ValueError: fewer than two snapshots kept.
    """
    run = Path(run_dir)
    network = load_keras_model(run / "model.keras")
    epochs = average_snapshots(network, run / "epochs")
    if len(epochs) < 2:
        raise ValueError(f"{run / 'epochs'}: fewer than two epoch snapshots to average")
    return _write_run(network, run, out_dir, {"run": str(run), "epochs": epochs})


def average_models(
    paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike
) -> Path:
    """Averages `.keras` model files (or run folders) of one architecture into
    `OUT_DIR/model.keras`, with the first one's `config.yaml` and `vocab.txt`.

    Raises:
        ValueError: fewer than two models, or different architectures.
    """
    files = [resolve_model_path(p) for p in paths]
    if len(files) < 2:
        raise ValueError("average_models: give at least two models")
    if any(f.suffix != ".keras" for f in files):
        raise ValueError("average_models: packed (.npz) models cannot be averaged")
    models = [load_keras_model(f) for f in files]
    try:
        averaged = average_weights([m.get_weights() for m in models])
    except ValueError as e:
        raise ValueError(f"{e}: {files}") from None
    models[0].set_weights(averaged)
    return _write_run(models[0], files[0].parent, out_dir, [str(f) for f in files])


def _write_run(network, source: Path, out_dir, averaged_from) -> Path:
    """`OUT_DIR/model.keras` + `source`'s config and vocabulary + provenance."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_model(network, out / "model.keras")
    for name in ("config.yaml", "vocab.txt"):
        if (source / name).exists():
            shutil.copyfile(source / name, out / name)
    atomic_write_text(out / "averaged_from.json", json.dumps(averaged_from, indent=1))
    logger.info("averaged %s into %s", averaged_from, out / "model.keras")
    return out / "model.keras"
