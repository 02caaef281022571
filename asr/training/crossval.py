"""K-fold cross-validation by speaker: `crossval()` trains one run per fold.

The utterances of the given manifests are split into K folds by a grouping
key (`speaker` by default): every group goes whole into one fold, so no
speaker is in both the training and the test data of a fold. Groups are dealt
largest first, each to the fold with the fewest utterances so far (ties: the
lower fold), which is deterministic and keeps the folds' sizes close.

A row's group is its manifest key (`speaker`, or any other key given); for
`speaker` a row without the key takes it from its file name when that follows
Speech Commands' `<speaker>_nohash_<n>.wav` (as `data_manifests/fsdd`) or
FSDD's `<digit>_<speaker>_<n>.wav`.

Fold k lives in `OUT/fold_k/`: `train.jsonl` and `test.jsonl`, and a run
folder trained by `asr.training.fit` on the other folds with the fold's test
data as its validation data; `train.val_max_utterances` covers the whole test
fold, and early stopping and checkpoint averaging are off, so nothing is
chosen by looking at the test speakers. The fold's WER (and CER) is the last
epoch's `val_wer` (`val_cer`): greedy decoding of the whole test fold. For the
same reason the fold's `model.keras` is replaced by `last.keras` when it
finishes (training keeps the best epoch by validation WER there, and here
validation is the test fold), so evaluating the fold's run later (beam, an
LM) tests the network the WER came from.
`OUT/fold_k/result.json` marks a finished fold; running the same command
again skips those and resumes an interrupted one at its last checkpoint.
Manifests given as `extra_train` are added to every fold's training data
and never tested (other voices, synthetic speech).
`OUT/crossval.json` holds the settings, and a rerun with other folds, key or
config is refused.

Outputs, written atomically: `OUT/crossval.csv` and `OUT/crossval.md` (one
row per fold, then the mean and standard deviation) and `OUT/summary.json`.
The standard deviation is the sample one (n - 1), across folds.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from asr.config import ConfigError, ExperimentConfig, to_dict
from asr.files import atomic_path, atomic_write_text
from asr.manifest import ManifestError, Utterance, read_manifest, write_manifest
from asr.training.search_space import apply_values
from asr.training.tuning import format_csv, format_markdown

logger = logging.getLogger(__name__)

RESULT = "result.json"  # in a fold's folder once its training is done
# File names that carry the speaker (`stem` without the extension).
SPEAKER_FILE_NAMES = (
    re.compile(r"^(?P<speaker>.+?)_nohash_\d+$"),  # Speech Commands
    re.compile(r"^\d+_(?P<speaker>[^_]+)_\d+$"),  # FSDD
)


def group_of(row: Utterance, key: str, manifest: str | os.PathLike = "") -> str:
    """The value of `key` for `row`, as a string (see the module docstring).

    Raises:
        ManifestError: naming the manifest and audio file, when the row has
            no such key (and, for `speaker`, a file name of no known form).
    """
    extra = dict(row.extra)
    if extra.get(key) is not None:
        return str(extra[key])
    if key == "speaker":
        stem = Path(row.audio_filepath).stem
        for pattern in SPEAKER_FILE_NAMES:
            if m := pattern.match(stem):
                return m["speaker"]
    hint = (
        " and its file name is not <speaker>_nohash_<n> or <digit>_<speaker>_<n>"
        if key == "speaker"
        else ""
    )
    raise ManifestError(
        f"{manifest}: {row.audio_filepath}: no '{key}' key{hint}; "
        f"--group-by needs it on every row"
    )


def assign_folds(sizes: dict[str, int], k: int) -> list[list[str]]:
    """Deals groups (name -> utterances) to `k` folds, largest first, each to
    the fold with the fewest utterances; returns each fold's sorted groups.

    Raises:
        ConfigError: `k` < 2 or more folds than groups.
    """
    if k < 2:
        raise ConfigError(f"--folds: needs at least 2 folds, got {k}")
    if k > len(sizes):
        raise ConfigError(
            f"--folds: {k} folds but only {len(sizes)} groups "
            f"({', '.join(sorted(sizes)[:10])}); each fold needs a whole group"
        )
    folds: list[list[str]] = [[] for _ in range(k)]
    totals = [0] * k
    for name in sorted(sizes, key=lambda g: (-sizes[g], g)):
        i = min(range(k), key=lambda j: (totals[j], j))
        folds[i].append(name)
        totals[i] += sizes[name]
    return [sorted(f) for f in folds]


@dataclass(frozen=True)
class Fold:
    """One fold: its index, test groups and utterances."""

    index: int
    groups: tuple[str, ...]
    train: list[Utterance]
    test: list[Utterance]


def make_folds(
    manifests: list[str | os.PathLike], k: int, key: str = "speaker"
) -> list[Fold]:
    """Reads `manifests` (bad lines warned and skipped) and splits their rows
    into `k` folds by `key`; no group is in two folds.

    Raises:
        ManifestError: a missing manifest, no rows, or a row without `key`.
        ConfigError: a bad `k` (see `assign_folds`).
    """
    rows: list[tuple[Utterance, str]] = []
    for manifest in manifests:
        for row in read_manifest(manifest, bad_lines=[]):
            rows.append((row, group_of(row, key, manifest)))
    if not rows:
        raise ManifestError(f"{', '.join(map(str, manifests))}: no utterances")
    sizes: dict[str, int] = {}
    for _, group in rows:
        sizes[group] = sizes.get(group, 0) + 1
    folds = []
    for i, groups in enumerate(assign_folds(sizes, k)):
        test_groups = set(groups)
        folds.append(
            Fold(
                i,
                tuple(groups),
                [r for r, g in rows if g not in test_groups],
                [r for r, g in rows if g in test_groups],
            )
        )
    return folds


@dataclass(frozen=True)
class CrossValResult:
    """Per-fold rows (fold, groups, utterances, wer, cer, epochs) and the
    mean and sample standard deviation of the folds' WER and CER."""

    rows: list[dict]
    mean: dict[str, float]
    std: dict[str, float]
    out_dir: Path

    @property
    def table_md(self) -> Path:
        return self.out_dir / "crossval.md"

    @property
    def table_csv(self) -> Path:
        return self.out_dir / "crossval.csv"


def _check_same_settings(out_dir: Path, settings: dict) -> None:
    path = out_dir / "crossval.json"
    settings = json.loads(json.dumps(settings))
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in settings if old.get(k) != settings[k])
        if changed:
            raise ConfigError(
                f"{path}: this folder was started with different "
                f"{', '.join(changed)}; use a new --out folder, or delete it to "
                "start over"
            )
    atomic_write_text(path, json.dumps(settings, indent=1))


def fold_config(cfg: ExperimentConfig, folder: Path, n_test: int) -> ExperimentConfig:
    """The training config of the fold in `folder` (see the module docstring)."""
    return apply_values(
        cfg,
        {
            "data.train_manifest": str(folder / "train.jsonl"),
            "data.val_manifest": str(folder / "test.jsonl"),
            "train.val_max_utterances": max(n_test, 1),
            "train.early_stopping_patience": 0,
            "train.average_best": 0,
        },
    )


def _keep_last(folder: Path) -> None:
    """`model.keras` := `last.keras` (atomically), when training wrote one."""
    last = folder / "last.keras"
    if last.exists():
        with atomic_path(folder / "model.keras", ".keras") as tmp:
            shutil.copyfile(last, tmp)


def _last_epoch(history_csv: Path) -> dict:
    with history_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{history_csv}: no epoch recorded")
    last = rows[-1]
    out = {k: float(last[k]) for k in ("val_wer", "val_cer") if last.get(k)}
    return {"wer": out.get("val_wer"), "cer": out.get("val_cer"), "epochs": len(rows)}


def crossval(
    cfg: ExperimentConfig,
    manifests: list[str | os.PathLike],
    k: int,
    out_dir: str | os.PathLike,
    key: str = "speaker",
    verbose: int = 2,
    extra_train: list[str | os.PathLike] = (),
) -> CrossValResult:
    """Trains (or resumes) the `k` folds' runs in `out_dir`; returns each
    fold's WER and their mean and standard deviation.

    Args:
        cfg: the training config; its data manifests are replaced by each
            fold's.
        manifests: the utterances to split (e.g. every split of a corpus).
        key: the manifest key whose values never cross folds.
        extra_train: manifests whose utterances are in every fold's training
            data and never tested (e.g. synthetic voices, other corpora: they
            must not contain the folds' speakers).

    Raises:
        ConfigError, ManifestError: bad `k`, manifests or key, or `out_dir`
            holds a cross-validation with other settings.
    """
    from asr.training.fit import fit

    out_dir = Path(out_dir).resolve()
    folds = make_folds(manifests, k, key)
    extra = [row for m in extra_train for row in read_manifest(m, bad_lines=[])]
    settings_cfg = to_dict(cfg)
    for name in ("train_manifest", "val_manifest"):  # each fold sets its own
        settings_cfg["data"].pop(name)
    _check_same_settings(
        out_dir,
        {
            "config": settings_cfg,
            "key": key,
            "folds": [list(f.groups) for f in folds],
            "manifests": [str(Path(m).resolve()) for m in manifests],
            **(
                {"extra_train": [str(Path(m).resolve()) for m in extra_train]}
                if extra_train
                else {}
            ),
        },
    )
    rows = []
    for fold in folds:
        folder = out_dir / f"fold_{fold.index}"
        done = folder / RESULT
        if done.exists():
            logger.info("fold %d: done before, skipped", fold.index)
            rows.append(json.loads(done.read_text(encoding="utf-8")))
            continue
        folder.mkdir(parents=True, exist_ok=True)
        write_manifest(folder / "train.jsonl", fold.train + extra)
        write_manifest(folder / "test.jsonl", fold.test)
        logger.info(
            "fold %d of %d: testing on %s (%d utterances), training on %d",
            fold.index + 1,
            k,
            ", ".join(fold.groups),
            len(fold.test),
            len(fold.train),
        )
        fit(fold_config(cfg, folder, len(fold.test)), folder, verbose=verbose)
        _keep_last(folder)
        row = {
            "fold": fold.index,
            "groups": " ".join(fold.groups),
            "train": len(fold.train) + len(extra),
            "test": len(fold.test),
            **_last_epoch(folder / "history.csv"),
        }
        atomic_write_text(done, json.dumps(row, indent=1))
        logger.info("fold %d: WER %.4f", fold.index, row["wer"])
        rows.append(row)
    return write_summary(rows, out_dir, key)


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, float("nan")
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def write_summary(rows: list[dict], out_dir: Path, key: str) -> CrossValResult:
    """Writes `crossval.csv`, `crossval.md` and `summary.json` for the
    folds' `rows`."""
    mean, std = {}, {}
    for metric in ("wer", "cer"):
        values = [r[metric] for r in rows if r.get(metric) is not None]
        if values:
            mean[metric], std[metric] = _mean_std(values)
    columns = ["fold", key, "train", "test", "wer", "cer", "epochs"]
    table = [{**r, key: r["groups"]} for r in rows]
    table += [{"fold": "mean", **mean}, {"fold": "std", **std}]
    columns = [c for c in columns if any(r.get(c) is not None for r in table)]
    atomic_write_text(out_dir / "crossval.csv", format_csv(table, columns))
    atomic_write_text(out_dir / "crossval.md", format_markdown(table, columns))
    summary = {"key": key, "folds": rows, "mean": mean, "std": std}
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=1))
    return CrossValResult(rows, mean, std, out_dir)
