"""`asr tune` (hyperparameter search) and `asr crossval` (K-fold
cross-validation by speaker): each forwards to its `asr.training` function and
prints the table it wrote."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _config(args, extra: list[str] = ()):
    """The config of `--config`, `--set` and the shortcut flags."""
    from asr.config import load_config

    overrides = list(args.set or [])
    for key, value in (
        ("data.train_manifest", getattr(args, "train", None)),
        ("data.val_manifest", getattr(args, "val", None)),
    ):
        if value:
            overrides.append(f"{key}={json.dumps(str(Path(value).resolve()))}")
    return load_config(args.config, overrides + list(extra))


def _verbose() -> int:
    return 1 if sys.stdout.isatty() else 2


# -- tune -----------------------------------------------------------------------
def cmd_tune(args) -> int:
    from asr.training.tuning import read_space, tune

    cfg = _config(args)
    dims = read_space(args.space, cfg)  # checked before anything trains
    result = tune(
        cfg,
        dims,
        args.out,
        trials=args.trials,
        epochs=args.epochs,
        algorithm=args.algorithm,
        objective=args.objective,
        seed=args.seed,
        verbose=_verbose(),
    )
    print(result.table_md.read_text(encoding="utf-8"), end="")
    print(f"ranked trials: {result.table_md}, {result.table_csv}")
    if result.best_config is None:
        print("asr tune: no trial finished", file=sys.stderr)
        return 1
    print(f"best config: {result.best_yaml}")
    print(f"  asr train --config {result.best_yaml} --out runs/best")
    return 0


# -- crossval -------------------------------------------------------------------
def cmd_crossval(args) -> int:
    from asr.config import ConfigError
    from asr.training.crossval import crossval

    extra = [f"train.epochs={args.epochs}"] if args.epochs is not None else []
    cfg = _config(args, extra)
    manifests = args.manifest or (
        [cfg.data.train_manifest] if cfg.data.train_manifest else []
    )
    if not manifests:
        raise ConfigError(
            "--manifest: no utterances to split; give --manifest (repeatable) "
            "or set data.train_manifest"
        )
    result = crossval(
        cfg,
        manifests,
        args.folds,
        args.out,
        key=args.group_by,
        verbose=_verbose(),
        extra_train=args.extra_train or [],
    )
    print(result.table_md.read_text(encoding="utf-8"), end="")
    for metric in ("wer", "cer"):
        if metric in result.mean:
            print(
                f"{metric.upper()} {100 * result.mean[metric]:.2f} % "
                f"± {100 * result.std[metric]:.2f} (mean ± sd over "
                f"{len(result.rows)} folds)"
            )
    print(f"per fold: {result.table_md}, {result.table_csv}")
    return 0
