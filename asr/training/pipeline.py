"""tf.data input pipeline: manifest -> checked rows -> decoded audio -> buckets.

Rows that cannot train are dropped *before* training and reported with the
reason: audio longer than `data.max_duration`, transcripts with characters
outside the vocabulary, and transcripts CTC cannot fit (labels plus repeats
longer than the model's output frames, which would make the loss infinite).
Files that fail to decode during training, or whose decoded audio turns out
too short for the transcript (a wrong duration in the manifest), are logged
once, listed and skipped; they never stop the run.

For data-parallel training each worker builds its own dataset from one shard of
the file list (`num_shards`, `shard_index`): it reads and decodes only its own
files, buckets them by length locally and batches at the per-replica batch
size, so a step's global batch is still `data.batch_size`. tf.data's own
auto-sharding is switched off: the sharding here is explicit.

Training by epochs (`make_dataset(..., epochs=range(first, last),
steps_per_epoch=N)`, what `asr.training.fit` uses): each epoch is N batches
whose utterances and order depend only on `train.seed`, the epoch number and
the file list (a stateless shuffle per pass over the files, deterministic
decoding), so a run resumed in the middle of an epoch rebuilds the epoch and
skips the batches it already trained on (`skip_batches`): it sees the same
batches as a run that was never stopped. Random augmentation draws (speed,
noise, SpecAugment, dropout) come from TF's random state and are not
replayed.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from asr import text
from asr.audio import SAMPLE_RATE, AudioLoadError, load_audio
from asr.augment import waveform_augmenter
from asr.config import ExperimentConfig
from asr.manifest import ManifestError, Utterance, read_manifest
from asr.model import too_short

logger = logging.getLogger(__name__)


@dataclass
class Skipped:
    """Rows left out, each with its reason; thread-safe for use inside tf.data.

    Each file is listed and (with `log`) logged once, however often it is met
    again (every epoch decodes a broken file anew)."""

    rows: list[dict] = field(default_factory=list)
    log: bool = True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _seen: set = field(default_factory=set, repr=False)

    def add(self, path: str, reason: str) -> None:
        with self._lock:
            if path in self._seen:
                return
            self._seen.add(path)
            self.rows.append({"audio_filepath": path, "reason": reason})
        if self.log:
            logger.warning("skipping %s: %s", path, reason)


def check_rows(
    rows: list[Utterance], cfg: ExperimentConfig, skipped: Skipped
) -> list[tuple[Utterance, list[int] | int]]:
    """Keeps the rows that can train; returns (row, label ids or class id)."""
    keep = []
    classes = {c: i for i, c in enumerate(cfg.model.classes)}
    for row in rows:
        if row.duration <= 0:
            skipped.add(row.audio_filepath, "duration is 0")
            continue
        if row.duration > cfg.data.max_duration:
            skipped.add(
                row.audio_filepath,
                f"{row.duration:.1f} s is longer than data.max_duration "
                f"({cfg.data.max_duration} s)",
            )
            continue
        if cfg.model.head == "classifier":
            if row.text not in classes:
                skipped.add(row.audio_filepath, f"label {row.text!r} is not a class")
                continue
            keep.append((row, classes[row.text]))
            continue
        bad = text.out_of_vocabulary(row.text)
        if bad:
            skipped.add(row.audio_filepath, f"characters outside the vocabulary: {bad}")
            continue
        ids = text.encode(row.text)
        if not ids:
            skipped.add(row.audio_filepath, "empty transcript")
            continue
        short = too_short(int(row.duration * SAMPLE_RATE), ids, cfg)
        if short:
            skipped.add(row.audio_filepath, short)
            continue
        keep.append((row, ids))
    return keep


def bucket_boundaries(durations: list[float], num_buckets: int) -> list[int]:
    """Sample-count boundaries at duration quantiles (equal-count buckets)."""
    if num_buckets <= 1 or len(durations) < 2 * num_buckets:
        return []
    qs = np.quantile(durations, np.linspace(0, 1, num_buckets + 1)[1:-1])
    bounds = sorted({int(q * SAMPLE_RATE) + 1 for q in qs})
    return bounds


def _load_or_empty(
    skipped: Skipped,
    cfg: ExperimentConfig,
    labels: np.ndarray,
    segments: list[tuple[float, float | None]],
):
    """Decodes a file (or the row's segment of it); a file that cannot be read,
    or whose audio is too short for its transcript (the manifest's duration was
    wrong), is reported and gives no samples."""
    classifier = cfg.model.head == "classifier"

    def load(path: bytes, index: np.int64, label_length: np.int32) -> np.ndarray:
        p = path.decode()
        try:
            audio = load_audio(p, *segments[int(index)])
        except AudioLoadError as e:
            skipped.add(p, str(e).removeprefix(f"{p}: "))
            return np.zeros(0, np.float32)
        ids = [] if classifier else labels[int(index), : int(label_length)].tolist()
        short = too_short(len(audio), ids, cfg)
        if short:
            skipped.add(p, short)
            return np.zeros(0, np.float32)
        return audio

    return load


def make_dataset(
    manifest: str | list[Utterance],
    cfg: ExperimentConfig,
    training: bool,
    skipped: Skipped | None = None,
    noise: np.ndarray | list[np.ndarray] | None = None,
    repeat: bool = False,
    num_shards: int = 1,
    shard_index: int = 0,
    batch_size: int | None = None,
    with_paths: bool = True,
    epochs: range | None = None,
    steps_per_epoch: int | None = None,
    skip_batches: int = 0,
) -> tf.data.Dataset:
    """Builds `((inputs, targets))` batches for `fit`.

    inputs: {"audio": (batch, samples) float32, "audio_lengths": (batch,) int32}
    targets: {"labels": (batch, max_labels) int32 (0-padded), "label_lengths":
    (batch,) int32, "index": (batch,) int64, "paths": (batch,) string} for CTC,
    or {"class_id": (batch,) int32, "index", "paths"} for the classifier head.
    `index` is the utterance's position in the usable rows (`check_rows` order,
    before sharding), so `usable_paths(...)[index]` names its file.

    Args:
        training: shuffle (unless `data.shuffle_buffer` <= 1, which keeps the
            manifest order) and apply waveform augmentation.
        noise: 16 kHz noise signals for `augment.noise_prob` (one array or a
            list, one per file; see `asr.augment.waveform_augmenter`).
        repeat: repeat the file list before decoding, so batches never run
            short at an epoch's end (use with a fixed `steps_per_epoch`).
        num_shards, shard_index: keep only every `num_shards`-th usable row,
            starting at `shard_index` (one worker's share of the file list).
        batch_size: batch size (default `data.batch_size`); the per-replica
            batch under tf.distribute.
        with_paths: include the string `paths` (tf.distribute on GPUs cannot
            copy string tensors to the device; `index` identifies files there).
        epochs, steps_per_epoch: training by epochs (see the module
            docstring): `steps_per_epoch` batches for each epoch in `epochs`
            (a range of 0-based epoch numbers), each epoch a function of its
            number; `repeat` and `data.shuffle_buffer`'s size are then unused
            (each pass over the files is a full shuffle, when shuffling).
        skip_batches: batches dropped from the start (with `epochs`: those
            of the first epoch a resumed run already trained on).
    Raises:
        ManifestError: no usable rows, or none of this shard's files decodes
            (checked until one does: normally the first).
        ValueError: fewer usable rows than shards.
    """
    skipped = skipped if skipped is not None else Skipped()
    rows = read_manifest(manifest) if isinstance(manifest, str) else list(manifest)
    checked = check_rows(rows, cfg, skipped)
    if not checked:
        raise ManifestError(
            f"{_name(manifest)}: no usable utterances ({_first_skipped(skipped)})"
        )
    classifier = cfg.model.head == "classifier"
    paths = [r.audio_filepath for r, _ in checked]
    max_label = 1 if classifier else max(len(ids) for _, ids in checked)
    labels = np.zeros((len(checked), max_label), np.int32)
    label_lengths = np.zeros(len(checked), np.int32)
    for i, (_, target) in enumerate(checked):
        if classifier:
            labels[i, 0] = target
            label_lengths[i] = 1
        else:
            labels[i, : len(target)] = target
            label_lengths[i] = len(target)

    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index {shard_index} not in [0, {num_shards})")
    if len(paths) < num_shards:
        raise ValueError(
            f"{_name(manifest)}: {len(paths)} usable utterance(s) cannot feed "
            f"{num_shards} workers; every worker needs at least one"
        )
    shard = range(shard_index, len(paths), num_shards)  # this shard's rows
    shuffle = training and cfg.data.shuffle_buffer > 1
    load = _load_or_empty(skipped, cfg, labels, [r.segment for r, _ in checked])
    if not any(len(load(paths[i].encode(), i, label_lengths[i])) for i in shard):
        # Every file fails to decode: a repeated dataset would wait forever.
        raise ManifestError(
            f"{_name(manifest)}: none of the {len(shard)} usable utterance(s) "
            f"could be decoded ({_first_skipped(skipped)})"
        )
    augment = (
        waveform_augmenter(cfg.augment, noise, seed=cfg.train.seed)
        if training
        else None
    )
    batch = batch_size or cfg.data.batch_size
    bounds = bucket_boundaries([r.duration for r, _ in checked], cfg.data.num_buckets)

    def batches(ds: tf.data.Dataset, deterministic: bool) -> tf.data.Dataset:
        """(path, label, label_length, index) rows -> padded `fit` batches."""

        def decode(path, label, label_length, index):
            audio = tf.numpy_function(
                load, [path, index, label_length], tf.float32, stateful=False
            )
            audio.set_shape([None])
            if augment is not None:
                audio = tf.cond(
                    tf.size(audio) > 0, lambda: augment(audio), lambda: audio
                )
            return audio, label, label_length, path, index

        ds = ds.map(
            decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic
        )
        # Decode failures and (after speed perturbation) too-short clips drop here.
        min_samples = cfg.features.win_length
        ds = ds.filter(lambda audio, *_: tf.size(audio) >= min_samples)

        def pack(audio, label, label_length, path, index):
            n = tf.shape(audio)[0]
            return audio, n, label[:label_length], label_length, path, index

        ds = ds.map(pack)
        shapes = ([None], [], [None], [], [], [])
        pads = (0.0, 0, 0, 0, b"", np.int64(-1))
        if bounds:
            ds = ds.bucket_by_sequence_length(
                element_length_func=lambda audio, *_: tf.shape(audio)[0],
                bucket_boundaries=bounds,
                bucket_batch_sizes=[batch] * (len(bounds) + 1),
                padded_shapes=shapes,
                padding_values=pads,
            )
        else:
            ds = ds.padded_batch(batch, padded_shapes=shapes, padding_values=pads)
        return ds

    if epochs is not None:
        if not steps_per_epoch:
            raise ValueError("make_dataset: `epochs` needs `steps_per_epoch`")
        rows = _epoch_rows(paths, labels, label_lengths, shard, shuffle, cfg.train.seed)
        ds = tf.data.Dataset.from_tensor_slices(
            np.arange(epochs.start, epochs.stop, dtype=np.int64)
        ).flat_map(lambda e: batches(rows(e), True).take(steps_per_epoch))
    else:
        index = np.arange(len(paths), dtype=np.int64)
        ds = tf.data.Dataset.from_tensor_slices((paths, labels, label_lengths, index))
        if num_shards > 1:
            ds = ds.shard(num_shards, shard_index)
        if shuffle:
            ds = ds.shuffle(
                min(len(shard), cfg.data.shuffle_buffer),
                seed=cfg.train.seed,
                reshuffle_each_iteration=True,
            )
        if repeat:
            ds = ds.repeat()
        # Out-of-order decoding is faster, but with shuffling off the order is fixed.
        ds = batches(ds, deterministic=not shuffle)
    if skip_batches:
        ds = ds.skip(skip_batches)

    def to_fit(audio, audio_lengths, label, label_lengths, path, index):
        inputs = {"audio": audio, "audio_lengths": audio_lengths}
        if classifier:
            targets = {"class_id": label[:, 0]}
        else:
            targets = {"labels": label, "label_lengths": label_lengths}
        targets["index"] = index
        if with_paths:
            targets["paths"] = path
        return inputs, targets

    ds = ds.map(to_fit).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
    )
    return ds.with_options(options)


def _epoch_rows(paths, labels, label_lengths, shard: range, shuffle: bool, seed: int):
    """`fn(epoch) -> Dataset` of this shard's rows `(path, label, label_length,
    index)` for one epoch: endless passes over the shard, each pass in the
    shard's order or (`shuffle`) a permutation drawn statelessly from
    `(seed, epoch, pass)`: the same in every process."""
    table = (tf.constant(paths), tf.constant(labels), tf.constant(label_lengths))
    rows = tf.constant(np.asarray(shard, dtype=np.int64))
    n = len(shard)

    def one_pass(epoch, p):
        if not shuffle:
            return tf.data.Dataset.from_tensor_slices(rows)
        key = tf.stack([tf.constant(seed, tf.int64), epoch * 1_000_003 + p])
        order = tf.argsort(tf.random.stateless_uniform([n], seed=key))
        return tf.data.Dataset.from_tensor_slices(tf.gather(rows, order))

    def row(i):
        return tuple(tf.gather(t, i) for t in table) + (i,)

    def epoch_rows(epoch):
        passes = tf.data.Dataset.counter(dtype=tf.int64)
        return passes.flat_map(lambda p: one_pass(epoch, p)).map(row)

    return epoch_rows


def usable_paths(manifest: str | list[Utterance], cfg: ExperimentConfig) -> list[str]:
    """The files `make_dataset` can train on, in the order its `index` counts."""
    rows = read_manifest(manifest) if isinstance(manifest, str) else list(manifest)
    return [r.audio_filepath for r, _ in check_rows(rows, cfg, Skipped(log=False))]


def _name(manifest: str | list[Utterance]) -> str:
    return manifest if isinstance(manifest, str) else "manifest"


def _first_skipped(skipped: Skipped) -> str:
    if not skipped.rows:
        return "nothing was skipped"
    first = skipped.rows[0]
    return (
        f"{len(skipped.rows)} skipped; first: {first['audio_filepath']}: "
        f"{first['reason']}"
    )
