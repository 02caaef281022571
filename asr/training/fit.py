"""Training: `fit(cfg, run_dir)` builds or resumes a run and trains it.

The run folder holds `config.yaml` (resolved), `vocab.txt`, `model.keras` (best
by validation WER, or accuracy for the classifier head), `last.keras`,
`history.csv`, `learning_curve.png`, `skipped.jsonl`, TensorBoard logs in `tb/`
and the resumable state in `backup/` (`asr.training.backup`); with
`train.average_best: N`, also the N best epochs' weights in `epochs/` and their
average, `averaged.keras`. Running the same command again after an
interruption (`kill -9` included) resumes from the last checkpoint: an epoch's
end, or a mid-epoch one (`train.checkpoint_every_steps` / `_minutes`), where
it skips the batches already trained on and goes on with the same data order.
SIGTERM or SIGINT saves a checkpoint after the current step and raises
`TrainingInterrupted`. `train.max_minutes` ends training normally after the
step that spends the budget (`asr.training.callbacks.TimeBudget`), the epoch
cut short and validated, with a checkpoint of that step to go on from. Bad
manifest lines are logged and skipped.

Data parallelism (`train.strategy`): "mirrored" keeps one replica per local
GPU, "multiworker" one worker per `TF_CONFIG` task (each mirroring its GPUs).
`data.batch_size` is the global batch; each worker reads its own shard of the
file list, batches at the per-replica size and runs the same number of steps;
only the chief writes the run folder. See `fit`, `asr.training.distribute` and
`asr.training.step.Trainer`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from asr import text
from asr.audio import AUDIO_EXTENSIONS, load_audio
from asr.checkpoint import save_model
from asr.config import ConfigError, ExperimentConfig, dump_yaml
from asr.features import compute_feature_stats
from asr.files import atomic_write_text
from asr.interrupts import StopRequests
from asr.manifest import read_manifest
from asr.model import build_model, frontend_layers, set_normalization
from asr.training.averaging import NBestSnapshots, average_snapshots
from asr.training.backup import Backup, BackupStore, Position, check_resume_config
from asr.training.callbacks import (
    BestModelCheckpoint,
    LearningCurvePlot,
    NonFiniteLossError,
    NonFiniteLossGuard,
    TimeBudget,
    ValidationMetrics,
)
from asr.training.distribute import Cluster, make_strategy, plan_steps
from asr.training.optimizer import make_optimizer
from asr.training.pipeline import Skipped, make_dataset, usable_paths
from asr.training.step import Trainer
from asr.training.warmstart import init_from, load_teacher

logger = logging.getLogger(__name__)


def _feature_stats(cfg: ExperimentConfig, rows, max_utterances: int = 300):
    rng = np.random.default_rng(cfg.train.seed)
    pick = rng.permutation(len(rows))[:max_utterances]

    def waves():
        for i in pick:
            try:
                yield load_audio(rows[i].audio_filepath, *rows[i].segment)
            except Exception as e:  # reported by the pipeline later
                logger.debug("stats: skipping %s (%s)", rows[i].audio_filepath, e)

    return compute_feature_stats(waves(), cfg.features)


def fit(cfg: ExperimentConfig, run_dir: str | os.PathLike, verbose: int = 1):
    """Trains (or resumes) the run in `run_dir`. Returns the Keras History.

    Under `train.strategy=multiworker` every worker calls this with the same
    config and `run_dir`; only the chief writes to `run_dir`, the others write
    to a temporary folder that is deleted at the end. To resume, every worker
    reads the chief's `run_dir/backup`, so `run_dir` must be on a filesystem
    all workers share.
    """
    # First: MultiWorkerMirroredStrategy must start before any other TF op.
    strategy, cluster = make_strategy(cfg.train.strategy)
    run_dir = Path(run_dir)
    if not cfg.data.train_manifest:
        raise ConfigError("data.train_manifest: required for training")
    if cfg.model.head == "classifier" and not cfg.model.classes:
        rows = read_manifest(cfg.data.train_manifest, bad_lines=[])
        labels = tuple(sorted({r.text for r in rows}))
        cfg = dataclasses.replace(
            cfg, model=dataclasses.replace(cfg.model, classes=labels)
        )
    check_resume_config(run_dir, cfg)
    if cluster.is_chief:
        out_dir = run_dir
    else:
        out_dir = Path(tempfile.mkdtemp(prefix=f"asr-worker{cluster.worker_index}-"))
    try:
        return _fit(cfg, run_dir, out_dir, strategy, cluster, verbose)
    finally:
        if not cluster.is_chief:
            shutil.rmtree(out_dir, ignore_errors=True)


def _fit(
    cfg: ExperimentConfig,
    run_dir: Path,
    out_dir: Path,
    strategy: tf.distribute.Strategy,
    cluster: Cluster,
    verbose: int,
):
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "config.yaml", dump_yaml(cfg))
    text.write_vocab(out_dir / "vocab.txt")
    keras.utils.set_random_seed(cfg.train.seed)
    if cfg.train.mixed_precision:
        gpu = bool(tf.config.list_physical_devices("GPU"))
        keras.mixed_precision.set_global_policy(
            "mixed_float16" if gpu else "mixed_bfloat16"
        )

    skipped = Skipped()
    train_rows = read_manifest(cfg.data.train_manifest, bad_lines=[])
    noise = _load_noise(cfg)
    paths = usable_paths(train_rows, cfg)
    steps = plan_steps(cfg, len(paths), strategy.num_replicas_in_sync, cluster)
    # Per-replica batches one worker's pipeline gives per step.
    local = strategy.num_replicas_in_sync // cluster.num_workers

    def train_data(first_epoch: int, skip: int):
        """Epochs `first_epoch`.. of the training data, the first `skip`
        steps dropped (those a resumed run already trained on)."""
        return strategy.distribute_datasets_from_function(
            lambda ctx: make_dataset(
                train_rows,
                cfg,
                training=True,
                skipped=skipped,
                noise=noise,
                num_shards=ctx.num_input_pipelines,
                shard_index=ctx.input_pipeline_id,
                batch_size=ctx.get_per_replica_batch_size(cfg.data.batch_size),
                with_paths=False,
                epochs=range(first_epoch, cfg.train.epochs),
                steps_per_epoch=steps * local,
                skip_batches=skip * local,
            )
        )

    val_ds = val_loss_ds = None
    if cfg.data.val_manifest:
        val_rows = read_manifest(cfg.data.val_manifest, bad_lines=[])
        # For WER, every worker decodes the same utterances: the logs (and so
        # early stopping and the LR schedule) stay identical on all workers.
        val_ds = make_dataset(val_rows, cfg, training=False, skipped=skipped)
        # The validation loss, sharded like the training data.
        val_loss_ds = strategy.distribute_datasets_from_function(
            lambda ctx: make_dataset(
                val_rows,
                cfg,
                training=False,
                skipped=skipped,
                num_shards=ctx.num_input_pipelines,
                shard_index=ctx.input_pipeline_id,
                batch_size=ctx.get_per_replica_batch_size(cfg.data.batch_size),
                with_paths=False,
            )
        )

    with strategy.scope():
        network = build_model(cfg)
        if cfg.train.init_from:
            init_from(network, cfg.train.init_from)
        else:
            set_normalization(network, *_feature_stats(cfg, train_rows))
        if cfg.train.freeze_frontend:
            for layer in frontend_layers(network):
                layer.trainable = False
        t = cfg.train
        trainer = Trainer(
            network,
            head=cfg.model.head,
            clip_norm=t.clip_norm,
            paths=paths,
            multi_worker=cluster.num_workers > 1,
            teacher=load_teacher(t.distill_from, network) if t.distill_from else None,
            distill_weight=t.distill_weight,
            distill_shift=t.distill_shift,
            distill_temperature=t.distill_temperature,
        )
        trainer.compile(optimizer=make_optimizer(cfg, steps))
        trainer.optimizer.build(network.trainable_variables)

    # Every worker saves (saving may synchronise); all restore the chief's.
    store = BackupStore(run_dir / "backup", write_dir=out_dir / "backup")
    with strategy.scope():
        start = store.restore(trainer)
    if start != Position():
        logger.info(
            "resuming from %s at epoch %d%s",
            store.read_dir,
            start.epoch + 1,
            f", step {start.batch} of {steps}" if start.batch else "",
        )
    guard = NonFiniteLossGuard(trainer, cfg.train.nan_policy)
    validation = ValidationMetrics(
        network, val_ds, cfg, max_utterances=cfg.train.val_max_utterances
    )
    averaging = cfg.train.average_best > 1 and val_ds is not None
    with StopRequests() as stop:
        backup = Backup(
            store,
            start,
            steps,
            every_steps=cfg.train.checkpoint_every_steps,
            every_minutes=cfg.train.checkpoint_every_minutes,
            stop=stop,
            history_csv=out_dir / "history.csv",
            check_workers=cluster.num_workers > 1,
        )
        budget = [TimeBudget(cfg.train.max_minutes)] if cfg.train.max_minutes else []
        callbacks = [
            guard,
            *budget,  # before backup, which saves the step it stops at
            validation,
            backup,
            BestModelCheckpoint(network, out_dir, cfg),
            keras.callbacks.CSVLogger(str(out_dir / "history.csv"), append=True),
            keras.callbacks.TensorBoard(str(out_dir / "tb"), write_graph=False),
            LearningCurvePlot(out_dir / "history.csv", out_dir / "learning_curve.png"),
        ]
        if averaging:
            callbacks.append(
                NBestSnapshots(
                    network,
                    out_dir / "epochs",
                    cfg.train.average_best,
                    BestModelCheckpoint.monitor_name(cfg),
                )
            )
        if cfg.train.schedule == "plateau":
            callbacks.append(
                keras.callbacks.ReduceLROnPlateau(
                    monitor="val_loss" if val_ds is not None else "loss",
                    factor=0.5,
                    patience=2,
                )
            )
        if cfg.train.early_stopping_patience and val_ds is not None:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor=BestModelCheckpoint.monitor_name(cfg),
                    mode="min",
                    patience=cfg.train.early_stopping_patience,
                )
            )

        def run(first_epoch, last_epoch, skip):
            backup.start = Position(first_epoch, skip)
            return trainer.fit(
                train_data(first_epoch, skip),
                initial_epoch=first_epoch,
                epochs=last_epoch,
                steps_per_epoch=steps - skip,
                validation_data=val_loss_ds,
                callbacks=callbacks,
                verbose=verbose,
            )

        # A mid-epoch resume: first the rest of that epoch (Keras's epochs all
        # have `steps_per_epoch` steps), then the others.
        histories = []
        epoch = start.epoch
        if start.batch and epoch < cfg.train.epochs:
            histories.append(run(epoch, epoch + 1, start.batch))
            epoch += 1
        if epoch < cfg.train.epochs and not trainer.stop_training:
            histories.append(run(epoch, cfg.train.epochs, 0))
    history = _merge(histories) if histories else trainer.history
    _write_skipped(out_dir, skipped)
    if guard.error:
        raise NonFiniteLossError(
            f"{guard.error}. The weights of the last good step are kept in "
            f"{run_dir / 'backup'} and {run_dir / 'model.keras'}"
        )
    save_model(network, out_dir / "last.keras")
    if not (out_dir / "model.keras").exists():
        save_model(network, out_dir / "model.keras")
    if averaging:
        _keep_average_if_better(network, validation, out_dir, cfg)
    return history


def _merge(histories: list) -> keras.callbacks.History:
    """One History of consecutive `fit` calls (the last, with the earlier
    epochs' values in front)."""
    last = histories[-1]
    for h in reversed(histories[:-1]):
        last.epoch = h.epoch + last.epoch
        for key, values in h.history.items():
            last.history[key] = values + last.history.get(key, [])
    return last


def _keep_average_if_better(network, validation, out_dir: Path, cfg) -> None:
    """Averages the kept N best epochs; the average replaces `model.keras` (and
    `best.json`) only if its validation WER beats the best single epoch."""
    epochs = average_snapshots(network, out_dir / "epochs")
    if len(epochs) < 2:
        return
    logs = validation.evaluate()
    monitor = BestModelCheckpoint.monitor_name(cfg)
    save_model(network, out_dir / "averaged.keras")
    best_path = out_dir / "best.json"
    best = json.loads(best_path.read_text()) if best_path.exists() else {}
    value = logs[monitor]
    logger.info(
        "average of epochs %s: %s=%.4f (best single epoch %.4f)",
        epochs,
        monitor,
        value,
        best.get("value", float("nan")),
    )
    if value < best.get("value", float("inf")):
        save_model(network, out_dir / "model.keras")
        best = {"monitor": monitor, "value": value, "averaged_epochs": epochs}
        atomic_write_text(best_path, json.dumps(best))
        logger.info("model.keras = the average of epochs %s", epochs)


def _write_skipped(run_dir: Path, skipped: Skipped) -> None:
    atomic_write_text(
        run_dir / "skipped.jsonl",
        "".join(json.dumps(r) + "\n" for r in _dedupe(skipped.rows)),
    )
    if skipped.rows:
        logger.warning(
            "%d utterance(s) skipped; see %s",
            len(_dedupe(skipped.rows)),
            run_dir / "skipped.jsonl",
        )


def _dedupe(rows: list[dict]) -> list[dict]:
    seen, out = set(), []
    for r in rows:
        if r["audio_filepath"] not in seen:
            seen.add(r["audio_filepath"])
            out.append(r)
    return out


def _load_noise(cfg: ExperimentConfig) -> list[np.ndarray] | None:
    """The files of `augment.noise_dir`, one signal each (16 kHz)."""
    a = cfg.augment
    if not a.noise_dir or a.noise_prob <= 0:
        return None
    files = sorted(
        p for p in Path(a.noise_dir).rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS
    )
    if not files:
        raise ConfigError(
            f"augment.noise_dir: no audio files in {a.noise_dir} "
            "(`asr prepare noise --out DIR` writes some)"
        )
    return [load_audio(p) for p in files]
