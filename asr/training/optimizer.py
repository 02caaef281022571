"""The optimiser of a training run: `make_optimizer(cfg, steps_per_epoch)`.

Learning-rate schedules (`train.schedule`): "cosine" (warm-up from a
hundredth of `train.learning_rate`, then a cosine to 2 % of it over the run),
"constant" (after an optional linear warm-up) and "plateau" (a constant that
`ReduceLROnPlateau` lowers). Optimisers (`train.optimizer`): AdamW with
`train.weight_decay`, or Adam. Gradient clipping is the Trainer's
(`asr.training.step`), on the all-reduced gradients.
"""

from __future__ import annotations

import keras

from asr.config import ExperimentConfig


def make_schedule(cfg: ExperimentConfig, steps_per_epoch: int):
    """`train.learning_rate` as a float or a schedule over the run's steps."""
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


def make_optimizer(
    cfg: ExperimentConfig, steps_per_epoch: int
) -> keras.optimizers.Optimizer:
    """`train.optimizer` with `make_schedule`'s learning rate."""
    t = cfg.train
    lr = make_schedule(cfg, steps_per_epoch)
    # No global_clipnorm: the Trainer clips the all-reduced gradients itself.
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=t.weight_decay)
    return keras.optimizers.Adam(lr)
