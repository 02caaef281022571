"""The resumable state of a run (`backup/` in the run folder) and the
callback that keeps it.

A checkpoint is two files: `ckpt-STEP.weights.h5` (the trainer's weights: the
network, the optimizer's moments and step counter, hence the learning-rate
schedule) and `ckpt-STEP.json` (`{"epoch", "batch", "step", "weights",
"bytes", "sha256"}`: `epoch` epochs done and `batch` batches of the next one,
and the weights file's size and hash), written in that order, each atomically
(`asr.files`). `training_metadata.json` repeats the newest one's JSON (for
people and scripts). The newest `KEEP` checkpoints are kept.

A checkpoint is written when an epoch ends (once every other callback is done
with it, so the backup never runs ahead of `model.keras`, `best.json` and
`history.csv`), every `train.checkpoint_every_steps` steps and every
`train.checkpoint_every_minutes` minutes, when a SIGTERM or SIGINT asks
the run to stop (`asr.interrupts`), and after a step at which a callback
before `Backup` ended training mid-epoch (`model.stop_training`: the time
budget, `train.max_minutes`, or the non-finite-loss guard): that checkpoint
is the step reached, not the epoch's end Keras still signals. The JSON also
holds `steps_per_epoch` (for people and scripts; not read back).

On resume (`BackupStore.restore`) the newest checkpoint whose JSON parses and
whose weights match their size and hash and load is used; a damaged one
(truncated, empty, other content) is named in a warning and the one before it
tried. If checkpoints exist but none is usable, `DamagedBackupError`: a run
never starts over silently. Weights without their JSON (a kill between the
two writes) are an unfinished checkpoint and are ignored. Run folders of
earlier versions (`latest.weights.h5` + `training_metadata.json`, no hash)
resume too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from asr.config import ConfigError, ExperimentConfig, from_dict, to_dict
from asr.files import atomic_path, atomic_write_text, remove_stale_temp_files
from asr.interrupts import Interrupted, StopRequests
from asr.training.callbacks import trim_history
from asr.yaml12 import yaml_load

logger = logging.getLogger(__name__)

KEEP = 2  # checkpoints kept: the newest and one to fall back on
METADATA = "training_metadata.json"
LEGACY_WEIGHTS = "latest.weights.h5"  # Keras's BackupAndRestore layout
_CKPT = re.compile(r"^ckpt-(\d+)\.json$")


class DamagedBackupError(FileNotFoundError):
    """`backup/` holds checkpoints but none can be loaded."""


class TrainingInterrupted(Interrupted):
    """Training stopped on SIGTERM/SIGINT after saving a checkpoint."""


@dataclass(frozen=True)
class Position:
    """Where a run stands: `epoch` epochs done (0-based: the epoch to run
    next) and `batch` batches of that epoch trained."""

    epoch: int = 0
    batch: int = 0


class BackupStore:
    """Checkpoints read from `read_dir` and written to `write_dir` (the same
    folder, except on non-chief workers, which read the chief's)."""

    def __init__(self, read_dir, write_dir=None, keep: int = KEEP):
        self.read_dir = Path(read_dir)
        self.write_dir = Path(write_dir or read_dir)
        self.keep = keep

    def _checkpoints(self, folder: Path) -> list[tuple[int, Path]]:
        """(step, json path), newest first; a legacy backup is step -1."""
        found = []
        if folder.is_dir():
            for path in folder.iterdir():
                m = _CKPT.match(path.name)
                if m:
                    found.append((int(m[1]), path))
        found.sort(reverse=True)
        legacy = folder / METADATA
        if (folder / LEGACY_WEIGHTS).exists() and legacy.exists():
            found.append((-1, legacy))
        return found

    def restore(self, model: keras.Model) -> Position:
        """Loads the newest usable checkpoint into `model` (weights and
        optimizer state); returns its position, or `Position()` (nothing
        loaded) when there is none.

        Raises:
            DamagedBackupError: checkpoints exist, none can be loaded.
        """
        candidates = self._checkpoints(self.read_dir)
        damaged: list[str] = []
        for _, meta in candidates:
            try:
                position, weights = _read_checkpoint(meta)
                if model.optimizer is not None and not model.optimizer.built:
                    model.optimizer.build(model.trainable_variables)
                model.load_weights(weights)
                bad = [
                    v.path
                    for v in model.weights
                    if not np.all(np.isfinite(keras.ops.convert_to_numpy(v)))
                ]
                if bad:
                    raise ValueError(f"non-finite values in {bad[0]}")
            except Exception as e:
                reason = f"{type(e).__name__}: {e}".splitlines()[0][:300]
                logger.warning(
                    "%s: damaged checkpoint, not used (%s); trying an older one",
                    meta,
                    reason,
                )
                damaged.append(str(meta))
                continue
            if damaged:
                logger.warning(
                    "resuming from the older checkpoint %s (damaged: %s)",
                    meta,
                    ", ".join(damaged),
                )
            return position
        if damaged:
            raise DamagedBackupError(
                f"{self.read_dir}: no usable checkpoint (damaged: "
                f"{', '.join(damaged)}); restore the folder from a copy, or "
                "delete it to train from scratch"
            )
        return Position()

    def save(
        self,
        model: keras.Model,
        position: Position,
        step: int,
        steps_per_epoch: int | None = None,
    ) -> Path:
        """Writes a checkpoint of `model` at `position` (`step`: the global
        step, which names it; `steps_per_epoch`, if given, goes in its JSON)
        and removes all but the newest `keep`."""
        folder = self.write_dir
        name = f"ckpt-{step:09d}"
        weights = folder / f"{name}.weights.h5"
        with atomic_path(weights, ".weights.h5") as tmp:
            model.save_weights(tmp, overwrite=True)
            size, digest = _file_hash(tmp)
        meta = {
            "epoch": position.epoch,
            "batch": position.batch,
            "step": step,
            "weights": weights.name,
            "bytes": size,
            "sha256": digest,
        }
        if steps_per_epoch is not None:
            meta["steps_per_epoch"] = steps_per_epoch
        atomic_write_text(folder / f"{name}.json", json.dumps(meta))
        atomic_write_text(folder / METADATA, json.dumps(meta))
        self._prune()
        return weights

    def _prune(self) -> None:
        folder = self.write_dir
        for n, meta in self._checkpoints(folder)[self.keep :]:
            if n < 0:
                (folder / LEGACY_WEIGHTS).unlink(missing_ok=True)
                continue
            meta.unlink(missing_ok=True)
            meta.with_name(meta.name.replace(".json", ".weights.h5")).unlink(
                missing_ok=True
            )
        # Weights whose JSON never came (a kill in between) and that are older
        # than the newest checkpoint.
        kept = {
            int(_CKPT.match(m.name)[1]) for n, m in self._checkpoints(folder) if n >= 0
        }
        newest = max(kept, default=-1)
        for path in folder.glob("ckpt-*.weights.h5"):
            m = re.match(r"^ckpt-(\d+)\.weights\.h5$", path.name)
            if m and int(m[1]) not in kept and int(m[1]) < newest:
                path.unlink(missing_ok=True)


def _file_hash(path: Path) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def _read_checkpoint(meta_path: Path) -> tuple[Position, Path]:
    """A checkpoint's position and weights file, checked against the JSON's
    size and hash (a legacy one has neither).

    Raises:
        ValueError, OSError: the JSON or the weights are damaged or missing.
    """
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise ValueError("not a JSON object")
    epoch, batch = meta.get("epoch"), meta.get("batch", 0)
    if not all(isinstance(v, int) and v >= 0 for v in (epoch, batch)):
        raise ValueError(f"bad epoch/batch {epoch!r}/{batch!r}")
    if meta_path.name == METADATA:  # legacy: epoch boundaries only
        return Position(epoch, 0), meta_path.with_name(LEGACY_WEIGHTS)
    weights = meta_path.with_name(str(meta.get("weights", "")))
    if not weights.name.endswith(".weights.h5") or weights.parent != meta_path.parent:
        raise ValueError(f"bad weights name {meta.get('weights')!r}")
    size, digest = _file_hash(weights)
    if size != meta.get("bytes") or digest != meta.get("sha256"):
        raise ValueError(
            f"{weights.name} is {size} bytes with another hash than the "
            f"{meta.get('bytes')} bytes saved (truncated or overwritten)"
        )
    return Position(epoch, batch), weights


class Backup(keras.callbacks.Callback):
    """Keeps `store` up to date during `fit` (see the module docstring) and
    stops training cleanly on a signal `stop` caught.

    Args:
        store: where checkpoints go.
        start: the position this `fit` call starts at (its first epoch
            starts `start.batch` batches in).
        steps_per_epoch: the epoch's full length in steps.
        every_steps, every_minutes: mid-epoch checkpoint intervals (0: off).
        stop: the signal flag checked after every step.
        history_csv: the `CSVLogger` file trimmed to the restored epoch.
        check_workers: all workers must have restored the same position.
    """

    def __init__(
        self,
        store: BackupStore,
        start: Position,
        steps_per_epoch: int,
        every_steps: int = 0,
        every_minutes: float = 0.0,
        stop: StopRequests | None = None,
        history_csv=None,
        check_workers: bool = False,
    ):
        super().__init__()
        self.store, self.start = store, start
        self.steps_per_epoch = steps_per_epoch
        self.every_steps, self.every_minutes = every_steps, every_minutes
        self.stop = stop
        self.history_csv = Path(history_csv or store.write_dir.parent / "history.csv")
        self.check_workers = check_workers
        self._pending: Position | None = None
        self._cut = False  # the epoch was ended early; its end is no end
        self._epoch, self._offset = 0, 0
        self._since_save, self._saved_at = 0, time.monotonic()
        self.saved: Position | None = None

    def on_train_begin(self, logs=None):
        for folder in (self.store.write_dir, self.store.write_dir.parent):
            remove_stale_temp_files(folder)
        trim_history(self.history_csv, self.start.epoch)
        if self.check_workers:
            _check_same_on_all_workers(
                self.model.distribute_strategy,
                self.start.epoch * self.steps_per_epoch + self.start.batch,
            )
        self._since_save, self._saved_at = 0, time.monotonic()

    def _save(self, position: Position) -> None:
        step = position.epoch * self.steps_per_epoch + position.batch
        self.store.save(self.model, position, step, self.steps_per_epoch)
        self.saved = position
        self._since_save, self._saved_at = 0, time.monotonic()

    def _commit(self) -> None:
        if self._pending is not None:
            position, self._pending = self._pending, None
            self._save(position)

    def on_epoch_begin(self, epoch, logs=None):
        self._commit()
        self._epoch, self._cut = epoch, False
        self._offset = self.start.batch if epoch == self.start.epoch else 0
        if self.stop is not None and self.stop.requested:
            position = Position(epoch, self._offset)
            if self.saved != position:
                self._save(position)
            self._interrupted(position)

    def on_train_batch_end(self, batch, logs=None):
        done = self._offset + batch + 1
        self._since_save += 1
        if done >= self.steps_per_epoch:
            return  # the epoch's end writes this one (after validation)
        position = Position(self._epoch, done)
        if self.stop is not None and self.stop.requested:
            self._save(position)
            self._interrupted(position)
        if self.model.stop_training:  # a callback before this one ended the epoch
            self._save(position)
            self._cut = True
            return
        due = self.every_steps and self._since_save >= self.every_steps
        late = (
            self.every_minutes
            and time.monotonic() - self._saved_at >= 60 * self.every_minutes
        )
        if due or late:
            self._save(position)

    def on_epoch_end(self, epoch, logs=None):
        if not self._cut:  # committed once the others are done
            self._pending = Position(epoch + 1, 0)

    def on_train_end(self, logs=None):
        self._commit()

    def _interrupted(self, position: Position) -> None:
        raise TrainingInterrupted(
            f"stopped by {self.stop.requested} at epoch {position.epoch + 1}, "
            f"step {position.batch} of {self.steps_per_epoch}; the state is "
            f"saved in {self.store.write_dir}: run the same command again to "
            "resume"
        )


def _check_same_on_all_workers(strategy, step: int) -> None:
    """Raises if the workers restored different steps (a collective op)."""
    import tensorflow as tf

    value = tf.constant([float(step)])
    gathered = strategy.gather(strategy.run(lambda: tf.identity(value)), axis=0)
    steps = sorted({int(e) for e in gathered.numpy().tolist()})
    if len(steps) > 1:
        raise RuntimeError(
            f"workers restored different steps {steps} from their backups: "
            "the run folder must be on a filesystem every worker shares"
        )


# Keys a resumed run may change: they bound how long this sitting trains, not
# what it learns.
RESUMABLE_CHANGES = ("train.max_minutes",)


def check_resume_config(run_dir: Path, cfg: ExperimentConfig) -> None:
    """Refuses to resume `run_dir` (a run with a backup) under a config other
    than the one it started with, naming the keys that differ; only
    `RESUMABLE_CHANGES` may change."""
    saved = run_dir / "config.yaml"
    if not saved.exists() or not (run_dir / "backup").exists():
        return
    old = _flat(to_dict(from_dict(yaml_load(saved.read_text()))))
    new = _flat(to_dict(cfg))
    changed = sorted(
        k
        for k in old.keys() | new.keys()
        if old.get(k) != new.get(k) and k not in RESUMABLE_CHANGES
    )
    if changed:
        shown = ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:5])
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        raise ConfigError(
            f"{saved}: this run folder was started with a different config "
            f"({shown}{more}); use a new --out folder, or delete the folder "
            "to start over"
        )


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out
