"""Packs a trained run into a bundled model folder (float16 weights + config).

    python scripts/pack_model.py runs/digits asr/pretrained/digits

The run's learning curve and n-gram LM (`learning_curve.png`, `lm.arpa`) go
with it where the run has them. Checks that the packed model gives the same
greedy text as the run's model on the given manifest (optional) before it
reports success.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.checkpoint import pack_model  # noqa: E402
from asr.transcribe import load_model  # noqa: E402

EXTRAS = ("learning_curve.png", "lm.arpa")  # copied from the run where present


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="run folder with model.keras and config.yaml")
    parser.add_argument("out", help="bundled model folder, e.g. asr/pretrained/NAME")
    parser.add_argument("--check-manifest", help="manifest to compare texts on")
    args = parser.parse_args()
    source = load_model(args.run, precision="float32")  # the exact network
    path = pack_model(source.network, source.cfg, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    for name in EXTRAS:
        extra = Path(args.run) / name
        if extra.is_file():
            shutil.copy2(extra, Path(args.out) / name)
            print(f"copied {extra}")
    if args.check_manifest:
        from asr.manifest import read_manifest

        files = [r.audio_filepath for r in read_manifest(args.check_manifest)]
        a = source.transcribe_batch(files)
        b = load_model(args.out, precision="float32").transcribe_batch(files)
        same = sum(x == y for x, y in zip(a, b))
        print(f"float16 vs float32 texts identical on {same}/{len(files)} utterances")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
