"""How many frames later a student model fires each label than a teacher:
the `train.distill_shift` for distilling a bidirectional model into a causal one.

    python scripts/spike_offset.py --teacher synth-en \
        --student synth-en-streaming --manifest data/synth4/dev.jsonl

On the utterances both models transcribe alike (greedy), pairs each label's
first frame in the student with the teacher's and prints the distribution of
the differences and its median.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.audio import load_audio  # noqa: E402
from asr.decoding.ctc import greedy_spikes  # noqa: E402
from asr.manifest import read_manifest  # noqa: E402
from asr.transcribe import load_model  # noqa: E402


def spike_offsets(teacher_logits, student_logits) -> list[int]:
    """Student minus teacher frame of each label, over utterances whose two
    greedy label sequences are equal (others give no pairs)."""
    out = []
    for t, s in zip(teacher_logits, student_logits, strict=True):
        (t_labels, t_frames), (s_labels, s_frames) = greedy_spikes(t), greedy_spikes(s)
        if t_labels == s_labels:
            out += [b - a for a, b in zip(t_frames, s_frames)]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", required=True, help="model name or path")
    parser.add_argument("--student", required=True, help="model name or path")
    parser.add_argument("--manifest", required=True, help="JSON-lines manifest")
    parser.add_argument("--max-utterances", type=int, default=100)
    args = parser.parse_args()
    rows = read_manifest(args.manifest)[: args.max_utterances]
    waves = [load_audio(r.audio_filepath) for r in rows]
    logits = [load_model(m).logits_batch(waves) for m in (args.teacher, args.student)]
    offsets = spike_offsets(*logits)
    if not offsets:
        print("no utterance where both models give the same labels", file=sys.stderr)
        return 1
    for offset, count in sorted(Counter(offsets).items()):
        print(f"{offset:+4d} frames: {count}")
    median = int(np.median(offsets))
    print(
        f"{len(offsets)} labels; student minus teacher: median {median:+d}, "
        f"mean {np.mean(offsets):+.2f} frames -> train.distill_shift={max(median, 0)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
