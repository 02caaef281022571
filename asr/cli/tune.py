"""`asr tune` (hyperparameter search) and `asr crossval` (K-fold
cross-validation by speaker): each forwards to its `asr.training` function and
prints the table it wrote."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from asr.cli.arguments import POSITIVE_INT


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
    from asr.training.search_space import read_space
    from asr.training.tuning import tune

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


def add_tune_parsers(sub) -> None:
    """Adds `asr tune` and `asr crossval` to the subcommands `sub`."""
    _add_tune(sub)
    _add_crossval(sub)


def _add_tune(sub) -> None:
    p = sub.add_parser(
        "tune",
        help="hyperparameter search (KerasTuner) over config keys",
        description="Train one run per trial (OUT/trial_ID/), each with values "
        "from the search space, and rank them by validation WER (or loss): "
        "OUT/results.md and .csv, and OUT/best_config.yaml for `asr train`. "
        "Running the same command again goes on with the search; a larger "
        "--trials extends it. Needs asr[tune] (keras-tuner).",
    )
    p.add_argument("--config", "-c", required=True, help="the base YAML config")
    p.add_argument(
        "--space",
        required=True,
        metavar="SPACE.yaml",
        help="dotted config keys and their values, e.g. 'model.rnn_units: "
        "[128, 256]', 'train.learning_rate: {log: [1e-4, 3e-3]}'",
    )
    p.add_argument(
        "--trials", type=POSITIVE_INT, required=True, help="the most trials in all"
    )
    p.add_argument(
        "--epochs",
        type=POSITIVE_INT,
        required=True,
        help="epochs a trial trains (hyperband: the most any trial reaches)",
    )
    p.add_argument(
        "--algorithm",
        choices=("bayesian", "hyperband", "random"),
        default="bayesian",
        help="how trials are chosen (default bayesian: Gaussian-process "
        "Bayesian optimisation)",
    )
    p.add_argument(
        "--objective",
        choices=("wer", "loss"),
        default="wer",
        help="minimised: the best epoch's validation WER (default) or loss",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a base config key (repeatable)",
    )
    p.add_argument("--train", help="training manifest")
    p.add_argument("--val", help="validation manifest (the objective's data)")
    p.add_argument("--seed", type=int, default=0, help="the oracle's seed (default 0)")
    p.add_argument("--out", required=True, help="search folder, e.g. runs/tune")
    p.set_defaults(func=cmd_tune)


def _add_crossval(sub) -> None:
    p = sub.add_parser(
        "crossval",
        help="K-fold cross-validation, folds split by speaker",
        description="Split the utterances into K folds so that no speaker (or "
        "other --group-by value) is in two folds, train one run per fold on "
        "the others (OUT/fold_k/) and report each fold's WER on its held-out "
        "speakers, and the mean and standard deviation. Running the same "
        "command again skips finished folds and resumes an interrupted one.",
    )
    p.add_argument("--config", "-c", required=True, help="the training config")
    p.add_argument(
        "--folds", type=POSITIVE_INT, required=True, metavar="K", help="folds (>= 2)"
    )
    p.add_argument(
        "--group-by",
        default="speaker",
        metavar="KEY",
        help="manifest key whose values never cross folds (default speaker; "
        "without the key, the speaker is read from <speaker>_nohash_<n>.wav "
        "or <digit>_<speaker>_<n>.wav file names)",
    )
    p.add_argument(
        "--manifest",
        action="append",
        help="utterances to split (repeatable, e.g. every split of a corpus; "
        "default: data.train_manifest)",
    )
    p.add_argument(
        "--extra-train",
        action="append",
        metavar="MANIFEST",
        help="utterances in every fold's training data, never tested "
        "(repeatable; e.g. synthetic voices)",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config key (repeatable)",
    )
    p.add_argument("--epochs", type=POSITIVE_INT, help="epochs per fold")
    p.add_argument("--out", required=True, help="folder, e.g. runs/crossval")
    p.set_defaults(func=cmd_crossval)
