"""Averages the weights of several checkpoints of one run into a new model.

    python scripts/average_models.py runs/a/model.keras runs/a/last.keras \
        runs/b/model.keras --out runs/avg

Each argument is a `.keras` file or a run folder (its `model.keras`); all must
be the same architecture, from one training trajectory (a run and its
fine-tunes). `asr train --set train.average_best=N` does this within a run;
`--snapshots RUN` averages the epochs such a run has kept so far (a run
stopped early):

    python scripts/average_models.py --snapshots runs/a --out runs/a_avg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.training.averaging import average_models, average_run_snapshots  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", help=".keras files or run folders")
    parser.add_argument(
        "--snapshots", metavar="RUN", help="average RUN/epochs (train.average_best)"
    )
    parser.add_argument("--out", required=True, help="folder for the averaged model")
    args = parser.parse_args()
    if bool(args.models) == bool(args.snapshots):
        parser.error("give either models or --snapshots RUN")
    try:
        if args.snapshots:
            path = average_run_snapshots(args.snapshots, args.out)
        else:
            path = average_models(args.models, args.out)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
