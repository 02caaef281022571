"""WER on long recordings: segmentation at pauses vs fixed windows.

    python scripts/long_audio.py --model english --manifest data/so762/dev.jsonl \
        --minutes 3 --out benchmarks/long_audio_english.json

Long recordings are made from a manifest's utterances (seeded order) joined by
pauses of 0.1-1.0 s, under a white-noise floor at -60 dBFS, until each is
`--minutes` long; the reference is their texts joined. Each recording is
recognised whole by `Recognizer.transcribe` with `segmentation="windows"`
(fixed 20 s windows, 2 s context) and `"pauses"` (`asr.segmentation`), and,
as the bound neither can beat without knowing the cuts, each utterance on its
own ("oracle"). Prints and writes WER / CER and seconds per method.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from asr.audio import SAMPLE_RATE, load_audio
from asr.files import atomic_write_text
from asr.manifest import read_manifest
from asr.metrics import error_rates
from asr.transcribe import load_model


def make_recordings(utterances, minutes: float, count: int, seed: int):
    """[(wave, reference text, [per-utterance waves])] of about `minutes` each."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(utterances))
    recordings, k = [], 0
    for _ in range(count):
        parts, texts, waves, have = [], [], [], 0
        while have < minutes * 60 * SAMPLE_RATE and k < len(order):
            utt = utterances[order[k]]
            k += 1
            wave = load_audio(utt.audio_filepath)
            pause = np.zeros(int(rng.uniform(0.1, 1.0) * SAMPLE_RATE), np.float32)
            parts += [wave, pause]
            texts.append(utt.text)
            waves.append(wave)
            have += len(wave) + len(pause)
        if not parts:
            break
        signal = np.concatenate(parts)
        signal += (10 ** (-60 / 20) * rng.standard_normal(len(signal))).astype(
            np.float32
        )
        recordings.append((signal, " ".join(texts), waves))
    return recordings


def _settings(text: str) -> dict:
    out = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        out[key] = value if key == "prefer" else float(value)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="synth-en")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--recordings", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="JSON results file")
    parser.add_argument(
        "--pauses",
        nargs="*",
        default=["min_seconds=3,prefer=last"],
        help="settings of asr.segmentation.pause_segments to compare, "
        "e.g. min_seconds=3,prefer=first",
    )
    args = parser.parse_args(argv)

    recordings = make_recordings(
        read_manifest(args.manifest), args.minutes, args.recordings, args.seed
    )
    rec = load_model(args.model)
    rec.warmup()
    refs = [text for _, text, _ in recordings]
    results = {}
    methods = ["windows", *(f"pauses:{p}" for p in args.pauses), "oracle"]
    for method in methods:
        start = time.perf_counter()
        if method == "oracle":
            hyps = [" ".join(rec.transcribe_batch(waves)) for _, _, waves in recordings]
        else:
            rec.segmentation, _, setting = method.partition(":")
            rec.segmentation_options = _settings(setting)
            hyps = [rec.transcribe(wave) for wave, _, _ in recordings]
        seconds = time.perf_counter() - start
        rates = error_rates(refs, hyps)
        results[method] = {
            "wer": round(rates["wer"], 4),
            "cer": round(rates["cer"], 4),
            "seconds": round(seconds, 1),
        }
        print(
            f"{method:40s} WER {100 * rates['wer']:6.2f} %  CER "
            f"{100 * rates['cer']:6.2f} %  {seconds:6.1f} s",
            flush=True,
        )
    audio_s = sum(len(w) for w, _, _ in recordings) / SAMPLE_RATE
    summary = {
        "model": args.model,
        "manifest": args.manifest,
        "recordings": len(recordings),
        "audio_seconds": round(audio_s, 1),
        "seed": args.seed,
        "results": results,
    }
    if args.out:
        atomic_write_text(args.out, json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
