"""One process vs N local MultiWorkerMirroredStrategy workers on localhost ports,
the same config and global batch: per-epoch loss agreement and throughput.

    python scripts/bench_distribute.py                          # tiny model
    python scripts/bench_distribute.py --model ds2_small --steps 4

`--model`: "tiny" (1 x LSTM 8, conv filters 2) or "ds2_small" (the defaults:
2 conv + 3 BiLSTM x 256, 5.25 M params). Every run trains `--epochs` epochs of
`--steps` steps on 8 synthetic clips (0.5-0.85 s) with the settings under
which data parallelism reproduces the single-device run (no dropout,
augmentation or shuffling, frozen conv front end; see
tests/training/test_distribute.py). Throughput is the median over the epochs after the
first (which traces the step), timed from the end of each epoch's first step
to the end of its last, so start-up and checkpoint saving are left out. Prints one JSON
object: `loss_max_rel_diff`, and per run `steps_per_s` and `audio_s_per_s`.
On one machine the workers share its cores, so this shows the cost of the
synchronisation, not a speed-up.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# Adds a callback to `asr train` that times each epoch's steps after its first
# (from the end of step 1 to the end of the last: no tracing, no checkpoint
# saving); prints the per-step seconds of each epoch as JSON.
RUNNER = """
import json, sys, time
import keras
from asr.cli import main
from asr.training.step import Trainer

times = []
class Timer(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.t0 = time.perf_counter()
        self.t, self.n = time.perf_counter(), batch
    def on_epoch_end(self, epoch, logs=None):
        times.append((self.t - self.t0) / max(self.n, 1))

fit = Trainer.fit
Trainer.fit = lambda self, *a, callbacks=(), **k: fit(
    self, *a, callbacks=[Timer(), *callbacks], **k
)
code = main(sys.argv[1:])
print(json.dumps(times))
sys.exit(code)
"""
DETERMINISTIC = [
    "model.dropout=0.0",
    "augment.spec_time_masks=0",
    "augment.spec_freq_masks=0",
    "data.num_buckets=1",
    "data.shuffle_buffer=0",
    "train.freeze_frontend=true",
    "train.warmup_steps=2",
]
TINY = ["model.rnn_units=8", "model.rnn_layers=1", "model.bidirectional=false"]
TINY += ["model.conv_filters=[2,2]"]


def _corpus(root: Path) -> tuple[Path, float]:
    import soundfile as sf

    from asr.manifest import Utterance, write_manifest

    rows, sr = [], 16000
    for i in range(8):
        seconds = 0.5 + 0.05 * i
        t = np.arange(int(seconds * sr)) / sr
        rng = np.random.default_rng(i)
        f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t + i)
        wave = np.sin(2 * np.pi * np.cumsum(f0) / sr) * (0.5 + 0.5 * np.sin(9 * t))
        wave = 0.1 * wave + 0.005 * rng.standard_normal(len(t))
        sf.write(root / f"u{i}.wav", wave.astype(np.float32), sr)
        rows.append(Utterance(str(root / f"u{i}.wav"), seconds, ["ab", "ba"][i % 2]))
    write_manifest(root / "train.jsonl", rows)
    return root / "train.jsonl", float(np.mean([r.duration for r in rows]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args, argv: list[str], workers: int, run: Path) -> list[float]:
    """Trains with `workers` processes (1: strategy default); returns the
    chief's seconds per step, one value per epoch."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    cluster = {"worker": [f"127.0.0.1:{_free_port()}" for _ in range(workers)]}
    procs = []
    for index in range(workers):
        cmd = [sys.executable, "-c", RUNNER, *argv, "--out", str(run)]
        worker_env = dict(env)
        if workers > 1:
            cmd += ["--strategy", "multiworker"]
            task = {"type": "worker", "index": index}
            worker_env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": task})
        procs.append(
            subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=worker_env,
            )
        )
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=args.timeout)
        if p.returncode:
            sys.exit(f"a run failed:\n{err[-3000:]}")
        outs.append(out)
    return json.loads(outs[0].strip().splitlines()[-1])


def _losses(run: Path) -> list[float]:
    with open(run / "history.csv") as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=("tiny", "ds2_small"), default="tiny")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=16, help="steps per epoch (>= 2)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4, help="global batch")
    ap.add_argument("--timeout", type=float, default=600, help="per run, seconds")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest, mean_s = _corpus(root)
        config = root / "base.yaml"
        config.write_text("{}\n")  # the defaults: ds2_small
        argv = ["train", "--config", str(config), "--train", str(manifest)]
        sets = DETERMINISTIC + (TINY if args.model == "tiny" else [])
        sets += [f"data.batch_size={args.batch}", f"train.epochs={args.epochs}"]
        sets += [f"train.steps_per_epoch={args.steps}"]
        for s in sets:
            argv += ["--set", s]
        result, losses = {}, {}
        for workers in (1, args.workers):
            run = root / f"run{workers}"
            times = _run(args, argv, workers, run)
            step_s = float(np.median(times[1:] or times))
            losses[workers] = _losses(run)
            result[f"{workers}_process" if workers == 1 else f"{workers}_workers"] = {
                "step_ms": [round(1000 * t, 1) for t in times],
                "steps_per_s": round(1 / step_s, 2),
                "audio_s_per_s": round(args.batch * mean_s / step_s, 1),
                "loss": losses[workers],
            }
        one, many = np.array(losses[1]), np.array(losses[args.workers])
        result["loss_max_rel_diff"] = float(np.max(np.abs(many - one) / np.abs(one)))
        result["model"] = args.model
        result["global_batch"], result["steps_per_epoch"] = args.batch, args.steps
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
