"""Time to accuracy: the test WER that a fixed wall-time budget of training buys.

    python scripts/time_to_accuracy.py                  # 60 min on 2 h (the figure)
    python scripts/time_to_accuracy.py --minutes 1 --hours 0.02 \\
        --data /tmp/tta-data --run /tmp/tta-run --out /tmp/tta.json   # a smoke run

Three `asr` commands, each in a child process running this checkout:

1. `asr prepare synthetic --vocabulary closed --hours H --seed S --out DATA`
   (a fixed corpus: the closed vocabulary of the bundled synth-en's corpora,
   so the figure compares with its model card; a rerun reuses it);
2. `asr train --config CONFIG` (configs/ds2_small.yaml) from scratch into RUN
   (removed first if an earlier run of this script made it) on DATA's train
   and dev splits, with `train.max_minutes=MINUTES`: training stops after the
   step that spends the budget (the time counts from the start of the first
   step's callbacks: building the model and the feature statistics come
   before it, so the command's wall time is reported too);
3. `asr evaluate` (greedy) of RUN/model.keras, the best validation WER of the
   epochs (the last, cut short by the budget, included), on DATA's test split.

Writes (default benchmarks/time_to_accuracy.json): minutes (the budget),
train_wall_minutes, steps, epochs (fractional), wer, cer, val_wer_best, cpu,
cores, the corpus, config and overrides, date and versions. The goal is
WER <= 0.25 in 60 minutes (issue 30); every training speed-up should move it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asr.cpu import cpu_info  # noqa: E402
from asr.files import atomic_write_text  # noqa: E402

MARKER = ".time_to_accuracy"  # in a run folder this script made (and may remove)


def log(msg: str) -> None:
    print(f"[tta {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def asr(*args: str) -> float:
    """Runs `python -m asr *args` (this checkout's package); returns its wall
    seconds. Raises CalledProcessError if it fails (its output went to ours)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH")])
    )
    log("asr " + " ".join(args))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "asr", *args], env=env, check=True)
    return time.perf_counter() - t0


def fresh_run_folder(run: Path) -> None:
    """Empties `run` for a from-scratch run: only a folder this script made."""
    if run.exists():
        if not (run / MARKER).is_file():
            raise SystemExit(
                f"time_to_accuracy: {run} exists and was not made by this "
                "script; give another --run folder"
            )
        shutil.rmtree(run)
    run.mkdir(parents=True)
    (run / MARKER).write_text("made by scripts/time_to_accuracy.py\n")


def _version(*names: str) -> str | None:
    """The installed version of the first of `names` found (without importing)."""
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--minutes", type=float, default=60.0, help="training budget (default 60)"
    )
    parser.add_argument(
        "--hours", type=float, default=2.0, help="corpus size in hours (default 2)"
    )
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument(
        "--config", default=str(ROOT / "configs/ds2_small.yaml"), help="model config"
    )
    parser.add_argument(
        "--data",
        help="corpus folder (default data/tta-synth-closed-<hours>h-seed<seed>)",
    )
    parser.add_argument(
        "--run",
        default="runs/time_to_accuracy",
        help="run folder (default %(default)s)",
    )
    parser.add_argument(
        "--out",
        default=str(ROOT / "benchmarks/time_to_accuracy.json"),
        help="result JSON (default benchmarks/time_to_accuracy.json)",
    )
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="more config overrides for asr train (they change what is measured)",
    )
    args = parser.parse_args()
    if not 0 < args.minutes < float("inf"):
        parser.error("--minutes must be > 0")
    data = Path(args.data or f"data/tta-synth-closed-{args.hours:g}h-seed{args.seed}")
    run = Path(args.run)

    prepare_s = asr(
        "prepare", "synthetic", "--out", str(data), "--hours", str(args.hours),
        "--seed", str(args.seed), "--vocabulary", "closed",
    )  # fmt: skip
    fresh_run_folder(run)
    budget = f"train.max_minutes={args.minutes:g}"
    train_s = asr(
        "train", "--config", args.config, "--out", str(run),
        "--train", str(data / "train.jsonl"), "--val", str(data / "dev.jsonl"),
        "--set", budget, *args.set,
    )  # fmt: skip
    meta = json.loads((run / "backup" / "training_metadata.json").read_text())
    best = json.loads((run / "best.json").read_text())
    asr(
        "evaluate", "--model", str(run / "model.keras"), "--decoder", "greedy",
        "--manifest", str(data / "test.jsonl"), "--out", str(run / "test"),
    )  # fmt: skip
    summary = json.loads((run / "test" / "summary.json").read_text())
    corpus = json.loads((data / "metadata.json").read_text())
    result = {
        "minutes": args.minutes,
        "train_wall_minutes": train_s / 60,
        "prepare_wall_minutes": prepare_s / 60,
        "steps": meta["step"],
        "epochs": meta["epoch"] + meta["batch"] / meta["steps_per_epoch"],
        "steps_per_epoch": meta["steps_per_epoch"],
        "wer": summary["wer"],
        "cer": summary["cer"],
        "test_utterances": summary["num_utterances"],
        "val_wer_best": best.get("value"),
        "goal": "wer <= 0.25 with minutes = 60",
        "corpus": {
            "command": f"asr prepare synthetic --vocabulary closed --hours "
            f"{args.hours:g} --seed {args.seed}",
            "folder": str(data),
            "train_hours": corpus["splits"]["train"]["hours"],
            "train_utterances": corpus["splits"]["train"]["utterances"],
        },
        "config": os.path.relpath(args.config, ROOT),
        "overrides": [budget, *args.set],
        "model": "model.keras (best validation WER)",
        **cpu_info(),
        "cores": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow", "tensorflow-cpu"),
        "keras": _version("keras"),
    }
    atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
