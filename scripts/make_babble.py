"""Babble noise from real recordings: several talkers taken from a folder of
speech files, each a run of random clips with short gaps, summed.

    python scripts/make_babble.py --speech-dir ../shared/data/fsdd_speech_commands \
        --out data/noise_eval/real_babble_00.wav --talkers 6 --seconds 30 --seed 0
    python scripts/make_babble.py --manifest data/so762/dev.jsonl \
        --out data/noise_eval_so762/real_babble_00.wav --seed 0

Pick talkers that the model under test neither trained on nor is tested on.
`asr prepare noise` makes babble from espeak-ng voices only; this makes it
from real recordings: to measure robustness to a noise kind a model never
trained on, or as training noise from a corpus's training speakers (the
`digits` recipe, stage 4).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from asr.audio import AUDIO_EXTENSIONS, SAMPLE_RATE, load_audio, save_audio
from asr.manifest import read_manifest


def real_babble(files: list[Path], samples: int, talkers: int, rng) -> np.ndarray:
    """(samples,) float32 at RMS 0.1: `talkers` tracks of random clips, summed."""
    out = np.zeros(samples)
    for _ in range(talkers):
        track, have = [], 0
        while have < samples:
            clip = load_audio(str(files[rng.integers(len(files))]))
            clip = clip / max(np.sqrt(np.mean(clip**2)), 1e-9)
            gap = np.zeros(int(rng.uniform(0.05, 0.4) * SAMPLE_RATE))
            track += [clip, gap]
            have += len(clip) + len(gap)
        out += np.concatenate(track)[:samples] * 10 ** (rng.uniform(-3, 3) / 20)
    return (0.1 * out / max(np.sqrt(np.mean(out**2)), 1e-9)).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--speech-dir", help="folder of speech files")
    source.add_argument(
        "--manifest", help="JSON-lines manifest whose audio files are the speech"
    )
    parser.add_argument("--out", required=True, help="output WAV file")
    parser.add_argument("--talkers", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.manifest:
        files = [Path(u.audio_filepath) for u in read_manifest(args.manifest)]
    else:
        files = sorted(
            p
            for p in Path(args.speech_dir).rglob("*")
            if p.suffix.lower() in AUDIO_EXTENSIONS
            and not p.parent.name.startswith("_")
        )
    if not files:
        parser.error(f"{args.manifest or args.speech_dir}: no audio files")
    rng = np.random.default_rng(args.seed)
    audio = real_babble(files, int(args.seconds * SAMPLE_RATE), args.talkers, rng)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_audio(args.out, audio, SAMPLE_RATE)
    print(f"wrote {args.out} ({args.seconds:g} s, {args.talkers} talkers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
