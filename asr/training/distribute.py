"""Where a training process stands in a `tf.distribute` run, and how the
global batch, the data and the learning rate are split across replicas and
workers (`train.strategy`; see `asr.training.fit`)."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os

import tensorflow as tf

from asr.config import ConfigError, ExperimentConfig

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Cluster:
    """Where this process stands in a (multi-worker) run."""

    num_workers: int = 1
    worker_index: int = 0
    is_chief: bool = True


def make_strategy(name: str) -> tuple[tf.distribute.Strategy, Cluster]:
    """The tf.distribute strategy for `train.strategy`, and this worker's place.

    "mirrored": one replica per local GPU (without GPUs, per logical CPU
    device, which is only useful for tests). "multiworker": one worker per
    `TF_CONFIG` task, each mirroring its local GPUs. Must run before anything
    else touches the TF runtime (collective ops are set up at start-up).
    """
    if name == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices), Cluster()
    if name == "multiworker":
        raw = os.environ.get("TF_CONFIG")
        if not raw:
            logger.warning("TF_CONFIG is not set: multiworker runs as one worker")
        else:
            try:
                tf_config = json.loads(raw)
                tf_config["cluster"], tf_config["task"]["type"]
            except (ValueError, KeyError, TypeError) as e:
                raise ConfigError(
                    f"TF_CONFIG: not a cluster spec ({e}); expected "
                    '{"cluster": {"worker": ["host:port", ...]}, '
                    '"task": {"type": "worker", "index": 0}}'
                ) from None
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        resolver = strategy.cluster_resolver
        spec = resolver.cluster_spec().as_dict()
        task_type, task_id = resolver.task_type, resolver.task_id or 0
        workers = sum(len(spec.get(t, ())) for t in ("chief", "worker")) or 1
        index = task_id + (1 if task_type == "worker" and "chief" in spec else 0)
        chief = task_type in (None, "chief") or (
            task_type == "worker" and task_id == 0 and "chief" not in spec
        )
        return strategy, Cluster(workers, index, chief)
    return tf.distribute.get_strategy(), Cluster()


def plan_steps(
    cfg: ExperimentConfig, usable: int, replicas: int, cluster: Cluster
) -> int:
    """Returns the steps per epoch; checks and logs how the batch, data and
    learning rate are split.

    `data.batch_size` is the global batch: a step sees that many utterances
    whatever the number of replicas, so the learning rate is used as given
    (no scaling with the replica count; the optimisation is the single-device
    one with the same batch). Every worker runs the same number of steps, as
    collective ops need: its input repeats, so it never runs dry.
    """
    batch = cfg.data.batch_size
    if batch % replicas:
        raise ConfigError(
            f"data.batch_size: {batch} (the global batch) is not divisible by "
            f"the {replicas} replicas; use a multiple of {replicas}"
        )
    if usable < cluster.num_workers:
        raise ConfigError(
            f"data.train_manifest: {usable} usable utterance(s) for "
            f"{cluster.num_workers} workers; every worker needs at least one"
        )
    steps = cfg.train.steps_per_epoch or max(1, math.ceil(usable / batch))
    per_worker = batch // cluster.num_workers
    logger.info(
        "strategy %s: %d worker(s), this is worker %d%s; %d replica(s) in sync",
        cfg.train.strategy,
        cluster.num_workers,
        cluster.worker_index,
        " (chief)" if cluster.is_chief else "",
        replicas,
    )
    logger.info(
        "global batch %d = %d replica(s) x %d; %d per worker; %d steps/epoch "
        "over %d usable utterances",
        batch,
        replicas,
        batch // replicas,
        per_worker,
        steps,
        usable,
    )
    logger.info(
        "learning rate %g as given: data.batch_size is the global batch, so "
        "it is not scaled with the replica count",
        cfg.train.learning_rate,
    )
    if cluster.num_workers > 1:
        logger.info(
            "input: worker %d reads files #%d, #%d, ... (every %d-th, %d files), "
            "buckets and batches them itself; tf.data auto-sharding is off",
            cluster.worker_index,
            cluster.worker_index,
            cluster.worker_index + cluster.num_workers,
            cluster.num_workers,
            len(range(cluster.worker_index, usable, cluster.num_workers)),
        )
    return steps
