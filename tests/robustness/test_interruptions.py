"""`kill -9` of `asr train`, then the same command again: it resumes from the
last completed epoch, and the run folder never holds a corrupt model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import keras
import pytest

from asr.training.callbacks import trim_history
from tests.conftest import TINY, tiny_corpus

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

# Runs `asr train` with one checkpoint writer patched to write half of its
# temp file and then SIGKILL the process: what `kill -9` in mid-write leaves.
KILL_IN_WRITE = r"""
import os, signal, sys
from pathlib import Path
import keras
method, prefix, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
original = getattr(keras.Model, method)
calls = [0]
def patched(self, filepath, *args, **kwargs):
    original(self, filepath, *args, **kwargs)
    if Path(filepath).name.startswith(prefix):
        calls[0] += 1
        if calls[0] == nth:
            data = Path(filepath).read_bytes()
            Path(filepath).write_bytes(data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
setattr(keras.Model, method, patched)
from asr.cli import main
sys.exit(main(sys.argv[4:]))
"""


def _corpus(tmp_path):
    return tiny_corpus(tmp_path)


def _train_args(manifest, run, epochs):
    args = ["train", "--config", "configs/ds2_small.yaml", "--train", str(manifest)]
    args += ["--val", str(manifest), "--epochs", str(epochs), "--out", str(run)]
    for s in TINY:
        args += ["--set", s]
    return args


def _epochs_in_history(run):
    lines = (run / "history.csv").read_text().splitlines()[1:]
    return [line.split(",")[0] for line in lines]


def _metadata_epoch(run):
    return json.loads((run / "backup" / "training_metadata.json").read_text())["epoch"]


def _assert_whole_models_only(run):
    for name in ("model.keras", "last.keras"):
        if (run / name).exists():
            keras.saving.load_model(run / name, safe_mode=True)


def _rerun_to_the_end(manifest, run, epochs):
    done = subprocess.run(
        [sys.executable, "-m", "asr", *_train_args(manifest, run, epochs)],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert _epochs_in_history(run) == [str(e) for e in range(epochs)]
    assert _metadata_epoch(run) == epochs
    keras.saving.load_model(run / "model.keras", safe_mode=True)
    keras.saving.load_model(run / "last.keras", safe_mode=True)
    assert not list(run.glob(".*.tmp*")) and not list((run / "backup").glob(".*.tmp*"))
    return done


def test_kill_9_mid_epoch_then_rerun_resumes_and_finishes(tmp_path):
    manifest, run = _corpus(tmp_path), tmp_path / "run"
    meta = run / "backup" / "training_metadata.json"
    argv = [sys.executable, "-m", "asr", *_train_args(manifest, run, 3)]
    proc = subprocess.Popen(
        argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if meta.exists() and json.loads(meta.read_text() or "{}").get("epoch", 0) >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _metadata_epoch(run)
    assert 1 <= killed_at < 3
    # The backup is committed after history.csv has the epoch's row.
    assert _epochs_in_history(run)[:killed_at] == [str(e) for e in range(killed_at)]
    _assert_whole_models_only(run)
    done = _rerun_to_the_end(manifest, run, 3)
    assert f"resuming from {run / 'backup'} at epoch {killed_at + 1}" in done.stderr


@pytest.mark.parametrize(
    "method, prefix, nth, resumed_at",
    [
        # The backup of the last epoch (the second): the first one's is kept.
        ("save_weights", ".ckpt-", 2, 1),
        # The first model.keras (after epoch 1, before its backup is committed).
        pytest.param("save", ".model.keras.", 1, 0, marks=pytest.mark.slow),
        # last.keras, after the final backup: the rerun trains nothing.
        pytest.param("save", ".last.keras.", 1, 2, marks=pytest.mark.slow),
    ],
    ids=["backup-weights", "model.keras", "last.keras"],
)
def test_kill_9_during_a_checkpoint_write_then_rerun_resumes(
    tmp_path, method, prefix, nth, resumed_at
):
    manifest, run = _corpus(tmp_path), tmp_path / "run"
    killed = subprocess.run(
        [sys.executable, "-c", KILL_IN_WRITE, method, prefix, str(nth)]
        + _train_args(manifest, run, 2),
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    # A half-written temp file is there, and no corrupt model beside it.
    assert list(run.glob(".*.tmp*")) or list((run / "backup").glob(".*.tmp*"))
    _assert_whole_models_only(run)
    meta = run / "backup" / "training_metadata.json"
    assert (_metadata_epoch(run) if meta.exists() else 0) == resumed_at
    done = _rerun_to_the_end(manifest, run, 2)
    if resumed_at:
        assert f"at epoch {resumed_at + 1}" in done.stderr


def test_trim_history_keeps_completed_epochs_and_drops_a_cut_row(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,3.0\n1,2.0\n2,1.5\n3,1.")
    trim_history(path, 2)
    assert path.read_text() == "epoch,loss\n0,3.0\n1,2.0\n"
    trim_history(path, 5)
    assert path.read_text() == "epoch,loss\n0,3.0\n1,2.0\n"
    trim_history(path, 0)
    assert not path.exists()
