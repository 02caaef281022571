"""tf.distribute: MirroredStrategy over two logical CPU devices, and two local
MultiWorkerMirroredStrategy workers, train to the single-device losses.

Each run uses the same global batch (4), seed and file order (shuffle buffer
0), no dropout, SpecAugment or waveform augmentation, and a frozen conv front
end: frozen BatchNormalization uses its moving statistics, whereas a training
one normalises with per-replica batch statistics, which no data-parallel
split reproduces exactly. Losses and final weights must agree to `RTOL`.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile as sf

from asr.config import load_config
from asr.manifest import Utterance, write_manifest
from asr.training.fit import fit
from asr.training.pipeline import make_dataset, usable_paths
from tests.conftest import speechlike

RTOL = 1e-5  # relative; float32 sums in a different order agree to ~1e-7
TIMEOUT_S = 240  # per subprocess: a hang fails the test instead of blocking CI
CONFIG = """\
model: {rnn_units: 8, rnn_layers: 1, bidirectional: false, conv_filters: [2, 2],
        dropout: 0.0}
augment: {spec_time_masks: 0, spec_freq_masks: 0}
data: {batch_size: 4, num_buckets: 1, shuffle_buffer: 0}
train: {warmup_steps: 2, freeze_frontend: true, epochs: 1, steps_per_epoch: 3}
"""

# Two logical CPU devices must be configured before TF initialises its
# devices, so the mirrored run gets a fresh interpreter.
MIRRORED = """\
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)
from asr.config import load_config
from asr.training.fit import fit

cfg = load_config(sys.argv[1], [f"train.strategy=mirrored", *sys.argv[3:]])
history = fit(cfg, sys.argv[2], verbose=0)
print(json.dumps(history.history))
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict:
    """Eight training clips, five validation clips (an odd count: the last
    validation step leaves a replica without data), the config file."""
    root = tmp_path_factory.mktemp("distribute")
    rows = []
    for i in range(8):
        path = root / f"u{i}.wav"
        sf.write(path, speechlike(0.5 + 0.05 * i, seed=i), 16000)
        rows.append(Utterance(str(path), 0.5 + 0.05 * i, ["ab", "ba"][i % 2]))
    write_manifest(root / "train.jsonl", rows)
    write_manifest(root / "val.jsonl", rows[:5])
    config = root / "tiny.yaml"
    config.write_text(CONFIG)
    return {"root": root, "config": str(config)}


def _overrides(setup: dict, val: bool) -> list[str]:
    root = setup["root"]
    out = [f"data.train_manifest={root / 'train.jsonl'}"]
    if val:
        out.append(f"data.val_manifest={root / 'val.jsonl'}")
    return out


def _reference(setup: dict) -> tuple[dict, list[np.ndarray]]:
    """Single-device run in this process (once): (history, final weights).
    Validation does not change training, so runs without it compare their
    training loss and weights to this one."""
    run = setup["root"] / "single"
    if not run.exists():
        cfg = load_config(setup["config"], _overrides(setup, val=True))
        fit(cfg, run, verbose=0)
    return _history(run), _weights(run)


def _history(run: Path) -> dict[str, list[float]]:
    with open(run / "history.csv") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in ("loss", "val_loss") if rows[0].get(k) not in (None, "NA")]
    return {k: [float(r[k]) for r in rows] for k in keys}


def _weights(run: Path) -> list[np.ndarray]:
    return keras.saving.load_model(run / "last.keras", safe_mode=True).get_weights()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _finish(procs: list[subprocess.Popen]) -> list[tuple[str, str]]:
    """Waits for every process (killing all on a timeout); returns their
    (stdout, stderr)."""
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=TIMEOUT_S)
            assert p.returncode == 0, err[-3000:]
            outs.append((out, err))
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
            p.communicate()
        pytest.fail(f"a distributed run did not finish in {TIMEOUT_S} s (hang?)")
    return outs


def _assert_same_training(
    history: dict, weights: list[np.ndarray], ref: tuple[dict, list[np.ndarray]]
) -> None:
    ref_history, ref_weights = ref
    assert history.keys() <= ref_history.keys() and "loss" in history
    for key, values in history.items():
        np.testing.assert_allclose(values, ref_history[key], rtol=RTOL, err_msg=key)
    for got, want in zip(weights, ref_weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-7)


def test_worker_shards_split_the_file_list_and_keep_the_global_batch(setup):
    cfg = load_config(setup["config"], _overrides(setup, val=False))
    manifest = cfg.data.train_manifest
    paths = usable_paths(manifest, cfg)
    batches = {
        i: list(
            make_dataset(
                manifest, cfg, training=True, num_shards=2, shard_index=i, batch_size=2
            )
        )
        for i in range(2)
    }
    seen = {}
    for i, shard in batches.items():
        index = [int(j) for _, y in shard for j in y["index"].numpy()]
        assert index == list(range(i, 8, 2))  # every 2nd file, in order
        assert [len(y["index"]) for _, y in shard] == [2, 2]  # 4 / 2 workers
        for _, y in shard:
            for j, p in zip(y["index"].numpy(), y["paths"].numpy()):
                seen[int(j)] = p.decode()
    assert seen == dict(enumerate(paths))  # index names the file; nothing lost
    with pytest.raises(ValueError, match="cannot feed 9 workers"):
        make_dataset(manifest, cfg, training=True, num_shards=9, shard_index=0)


def test_mirrored_two_devices_train_like_one_device(setup):
    run = setup["root"] / "mirrored"
    proc = subprocess.Popen(
        [sys.executable, "-c", MIRRORED, setup["config"], str(run)]
        + _overrides(setup, val=True),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    ref = _reference(setup)
    ((out, _),) = _finish([proc])
    logged = json.loads(out.strip().splitlines()[-1])
    history = _history(run)
    assert history["loss"] == pytest.approx(logged["loss"])  # epoch logs agree
    _assert_same_training(history, _weights(run), ref)


def _start_workers(
    setup: dict, run: Path, tmp: dict[int, Path], sets: list[str] = ()
) -> list[subprocess.Popen]:
    """Two `asr train --strategy multiworker` processes on localhost ports
    (fresh ones each call), each with its own TMPDIR `tmp[index]`."""
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(2)]}
    procs = []
    for index in range(2):
        tmp[index].mkdir(exist_ok=True)
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        cmd = [sys.executable, "-m", "asr", "train", "-c", setup["config"]]
        cmd += ["--strategy", "multiworker", "--out", str(run)]
        for item in [*_overrides(setup, val=False), *sets]:
            cmd += ["--set", item]
        procs.append(
            subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=_env(TF_CONFIG=json.dumps(tf_config), TMPDIR=str(tmp[index])),
            )
        )
    return procs


def test_two_workers_train_like_one_process(setup):
    run = setup["root"] / "multiworker"
    tmp = {i: setup["root"] / f"tmp{i}" for i in range(2)}
    procs = _start_workers(setup, run, tmp)
    ref = _reference(setup)
    _finish(procs)
    _assert_same_training(_history(run), _weights(run), ref)
    assert list((run / "backup").glob("ckpt-*.weights.h5"))
    assert not list(run.glob(".*tmp*"))  # atomic saves left no temp files
    # The non-chief wrote to its own temporary folder, removed at the end.
    assert not list(tmp[1].glob("asr-worker*"))


# Resume: 3 epochs of 4 steps. 4 steps of the global batch 4 are exactly 2
# passes over the 8 clips (each worker: 2 passes over its 4 clips at 2 a step),
# so every epoch starts at the first file, and a resumed run, whose input
# starts again at the first file, sees what the uninterrupted run sees (with
# steps that cross an epoch's pass boundary it would not, and only the epoch
# count could be checked). Nothing else is random (no dropout, augmentation or
# shuffling), and the backup holds the weights and the optimizer's state (its
# step count drives the learning-rate schedule), so the resumed run must
# reproduce the uninterrupted one to RTOL. Killing needs no slowing down: the
# window from the first backup (committed as epoch 2 begins) to the last one
# holds two epochs, and polling every 50 ms falls well inside it.
RESUME_EPOCHS = 3
RESUME = [f"train.epochs={RESUME_EPOCHS}", "train.steps_per_epoch=4"]


def _metadata_epoch(run: Path) -> int:
    meta = run / "backup" / "training_metadata.json"
    try:
        return int(json.loads(meta.read_text())["epoch"])
    except (OSError, ValueError, KeyError):  # not there yet
        return 0


def _kill_after_first_backup(procs: list[subprocess.Popen], run: Path) -> int:
    """SIGKILLs every worker once the chief's backup holds an epoch; returns
    the epoch it holds."""
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline and all(p.poll() is None for p in procs):
            if _metadata_epoch(run) >= 1:
                break
            time.sleep(0.05)
        alive = all(p.poll() is None for p in procs)
    finally:
        for p in procs:
            p.send_signal(signal.SIGKILL)
        errs = [p.communicate()[1] for p in procs]
    assert alive, "a worker ended before it could be killed: " + errs[0][-3000:]
    return _metadata_epoch(run)


# Two launches of two workers, one after the other: ~70 s on a shared 2-core machine
# (about 50 s of CPU), over the default run's budget.
@pytest.mark.slow
def test_two_workers_killed_then_rerun_resume_where_they_stopped(setup):
    run = setup["root"] / "resumed"
    tmp = {i: setup["root"] / f"resume_tmp{i}" for i in range(2)}
    killed_at = _kill_after_first_backup(_start_workers(setup, run, tmp, RESUME), run)
    assert 1 <= killed_at < RESUME_EPOCHS
    # The same two commands again (new ports: the old ones may linger).
    procs = _start_workers(setup, run, tmp, RESUME)
    # Meanwhile, the uninterrupted run: one device, the same global batch.
    ref_run = setup["root"] / "resume_reference"
    cfg = load_config(setup["config"], [*_overrides(setup, val=False), *RESUME])
    try:
        fit(cfg, ref_run, verbose=0)
    except BaseException:
        for p in procs:
            p.kill()
            p.communicate()
        raise
    for _, err in _finish(procs):
        assert f"at epoch {killed_at + 1}" in err  # both restored the backup
    with open(run / "history.csv") as f:
        epochs = [int(r["epoch"]) for r in csv.DictReader(f)]
    assert epochs == list(range(RESUME_EPOCHS))  # each epoch once: resumed
    assert _metadata_epoch(run) == RESUME_EPOCHS
    ref = (_history(ref_run), _weights(ref_run))
    _assert_same_training(_history(run), _weights(run), ref)
    keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert not list(run.glob(".*tmp*")) and not list((run / "backup").glob(".tmp*"))
