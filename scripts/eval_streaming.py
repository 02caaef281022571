"""Scores a causal model through `StreamingRecognizer`, chunk by chunk, on a
manifest, and checks each text against the offline forward pass.

    python scripts/eval_streaming.py --model runs/synth_en_streaming \\
        --manifest data/synth/test.jsonl --chunk-ms 100 --out runs/x/stream.json

Prints and writes one JSON object: streamed WER/CER, how many streamed texts
equal the offline model's greedy texts, and per-chunk latency (p50/p95 ms) and
real-time factor of the streamed run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.audio import load_audio  # noqa: E402
from asr.files import atomic_write_text  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402
from asr.metrics import error_rates  # noqa: E402
from asr.streaming.recognizer import StreamingRecognizer  # noqa: E402
from asr.transcribe import load_model  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="run folder or bundled name")
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--chunk-ms", type=float, default=100.0)
    parser.add_argument(
        "--backend",
        choices=("tf", "tflite", "tflite-int8", "auto"),
        default="tf",
        help="what runs each step (StreamingRecognizer backend)",
    )
    parser.add_argument("--out", help="JSON file to write")
    args = parser.parse_args()

    recognizer = load_model(args.model)
    stream = StreamingRecognizer(
        recognizer,
        chunk_ms=args.chunk_ms,
        endpoint_silence_ms=0,
        backend=args.backend,
    )
    rows = read_manifest(args.manifest)
    waves = [load_audio(r.audio_filepath) for r in rows]
    offline = recognizer.transcribe_batch(waves)
    step = int(16 * args.chunk_ms)
    stream.accept_waveform(np.zeros(step, np.float32))  # trace, not timed
    stream.finalize()
    streamed, chunk_s = [], []
    t0 = time.perf_counter()
    for wave in waves:
        for start in range(0, len(wave), step):
            t = time.perf_counter()
            stream.accept_waveform(wave[start : start + step])
            chunk_s.append(time.perf_counter() - t)
        streamed.append(stream.finalize())
    wall = time.perf_counter() - t0
    refs = [r.text for r in rows]
    rates = error_rates(refs, streamed)
    result = {
        "model": args.model,
        "manifest": args.manifest,
        "chunk_ms": args.chunk_ms,
        "backend": stream.backend,
        "num_utterances": len(rows),
        "wer": rates["wer"],
        "cer": rates["cer"],
        "offline_wer": error_rates(refs, offline)["wer"],
        "texts_equal_offline": sum(a == b for a, b in zip(streamed, offline)),
        "chunk_ms_p50": 1e3 * float(np.percentile(chunk_s, 50)),
        "chunk_ms_p95": 1e3 * float(np.percentile(chunk_s, 95)),
        "rtf": wall / (sum(len(w) for w in waves) / 16000),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        atomic_write_text(Path(args.out), text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
