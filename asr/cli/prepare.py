"""`asr prepare CORPUS`: manifests (and audio) for a corpus, then a summary."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter


# -- prepare ------------------------------------------------------------------
def cmd_prepare(args) -> int:
    t0 = time.perf_counter()
    if args.corpus == "noise":
        from asr.datasets.noise import KINDS, prepare_noise

        paths = prepare_noise(
            args.out,
            seed=args.seed,
            seconds=args.seconds,
            count=args.count,
            kinds=args.kinds or KINDS,
        )
        for path in paths:
            print(path)
        print(f"{len(paths)} noise files -> {args.out}")
        print(f"done in {time.perf_counter() - t0:.1f} s")
        return 0
    if args.corpus == "keywords":
        return _prepare_keywords(args, t0)
    if args.corpus == "librispeech":
        from asr.datasets.librispeech import prepare_librispeech

        out = prepare_librispeech(
            args.root,
            args.out,
            parts=args.parts,
            download=args.download,
            progress=sys.stderr.isatty(),
        )
    elif args.corpus == "kaldi":
        return _prepare_kaldi(args, t0)
    elif args.corpus == "speech-commands":
        from asr.datasets.speech_commands import prepare_speech_commands

        out = prepare_speech_commands(
            args.root, args.out, download=args.download, progress=sys.stderr.isatty()
        )
    else:
        from asr.datasets.synthetic import prepare_synthetic

        out = prepare_synthetic(
            args.out,
            hours=args.hours,
            seed=args.seed,
            workers=args.workers,
            progress=sys.stderr.isatty(),
            texts=args.texts,
            vocabulary=args.vocabulary,
            old_fraction=args.old_fraction,
        )
    from asr.manifest import read_manifest

    for name, path in out.items():
        rows = read_manifest(path, bad_lines=[])
        hours = sum(r.duration for r in rows) / 3600
        print(f"{name}: {len(rows)} utterances, {hours:.2f} h -> {path}")
        report = path.with_name(f"{path.stem}.skipped.jsonl")
        if report.is_file():
            skipped = report.read_text(encoding="utf-8").splitlines()
            for line in skipped:
                row = json.loads(line)
                audio = os.path.normpath(report.parent / row["audio_filepath"])
                print(f"skipped: {audio}: {row['reason']}", file=sys.stderr)
            print(f"{name}: {len(skipped)} skipped -> {report}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _prepare_kaldi(args, t0: float) -> int:
    from collections import Counter

    from asr.datasets.kaldi import prepare_kaldi

    summary = prepare_kaldi(
        args.dir, args.out, dev_speakers=args.dev_speakers, seed=args.seed
    )
    for name, path in summary["manifests"].items():
        print(
            f"{name}: {summary['written'][name]} utterances, "
            f"{summary['seconds'][name] / 3600:.2f} h, "
            f"{summary['speakers'][name]} speakers -> {path}"
        )
    if summary["dev_speakers"]:
        groups = Counter(
            f"{d['gender'] or '?'}/{d['age_group'] or '?'}"
            for d in summary["dev_speakers"]
        )
        print(
            "dev speakers by gender/age group: "
            + ", ".join(f"{k} {n}" for k, n in sorted(groups.items()))
        )
    skipped = summary["skipped"]  # each was logged as a warning with file:line
    kinds = Counter(row["kind"] for row in skipped)
    written = sum(summary["written"].values())
    reasons = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(
        f"{written} written, {len(skipped)} skipped"
        + (f" ({reasons})" if reasons else "")
    )
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _prepare_keywords(args, t0: float) -> int:
    from asr.datasets.keywords import DIGITS, prepare_keywords
    from asr.manifest import read_manifest

    sources = {
        split: getattr(args, split)
        for split in ("train", "dev", "test")
        if getattr(args, split)
    }
    if not sources:
        print(
            "asr prepare keywords: error: give source manifests with --train, "
            "--dev and/or --test",
            file=sys.stderr,
        )
        return 2
    if args.unknown_fraction + args.silence_fraction >= 1:
        print(
            "asr prepare keywords: error: --unknown-fraction plus "
            "--silence-fraction must be under 1",
            file=sys.stderr,
        )
        return 2
    out = prepare_keywords(
        args.out,
        args.keywords or DIGITS,
        sources,
        noise_dir=args.noise_dir,
        unknown_fraction=args.unknown_fraction,
        silence_fraction=args.silence_fraction,
        synthetic=not args.no_synthetic,
        seed=args.seed,
        workers=args.workers,
        progress=sys.stderr.isatty(),
    )
    for split, path in out.items():
        rows = read_manifest(path, bad_lines=[])
        labels = Counter(r.text for r in rows)
        other = sum(n for label, n in labels.items() if label.startswith("_"))
        print(
            f"{split}: {len(rows)} rows ({len(rows) - other} keyword, "
            f"{labels['_unknown_']} _unknown_, {labels['_silence_']} _silence_) "
            f"-> {path}"
        )
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0
