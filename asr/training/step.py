"""The train step: `Trainer` wraps a `build_model` network with a CTC (or
cross-entropy) loss that is correct under any tf.distribute strategy, with
global-norm clipping, a non-finite-step guard and, optionally, distillation
from a frozen teacher. `asr.training.fit.fit` drives it.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from asr.training.loss import ctc_loss, distillation_loss


class Trainer(keras.Model):
    """Wraps the functional network with a CTC (or cross-entropy) train step.

    The step is correct under any tf.distribute strategy: the loss is the sum
    of per-utterance losses over the *global* batch (all replicas) divided by
    its size; the loss and gradients are all-reduced once, so every replica
    sees the same global loss, gradient norm and finite flag. Gradients are
    clipped by that global norm (`clip_norm`; Keras's own `global_clipnorm`
    would clip each replica's share before the sum). Steps whose loss or
    gradients are not finite never touch the weights, on every replica alike;
    the guard callback then stops or continues as `train.nan_policy` says.

    With a `teacher` (a frozen network with the same inputs and output
    frames), the training loss adds `distill_weight` x
    `asr.training.loss.distillation_loss` against its posteriors; the validation loss
    stays plain CTC, comparable with runs without a teacher.
    """

    def __init__(
        self,
        network: keras.Model,
        head: str = "ctc",
        clip_norm: float = 0.0,
        paths: list[str] | None = None,
        multi_worker: bool = False,
        teacher: keras.Model | None = None,
        distill_weight: float = 1.0,
        distill_shift: int = 0,
        distill_temperature: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.teacher = teacher
        if teacher is not None:
            teacher.trainable = False
        self.distill = (float(distill_weight), int(distill_shift), distill_temperature)
        self.multi_worker = multi_worker
        self.network = network
        self.head = head
        self.clip_norm = float(clip_norm)
        self.paths = paths  # index -> file, to name a bad batch's files
        self.built = True  # the wrapped network is built; nothing of its own
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.nonfinite = ReplicaInvariantSum(name="nonfinite_steps")
        # Each replica keeps its own last bad batch (ints: strings cannot live
        # in GPU variables); read with `bad_files()`.
        self.bad_index = tf.Variable(
            tf.zeros([0], tf.int64),
            shape=tf.TensorShape([None]),
            trainable=False,
            synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.NONE,
        )

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3 (TF backend), under a strategy, pulls the first batch off the
        # training iterator to build the model (that batch is never trained
        # on) and averages it across replicas, which fails when replicas'
        # batches are padded to different lengths. The network is built and
        # `fit` builds the optimizer, so there is nothing to build.
        return

    @property
    def metrics(self):
        return [self.loss_tracker, self.nonfinite]

    def bad_files(self) -> list[str]:
        """Files of the last skipped batch on this worker's replicas."""
        strategy = self.distribute_strategy
        out = []
        for v in strategy.experimental_local_results(self.bad_index):
            for i in v.numpy().tolist():
                if i < 0:
                    continue
                out.append(self.paths[i] if self.paths else f"#{i}")
        return out

    def _per_utterance_loss(self, y, y_pred):
        logits, logit_lengths = y_pred
        if self.head == "classifier":
            return keras.losses.sparse_categorical_crossentropy(
                y["class_id"], logits, from_logits=True
            )
        return ctc_loss(y["labels"], logits, y["label_lengths"], logit_lengths)

    def _distill_loss(self, x, y_pred):
        weight, shift, temperature = self.distill
        teacher_logits, teacher_lengths = self.teacher(x, training=False)
        logits, lengths = y_pred
        per_utt = distillation_loss(
            teacher_logits,
            logits,
            tf.minimum(lengths, teacher_lengths + shift),
            shift,
            temperature,
        )
        return weight * tf.reduce_sum(per_utt)

    def _replica_loss(self, y, y_pred, global_n, may_be_empty=False, x=None):
        """This replica's share of the global mean loss: sum / global batch.

        Summed over replicas it is the global mean, whatever the split (an
        uneven last batch included), so summed gradients are the right ones.
        `may_be_empty`: the batch may have no rows (a replica without data at
        the end of a finite dataset); CTC fails on those, so they give 0.
        `x`: the inputs, given in training when there is a teacher.
        """

        def total():
            per_utt = self._per_utterance_loss(y, y_pred)
            loss = tf.reduce_sum(tf.cast(per_utt, tf.float32))
            if x is not None and self.teacher is not None:
                loss += self._distill_loss(x, y_pred)
            return loss

        if may_be_empty:
            rows = tf.shape(y_pred[1])[0]
            loss_sum = tf.cond(rows > 0, total, lambda: tf.constant(0.0))
        else:
            loss_sum = total()
        loss = tf.math.divide_no_nan(loss_sum, global_n)
        if self.network.losses:
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            loss += tf.cast(tf.add_n(self.network.losses), tf.float32) / replicas
        return loss

    def train_step(self, data):
        x, y = data
        ctx = tf.distribute.get_replica_context()
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        global_n = ctx.all_reduce("SUM", _batch_size(x))
        variables = self.network.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = self.network(x, training=True)
            loss = self._replica_loss(y, y_pred, global_n, x=x)
            scaled = self.optimizer.scale_loss(loss)
        pairs = [
            (g, v)
            for g, v in zip(tape.gradient(scaled, variables), variables)
            if g is not None
        ]
        grads = [g for g, _ in pairs]
        # One all-reduce: from here on every replica holds the same values.
        loss, grads = ctx.all_reduce("SUM", (loss, grads))
        loss_scale = tf.cast(self.optimizer.scale_loss(1.0), tf.float32)
        finite_loss = tf.math.is_finite(loss)
        finite_grads = tf.reduce_all(
            [tf.reduce_all(tf.math.is_finite(g)) for g in grads]
        )
        if self.clip_norm > 0:
            norm = tf.linalg.global_norm(grads) / loss_scale
            factor = tf.minimum(1.0, self.clip_norm / tf.maximum(norm, 1e-12))
            grads = [g * tf.cast(factor, g.dtype) for g in grads]
        # The optimizer sums the replicas' gradients again: hand it 1/replicas.
        grads = [g / replicas for g in grads] if replicas > 1 else grads
        variables = [v for _, v in pairs]
        if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            # It skips overflowing steps itself (and lowers the loss scale).
            bad = ~finite_loss
            self.optimizer.apply(grads, variables)
        else:
            bad = ~(finite_loss & finite_grads)
            _apply_if(self.optimizer, ~bad, grads, variables)
        if "index" in y:
            index = tf.cast(y["index"], tf.int64)

            def record():
                self.bad_index.assign(index)
                return tf.constant(True)

            tf.cond(bad, record, lambda: tf.constant(False))
        self.nonfinite.update_state(tf.cast(bad, tf.float32))
        self.loss_tracker.update_state(
            tf.where(finite_loss, loss, 0.0),
            sample_weight=tf.cast(finite_loss, tf.float32),
        )
        return self._logs()

    def _logs(self, metrics: list | None = None) -> dict:
        logs = {m.name: m.result() for m in metrics or self.metrics}
        if self.multi_worker:
            # Keras 3 reduces step outputs across workers with `axis=0`, which
            # fails on scalars (tensorflow/tensorflow#72388): send shape (1,).
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def test_step(self, data):
        x, y = data
        ctx = tf.distribute.get_replica_context()
        global_n = ctx.all_reduce("SUM", _batch_size(x))
        y_pred = self.network(x, training=False)
        loss = self._replica_loss(y, y_pred, global_n, may_be_empty=True)
        loss = ctx.all_reduce("SUM", loss)
        # Utterance-weighted: the epoch's value is the mean over all utterances.
        self.loss_tracker.update_state(loss, sample_weight=global_n)
        return self._logs([self.loss_tracker])


class ReplicaInvariantSum(keras.metrics.Metric):
    """A running sum of a value every replica updates identically (e.g. an
    all-reduced flag): reads the first replica's copy instead of summing the
    copies, so the count is the same in step logs and in epoch logs."""

    def __init__(self, name: str = "sum", **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(
            shape=(),
            initializer="zeros",
            aggregation="only_first_replica",
            name="total",
        )

    def update_state(self, value, sample_weight=None):
        self.total.assign_add(tf.reduce_sum(tf.cast(value, self.total.dtype)))

    def result(self):
        return tf.identity(self.total)


def _batch_size(x) -> tf.Tensor:
    return tf.cast(tf.shape(x["audio_lengths"])[0], tf.float32)


def _apply_if(optimizer, ok, grads, variables) -> None:
    """`optimizer.apply(grads, variables)` when `ok`; a no-op otherwise.

    `ok` must be the same on every replica. Under MirroredStrategy the
    optimizer synchronises via `merge_call`, which tf.distribute forbids inside
    a replica's `tf.cond`, so the branch is taken in cross-replica context
    (the pattern of Keras's LossScaleOptimizer).
    """

    def apply():
        optimizer.apply(grads, variables)
        return tf.constant(True)

    def skip():
        return tf.constant(False)

    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(ok, apply, skip)
        return

    def cross_replica(strategy, ok, grads):
        first = strategy.experimental_local_results(ok)[0]

        def apply_each():
            strategy.extended.call_for_each_replica(
                optimizer.apply, args=(grads, variables)
            )
            return tf.constant(True)

        tf.cond(first, apply_each, skip)

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(ok, grads))
