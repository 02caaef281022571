"""Training: `fit(cfg, run_dir)` builds or resumes a run and trains it.

The run folder holds `config.yaml` (resolved), `vocab.txt`, `model.keras` (best
by validation WER, or accuracy for the classifier head), `last.keras`,
`history.csv`, `learning_curve.png`, `skipped.jsonl`, TensorBoard logs in `tb/`
and the resumable state in `backup/`. Running the same command again after an
interruption resumes from the last completed epoch (or step, with
`train.backup_every_steps`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from asr import text
from asr.audio import load_audio
from asr.callbacks import (
    AtomicBackupAndRestore,
    BestModelCheckpoint,
    LearningCurvePlot,
    NonFiniteLossError,
    NonFiniteLossGuard,
    ValidationMetrics,
    save_model_atomic,
)
from asr.config import ConfigError, ExperimentConfig, dump_yaml, from_dict
from asr.ctc import ctc_loss
from asr.features import compute_feature_stats
from asr.manifest import atomic_write_text, read_manifest
from asr.model import build_model, frontend_layers, set_normalization
from asr.pipeline import Skipped, check_rows, make_dataset

logger = logging.getLogger(__name__)


class Trainer(keras.Model):
    """Wraps the functional network with a CTC (or cross-entropy) train step.

    Steps whose loss or gradients are not finite never touch the weights;
    the guard callback then stops or continues as `train.nan_policy` says.
    """

    def __init__(self, network: keras.Model, head: str = "ctc", **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.head = head
        self.built = True  # the wrapped network is built; nothing of its own
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.nonfinite = keras.metrics.Sum(name="nonfinite_steps")
        self.bad_paths = tf.Variable(
            tf.constant([], tf.string), shape=tf.TensorShape([None]), trainable=False
        )

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker, self.nonfinite]

    def _per_utterance_loss(self, y, y_pred):
        logits, logit_lengths = y_pred
        if self.head == "classifier":
            return keras.losses.sparse_categorical_crossentropy(
                y["class_id"], logits, from_logits=True
            )
        return ctc_loss(y["labels"], logits, y["label_lengths"], logit_lengths)

    def _scaled_loss(self, y, y_pred):
        per_utt = self._per_utterance_loss(y, y_pred)
        # Sum / global batch: correct gradients when replicas' grads are summed.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        global_batch = tf.cast(tf.shape(per_utt)[0] * replicas, tf.float32)
        loss = tf.reduce_sum(per_utt) / global_batch
        if self.network.losses:
            loss += tf.add_n(self.network.losses) / replicas
        return loss

    def train_step(self, data):
        x, y = data
        variables = self.network.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self.network(x, training=True)
            loss = self._scaled_loss(y, y_pred)
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        finite = tf.math.is_finite(loss)
        for g in grads:
            if g is not None:
                finite &= tf.reduce_all(tf.math.is_finite(g))

        def apply():
            self.optimizer.apply_gradients(zip(grads, variables))
            return tf.constant(0.0)

        def skip():
            self.bad_paths.assign(y["paths"])
            return tf.constant(1.0)

        bad = tf.cond(finite, apply, skip)
        self.nonfinite.update_state(bad)
        self.loss_tracker.update_state(tf.where(finite, loss, 0.0))
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        y_pred = self.network(x, training=False)
        loss = self._scaled_loss(y, y_pred)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


def _schedule(cfg: ExperimentConfig, steps_per_epoch: int):
    t = cfg.train
    if t.schedule == "plateau":
        return t.learning_rate  # ReduceLROnPlateau adjusts it
    total = max(1, steps_per_epoch * t.epochs)
    warmup = min(t.warmup_steps, total // 2)
    if t.schedule == "constant":
        return (
            keras.optimizers.schedules.CosineDecay(
                0.0,
                1,
                alpha=1.0,
                warmup_target=t.learning_rate,
                warmup_steps=max(warmup, 1),
            )
            if warmup
            else t.learning_rate
        )
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=t.learning_rate / 100 if warmup else t.learning_rate,
        decay_steps=max(1, total - warmup),
        alpha=0.02,
        warmup_target=t.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def _optimizer(
    cfg: ExperimentConfig, steps_per_epoch: int
) -> keras.optimizers.Optimizer:
    t = cfg.train
    lr = _schedule(cfg, steps_per_epoch)
    clip = t.clip_norm or None
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(
            lr, weight_decay=t.weight_decay, global_clipnorm=clip
        )
    return keras.optimizers.Adam(lr, global_clipnorm=clip)


def _strategy(name: str) -> tf.distribute.Strategy:
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _check_resume_config(run_dir: Path, cfg: ExperimentConfig) -> None:
    saved = run_dir / "config.yaml"
    if not saved.exists() or not (run_dir / "backup").exists():
        return
    import yaml

    old = from_dict(yaml.safe_load(saved.read_text()))
    if old != cfg:
        raise ConfigError(
            f"{saved}: this run folder was started with a different config; "
            "use a new --out folder, or delete the folder to start over"
        )


def _feature_stats(cfg: ExperimentConfig, rows, max_utterances: int = 300):
    rng = np.random.default_rng(cfg.train.seed)
    pick = rng.permutation(len(rows))[:max_utterances]

    def waves():
        for i in pick:
            try:
                yield load_audio(rows[i].audio_filepath)
            except Exception as e:  # reported by the pipeline later
                logger.debug("stats: skipping %s (%s)", rows[i].audio_filepath, e)

    return compute_feature_stats(waves(), cfg.features)


def fit(cfg: ExperimentConfig, run_dir: str | os.PathLike, verbose: int = 1):
    """Trains (or resumes) the run in `run_dir`. Returns the Keras History."""
    run_dir = Path(run_dir)
    if not cfg.data.train_manifest:
        raise ConfigError("data.train_manifest: required for training")
    if cfg.model.head == "classifier" and not cfg.model.classes:
        labels = tuple(sorted({r.text for r in read_manifest(cfg.data.train_manifest)}))
        cfg = dataclasses.replace(
            cfg, model=dataclasses.replace(cfg.model, classes=labels)
        )
    _check_resume_config(run_dir, cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", dump_yaml(cfg))
    text.write_vocab(run_dir / "vocab.txt")
    keras.utils.set_random_seed(cfg.train.seed)
    if cfg.train.mixed_precision:
        gpu = bool(tf.config.list_physical_devices("GPU"))
        keras.mixed_precision.set_global_policy(
            "mixed_float16" if gpu else "mixed_bfloat16"
        )

    skipped = Skipped()
    train_rows = read_manifest(cfg.data.train_manifest)
    noise = _load_noise(cfg)
    strategy = _strategy(cfg.train.strategy)
    train_ds = make_dataset(
        train_rows, cfg, training=True, skipped=skipped, noise=noise
    )
    usable = len(check_rows(train_rows, cfg, Skipped()))
    steps = cfg.train.steps_per_epoch or max(1, math.ceil(usable / cfg.data.batch_size))
    val_ds = None
    if cfg.data.val_manifest:
        val_ds = make_dataset(
            cfg.data.val_manifest, cfg, training=False, skipped=skipped
        )
    logger.info(
        "strategy %s, %d replica(s), global batch %d, %d steps/epoch",
        cfg.train.strategy,
        strategy.num_replicas_in_sync,
        cfg.data.batch_size,
        steps,
    )

    with strategy.scope():
        network = build_model(cfg)
        if cfg.train.init_from:
            _init_from(network, cfg.train.init_from)
        else:
            set_normalization(network, *_feature_stats(cfg, train_rows))
        if cfg.train.freeze_frontend:
            for layer in frontend_layers(network):
                layer.trainable = False
        trainer = Trainer(network, head=cfg.model.head)
        trainer.compile(optimizer=_optimizer(cfg, steps))
        trainer.optimizer.build(network.trainable_variables)

    guard = NonFiniteLossGuard(trainer, cfg.train.nan_policy)
    callbacks = [
        guard,
        ValidationMetrics(
            network, val_ds, cfg, max_utterances=cfg.train.val_max_utterances
        ),
        AtomicBackupAndRestore(run_dir / "backup"),
        BestModelCheckpoint(network, run_dir, cfg),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(run_dir / "tb"), write_graph=False),
        LearningCurvePlot(run_dir / "history.csv", run_dir / "learning_curve.png"),
    ]
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

    history = trainer.fit(
        train_ds.repeat(),
        epochs=cfg.train.epochs,
        steps_per_epoch=steps,
        validation_data=val_ds,
        callbacks=callbacks,
        verbose=verbose,
    )
    _write_skipped(run_dir, skipped)
    if guard.error:
        raise NonFiniteLossError(
            f"{guard.error}. The weights of the last good step are kept in "
            f"{run_dir / 'backup'} and {run_dir / 'model.keras'}"
        )
    save_model_atomic(network, run_dir / "last.keras")
    if not (run_dir / "model.keras").exists():
        save_model_atomic(network, run_dir / "model.keras")
    return history


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


def _load_noise(cfg: ExperimentConfig) -> np.ndarray | None:
    a = cfg.augment
    if not a.noise_dir or a.noise_prob <= 0:
        return None
    files = sorted(
        p
        for p in Path(a.noise_dir).rglob("*")
        if p.suffix.lower() in (".wav", ".flac", ".ogg", ".mp3")
    )
    if not files:
        raise ConfigError(f"augment.noise_dir: no audio files in {a.noise_dir}")
    return np.concatenate([load_audio(p) for p in files])


def _init_from(network: keras.Model, source: str) -> None:
    """Copies weights layer by layer from a trained model (matching names and
    shapes), e.g. to fine-tune on new data."""
    from asr.transcribe import resolve_model_path

    src = keras.saving.load_model(resolve_model_path(source), safe_mode=True)
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
    logger.info("initialised %d layers from %s", copied, source)
    if copied == 0:
        raise ValueError(f"{source}: no layer matched the new model")
