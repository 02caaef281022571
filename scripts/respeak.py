"""Speak a manifest's transcripts again with other synthesisers' voices.

    python scripts/respeak.py --manifest data/so762/dev.jsonl --out data/tts_festival \
        --voices festival:voice_ked_diphone,festival:voice_cmu_us_slt_arctic_hts

writes OUT/audio/NNNN.wav (16 kHz) and OUT/test.jsonl: the same sentences as
the manifest, each spoken by the next voice in turn (key `voice`), so that
`asr evaluate --group-by voice` compares a model on real speakers and on
synthetic voices saying the same words. A test of voices, engines and speakers
outside training: festival's voices (`festival:VOICE`, spoken by `text2wave`;
Debian packages festival, festvox-*) are used by no recipe. `flite:NAME` voices
(`asr.datasets.flite`) and espeak-ng voices (`en-us+f3`) work too. Existing
clips are kept, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.audio import SAMPLE_RATE, to_mono_16k
from asr.datasets.espeak import synthesize
from asr.datasets.flite import is_flite_voice, synthesize_flite
from asr.files import atomic_write_text
from asr.manifest import read_manifest


def speak(text: str, voice: str) -> np.ndarray:
    """`text` as 16 kHz float32 samples, spoken by `voice`."""
    if is_flite_voice(voice):
        return synthesize_flite(text, voice)
    if not voice.startswith("festival:"):
        return synthesize(text, voice)
    if shutil.which("text2wave") is None:
        sys.exit("respeak: festival voices need text2wave (apt-get install festival)")
    with tempfile.TemporaryDirectory(prefix="asr-respeak-") as tmp:
        wav = Path(tmp) / "out.wav"
        done = subprocess.run(
            ["text2wave", "-eval", f"({voice.removeprefix('festival:')})", "-o", wav],
            input=text.encode(),
            capture_output=True,
            timeout=120,
        )
        if done.returncode != 0 or not wav.is_file():
            sys.exit(f"respeak: festival failed on {voice}: {done.stderr[-300:]!r}")
        samples, rate = sf.read(wav, dtype="float32")
    return to_mono_16k(samples, rate, voice)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", required=True, help="JSON-lines manifest")
    parser.add_argument("--out", required=True, help="folder for audio and test.jsonl")
    parser.add_argument(
        "--voices",
        required=True,
        help="comma-separated: festival:VOICE, flite:NAME or espeak-ng names",
    )
    parser.add_argument("--limit", type=int, default=0, help="first N rows only")
    args = parser.parse_args(argv)
    rows = read_manifest(args.manifest)
    rows = rows[: args.limit] if args.limit > 0 else rows
    voices = [v.strip() for v in args.voices.split(",") if v.strip()]
    if not rows or not voices:
        sys.exit("respeak: nothing to do (empty manifest or no voices)")
    out = Path(args.out)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, row in enumerate(rows):
        voice = voices[i % len(voices)]
        path = out / "audio" / f"{i:04d}.wav"
        if not path.is_file():
            audio = speak(row.text, voice)
            tmp = path.with_suffix(".tmp.wav")
            sf.write(tmp, np.clip(audio, -1, 1), SAMPLE_RATE)
            os.replace(tmp, path)
        seconds = sf.info(path).duration
        entry = {"audio_filepath": f"audio/{i:04d}.wav", "duration": round(seconds, 3)}
        lines.append(json.dumps({**entry, "text": row.text, "voice": voice}))
    atomic_write_text(out / "test.jsonl", "\n".join(lines) + "\n")
    print(f"{len(lines)} utterances, {len(voices)} voices -> {out / 'test.jsonl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
