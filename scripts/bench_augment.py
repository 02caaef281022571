"""Per-utterance cost of each waveform augmentation, and what all of them do to
a tf.data pipeline's throughput.

    python scripts/bench_augment.py                 # 5 s clip, 40 runs each
    python scripts/bench_augment.py --seconds 10 --runs 20

Each step alone (the others off, probability 1) is traced once with
`tf.function` and timed over `--runs` calls on one clip; "features" is the
log-mel of the same clip, for scale. The pipeline rows map the augmenter (all
steps at `configs/augment_real.yaml` values, noise and reverb at probability 1)
over `--clips` in-memory clips with `num_parallel_calls=AUTOTUNE` and report
clips per second, against the same pipeline with no augmentation. Prints one
JSON object (milliseconds per clip; clips per second).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from asr.augment import waveform_augmenter  # noqa: E402
from asr.config import AugmentConfig, load_config  # noqa: E402
from asr.datasets.noise import make_noise  # noqa: E402
from asr.features import LogMel  # noqa: E402

STEPS = {
    "speed": dict(speed_factors=(0.9, 1.1)),
    "vtlp": dict(vtlp_prob=1.0),
    "reverb": dict(reverb_prob=1.0),
    "gain": dict(gain_db=6.0),
    "pad_silence": dict(pad_silence_prob=1.0),
    "noise": dict(noise_prob=1.0),
    "noise_floor": dict(noise_floor_prob=1.0),
}


def _time(fn, x, runs: int) -> float:
    fn(x)  # trace
    start = time.perf_counter()
    for _ in range(runs):
        fn(x).numpy()
    return 1000 * (time.perf_counter() - start) / runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--clips", type=int, default=64)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = int(args.seconds * 16000)
    clip = tf.constant(0.1 * rng.standard_normal(n), tf.float32)
    noise = [make_noise(k, 0, 10 * 16000) for k in ("white", "pink", "brown")]
    logmel = LogMel.from_feature_config(load_config().features)
    out: dict = {"clip_s": args.seconds, "ms_per_clip": {}}
    feats = tf.function(lambda a: logmel.frames(a[None])[0])
    out["ms_per_clip"]["features (log-mel, for scale)"] = round(
        _time(feats, clip, args.runs), 2
    )
    for name, keys in STEPS.items():
        fn = tf.function(waveform_augmenter(AugmentConfig(**keys), noise))
        out["ms_per_clip"][name] = round(_time(fn, clip, args.runs), 2)

    real = load_config("configs/augment_real.yaml").augment
    real = replace(real, noise_prob=1.0, reverb_prob=1.0, vtlp_prob=1.0)
    clips = [0.1 * rng.standard_normal(n).astype(np.float32) for _ in range(8)]

    def throughput(augment) -> float:
        ds = tf.data.Dataset.from_tensor_slices(np.stack(clips)).repeat()
        if augment is not None:
            ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.map(lambda a: logmel.frames(a[None])[0])
        ds = ds.prefetch(tf.data.AUTOTUNE).take(args.clips)
        for _ in ds.take(4):  # warm up
            pass
        start = time.perf_counter()
        count = sum(1 for _ in ds)
        return round(count / (time.perf_counter() - start), 1)

    out["pipeline_clips_per_s"] = {
        "no augmentation": throughput(None),
        "augment_real, all steps at prob 1": throughput(
            waveform_augmenter(real, noise)
        ),
    }
    out["cpu_cores"] = os.cpu_count()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
