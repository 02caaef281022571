"""Hyperparameter search: `tune()` trains one run per trial with `fit`, and
KerasTuner's oracle chooses each trial's values.

The search space (`asr.training.search_space`) is a YAML file of dotted config
keys, each with the values to try (a list to choose from, or a `log` /
`linear` range); `read_space` checks it against the config before any training.

KerasTuner only proposes values (`hyperband`, `bayesian` or `random`); each
trial is a normal run folder `OUT/trial_ID/` trained by `asr.training.fit`
(its data pipeline, checkpoints and resume), with `result.json` written once
it is done. The objective is the best epoch's `val_wer` (or `val_loss`) on
`data.val_manifest`. Hyperband's later rounds start from the earlier round's
`model.keras` (`train.init_from`) and train the extra epochs. The oracle's
state lives in `OUT/oracle.json` and `OUT/trial_ID/trial.json`: running the
same search again goes on where it stopped, an interrupted trial resumes in
its own run folder, and a larger `trials` extends a finished search.

Outputs, written atomically: `OUT/results.csv` and `OUT/results.md` (the
trials ranked by the objective, failed ones last) and `OUT/best_config.yaml`
(the base config with the best trial's values, all keys resolved; `asr train
--config` takes it as it is; its `train.epochs` is the base config's, not the
per-trial budget).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asr.config import ConfigError, ExperimentConfig, dump_yaml, to_dict
from asr.files import atomic_write_text
from asr.training.search_space import Dimension, apply_values, trial_values

logger = logging.getLogger(__name__)

ALGORITHMS = ("bayesian", "hyperband", "random")
OBJECTIVES = {"wer": "val_wer", "loss": "val_loss"}
RESULT = "result.json"  # in a trial's folder once its training is done
_METRICS = ("val_wer", "val_cer", "val_loss", "loss", "val_accuracy")


@dataclass(frozen=True)
class SearchResult:
    """What `tune` leaves in its folder.

    Attributes:
        rows: one dict per trial, best first (see `results.csv`).
        best_values: the best trial's values (dotted keys), {} if none finished.
        best_config: `cfg` with them applied (None if no trial finished).
        out_dir: the search folder.
    """

    rows: list[dict]
    best_values: dict
    best_config: ExperimentConfig | None
    out_dir: Path

    @property
    def table_md(self) -> Path:
        return self.out_dir / "results.md"

    @property
    def table_csv(self) -> Path:
        return self.out_dir / "results.csv"

    @property
    def best_yaml(self) -> Path:
        return self.out_dir / "best_config.yaml"


def _check_same_search(out_dir: Path, settings: dict) -> None:
    """Refuses to go on with a folder started by a different search (the
    number of trials may grow)."""
    path = out_dir / "search.json"
    settings = json.loads(json.dumps(settings))  # tuples as lists, as read back
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in settings if old.get(k) != settings[k])
        if changed:
            raise ConfigError(
                f"{path}: this search folder was started with a different "
                f"{', '.join(changed)}; use a new --out folder, or delete it to "
                "start over"
            )
    atomic_write_text(path, json.dumps(settings, indent=1, sort_keys=True))


def _history_best(history_csv: Path, objective: str) -> dict:
    """The metrics of the epoch with the lowest `objective` in a run's
    `history.csv`, with `epoch` (1-based) and `epochs` (rows)."""
    with history_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    scored = [
        r for r in rows if r.get(objective) not in (None, "") and _finite(r[objective])
    ]
    if not scored:
        raise ValueError(f"{history_csv}: no finite {objective} in any epoch")
    best = min(scored, key=lambda r: float(r[objective]))
    out = {k: float(best[k]) for k in _METRICS if best.get(k) not in (None, "")}
    out["epoch"] = int(best["epoch"]) + 1
    out["epochs"] = len(rows)
    return out


def _finite(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _make_tuner(
    cfg, dims, out_dir, algorithm, objective, trials, epochs, seed, verbose
):
    """The KerasTuner `Tuner` whose `run_trial` trains a run with `fit`
    (KerasTuner imported here: an optional dependency)."""
    try:
        import keras_tuner
    except ImportError:
        raise ImportError(
            "asr tune needs KerasTuner: pip install -e '.[tune]' "
            "(or pip install keras-tuner)"
        ) from None
    import tensorflow as tf

    from asr.training.callbacks import NonFiniteLossError
    from asr.training.fit import fit

    class Stop(keras_tuner.errors.FatalError):
        """Carries an error that must end the search (bad input, a signal, a
        full disk) through KerasTuner, which would mark the trial failed."""

        def __init__(self, error: BaseException):
            super().__init__(str(error))
            self.error = error

    class RunTuner(keras_tuner.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            try:
                return self._train(trial)
            except (NonFiniteLossError, tf.errors.ResourceExhaustedError) as e:
                logger.warning("trial %s failed: %s", trial.trial_id, e)
                raise keras_tuner.errors.FailedTrialError(str(e)) from e
            except Exception as e:
                raise Stop(e) from e

        def _train(self, trial) -> dict:
            folder = Path(self.get_trial_dir(trial.trial_id))
            done = folder / RESULT
            if done.exists():
                return json.loads(done.read_text(encoding="utf-8"))["metrics"]
            hp = trial.hyperparameters.values
            values = trial_values(dims, hp)
            overrides: dict[str, Any] = {"train.epochs": epochs}
            if "tuner/epochs" in hp:  # Hyperband
                overrides["train.epochs"] = hp["tuner/epochs"] - hp.get(
                    "tuner/initial_epoch", 0
                )
                if hp.get("tuner/trial_id"):
                    parent = Path(self.get_trial_dir(hp["tuner/trial_id"]))
                    overrides["train.init_from"] = str(parent / "model.keras")
            run_cfg = apply_values(apply_values(cfg, values), overrides)
            logger.info(
                "trial %s: %s, %d epoch(s)%s",
                trial.trial_id,
                ", ".join(f"{k}={v}" for k, v in values.items()),
                run_cfg.train.epochs,
                f" from trial {hp['tuner/trial_id']}"
                if hp.get("tuner/trial_id")
                else "",
            )
            fit(run_cfg, folder, verbose=verbose)
            metrics = _history_best(folder / "history.csv", objective)
            for key in ("epoch", "epochs"):  # Hyperband: counted from its start
                metrics[key] += hp.get("tuner/initial_epoch", 0)
            atomic_write_text(
                done,
                json.dumps(
                    {"trial": trial.trial_id, "values": values, "metrics": metrics},
                    indent=1,
                ),
            )
            logger.info(
                "trial %s: %s=%.4f", trial.trial_id, objective, metrics[objective]
            )
            return metrics

        def on_search_begin(self):
            super().on_search_begin()
            self.save()  # so a search killed in its first trial reloads

    hp = keras_tuner.HyperParameters()
    for dim in dims:
        dim.declare(hp)
    goal = keras_tuner.Objective(objective, direction="min")
    common = dict(objective=goal, hyperparameters=hp, seed=seed)
    if algorithm == "hyperband":
        oracle = keras_tuner.oracles.HyperbandOracle(max_epochs=epochs, **common)
        oracle.max_trials = trials  # Hyperband has no cap of its own
    elif algorithm == "bayesian":
        oracle = keras_tuner.oracles.BayesianOptimizationOracle(
            max_trials=trials, **common
        )
    else:
        oracle = keras_tuner.oracles.RandomSearchOracle(max_trials=trials, **common)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # "Reloading Tuner from ..."
        tuner = RunTuner(
            oracle, directory=str(out_dir.parent), project_name=out_dir.name
        )
    for line in printed.getvalue().splitlines():
        logger.info("%s", line)
    return tuner, Stop


def tune(
    cfg: ExperimentConfig,
    dims: list[Dimension],
    out_dir: str | os.PathLike,
    trials: int,
    epochs: int,
    algorithm: str = "bayesian",
    objective: str = "wer",
    seed: int = 0,
    verbose: int = 2,
) -> SearchResult:
    """Runs (or goes on with) the search in `out_dir`; returns the ranking.

    Args:
        cfg: the base config (data manifests included); each trial is it with
            the trial's values and `train.epochs` = `epochs`.
        dims: the search space (`read_space`).
        trials: the most trials in all (counting those of earlier runs).
        epochs: epochs a trial trains (Hyperband: the most a trial reaches).
        algorithm: one of `ALGORITHMS`.
        objective: "wer" (the best epoch's `val_wer`) or "loss" (`val_loss`).

    Raises:
        ConfigError: no `data.val_manifest`, a bad argument, or `out_dir`
            holds a search with other settings.
        ImportError: KerasTuner is not installed.
    """
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"algorithm: {algorithm!r} is not one of {ALGORITHMS}")
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective: {objective!r} is not one of {list(OBJECTIVES)}")
    if not cfg.data.train_manifest or not cfg.data.val_manifest:
        raise ConfigError(
            "data.val_manifest: tuning needs training and validation manifests "
            "(the objective is measured on the validation data)"
        )
    if trials < 1 or epochs < 1:
        raise ConfigError("trials and epochs must be >= 1")
    metric = OBJECTIVES[objective]
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_same_search(
        out_dir,
        {
            "config": to_dict(cfg),
            "space": [d.to_json() for d in dims],
            "algorithm": algorithm,
            "objective": metric,
            "epochs": epochs,
            "seed": seed,
        },
    )
    tuner, stop = _make_tuner(
        cfg, dims, out_dir, algorithm, metric, trials, epochs, seed, verbose
    )
    try:
        tuner.search(verbose=0)
    except stop as e:
        raise e.error from None
    return write_results(cfg, dims, out_dir, tuner.oracle, metric)


def write_results(cfg, dims, out_dir: Path, oracle, metric: str) -> SearchResult:
    """Writes `results.csv`, `results.md` and `best_config.yaml` from the
    oracle's trials (the best first, unfinished and failed ones last)."""
    rows = []
    for trial in oracle.trials.values():
        folder = out_dir / f"trial_{trial.trial_id}"
        result = folder / RESULT
        metrics = (
            json.loads(result.read_text(encoding="utf-8"))["metrics"]
            if result.exists()
            else {}
        )
        row = {
            "trial": trial.trial_id,
            "status": str(getattr(trial.status, "value", trial.status)),
            metric: metrics.get(metric),
            **{k: metrics.get(k) for k in _METRICS if k != metric},
            "best_epoch": metrics.get("epoch"),
            "epochs": metrics.get("epochs"),
        }
        row.update(trial_values(dims, trial.hyperparameters.values))
        hp = trial.hyperparameters.values
        if hp.get("tuner/trial_id"):
            row["from_trial"] = hp["tuner/trial_id"]
        rows.append(row)
    rows.sort(
        key=lambda r: (r[metric] is None, r[metric] or 0.0, len(r["trial"]), r["trial"])
    )
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank if row[metric] is not None else None
    columns = ["rank", "trial", "status", metric]
    columns += [k for k in _METRICS if k != metric and any(r.get(k) for r in rows)]
    columns += ["best_epoch", "epochs"] + [d.key for d in dims]
    if any("from_trial" in r for r in rows):
        columns.append("from_trial")
    atomic_write_text(out_dir / "results.csv", format_csv(rows, columns))
    atomic_write_text(out_dir / "results.md", format_markdown(rows, columns))
    best_values = {d.key: rows[0][d.key] for d in dims} if rows else {}
    best = None
    if rows and rows[0][metric] is not None:
        best = apply_values(cfg, best_values)
        atomic_write_text(out_dir / "best_config.yaml", dump_yaml(best))
    return SearchResult(rows, best_values if best else {}, best, out_dir)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return json.dumps(value)
    return str(value)


def format_csv(rows: list[dict], columns: list[str]) -> str:
    """CSV text of `rows` (dicts) with these `columns`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def format_markdown(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table of `rows` (dicts) with these `columns`."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [_cell(row.get(c)).replace("|", "\\|") for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
