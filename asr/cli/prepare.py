"""`asr prepare CORPUS`: manifests (and audio) for a corpus, then a summary."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter

from asr.cli.arguments import (
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    fraction,
    keyword_list,
    librispeech_parts,
    noise_kinds,
)


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
            engine=args.engine,
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


def add_prepare_parser(sub) -> None:
    """Adds `asr prepare CORPUS ...` to the subcommands `sub`."""
    p = sub.add_parser(
        "prepare",
        help="make JSON-lines manifests for a corpus",
        description="Write train/dev/test manifests (JSON lines with "
        "audio_filepath, duration, text) for a corpus.",
    )
    psub = p.add_subparsers(dest="corpus", metavar="CORPUS", required=True)
    lib = psub.add_parser(
        "librispeech",
        help="LibriSpeech (local copy or --download)",
        description="Scan <root>/LibriSpeech/<part>/ and write "
        "OUT/<part>.jsonl for each part.",
    )
    lib.add_argument(
        "--root",
        required=True,
        help="folder holding LibriSpeech/ (downloads go here with --download)",
    )
    lib.add_argument(
        "--parts",
        type=librispeech_parts,
        default=None,
        help="comma-separated parts, e.g. dev-clean,test-clean "
        "(default: every part found)",
    )
    lib.add_argument(
        "--download",
        action="store_true",
        help="download missing parts (resumable, checksum-verified)",
    )
    lib.add_argument("--out", required=True, help="folder for the manifests")
    sc = psub.add_parser(
        "speech-commands",
        help="Google Speech Commands v2 layout",
        description="Write OUT/train.jsonl, OUT/validation.jsonl and "
        "OUT/test.jsonl from <root>/<word>/*.wav and the list files.",
    )
    sc.add_argument(
        "--root", required=True, help="corpus folder (holds <word>/ folders)"
    )
    sc.add_argument("--download", action="store_true", help="download v0.02 if missing")
    sc.add_argument("--out", required=True, help="folder for the manifests")
    kal = psub.add_parser(
        "kaldi",
        help="a Kaldi data directory (text, wav.scp, ...)",
        description="Read DIR/text and DIR/wav.scp, plus DIR/segments, utt2spk, "
        "spk2gender and spk2age when present, and write OUT/all.jsonl, or "
        "OUT/train.jsonl and OUT/dev.jsonl with --dev-speakers. Rows keep "
        "speaker, gender, age and age_group (child under 18); a segment becomes "
        "a row with offset and duration. Durations come from the audio headers. "
        "Broken lines (command pipes, missing or unreadable audio, ids missing "
        "from text or wav.scp, malformed lines) are reported with file:line and "
        "skipped.",
    )
    kal.add_argument("--dir", required=True, help="the Kaldi data directory")
    kal.add_argument("--out", required=True, help="folder for the manifests")
    kal.add_argument(
        "--dev-speakers",
        type=NON_NEGATIVE_INT,
        default=0,
        metavar="N",
        help="hold out N whole speakers into dev.jsonl, taken in turn from each "
        "(gender, age group) so dev stays balanced (default 0: write all.jsonl)",
    )
    kal.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed of the dev speaker choice (default 0)",
    )
    syn = psub.add_parser(
        "synthetic",
        help="synthesise an English corpus with espeak-ng (or flite)",
        description="Synthesise sentences with many espeak-ng voices; "
        "train/dev/test have disjoint voices and sentences. With the open "
        "vocabulary every dev and test sentence has a word train never says "
        "(OUT/held_out_words.<split>.txt).",
    )
    syn.add_argument("--out", required=True, help="folder for audio and manifests")
    syn.add_argument(
        "--hours", type=POSITIVE_FLOAT, default=1.0, help="hours of audio (default 1)"
    )
    syn.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    syn.add_argument(
        "--texts",
        choices=["sentences", "digits"],
        default="sentences",
        help="what the clips say: generated sentences (default) or one digit word "
        "each, for keyword/digit models",
    )
    syn.add_argument(
        "--vocabulary",
        choices=["open", "closed"],
        default="open",
        help="sentence words: open (~48k English words by frequency, held-out "
        "words in dev/test; default) or closed (the ~950-word template "
        "generator of the bundled models' corpora)",
    )
    syn.add_argument(
        "--old-fraction",
        type=fraction,
        default=0.2,
        metavar="F",
        help="open vocabulary: share of train sentences from the template "
        "generator (default 0.2)",
    )
    syn.add_argument(
        "--engine",
        choices=["espeak", "flite"],
        default="espeak",
        help="synthesiser: espeak (espeak-ng, ~830 voices, from pip; default) or "
        "flite (5 voices made from recorded speakers, closer to real speech; "
        "needs the flite program, e.g. apt-get install flite)",
    )
    syn.add_argument(
        "--workers",
        type=POSITIVE_INT,
        default=None,
        help="parallel processes (default: all cores)",
    )
    noise = psub.add_parser(
        "noise",
        help="generate noise files for augment.noise_dir (no download)",
        description="Write 16 kHz WAV files OUT/KIND_NN.wav: white, pink and "
        "brown noise, babble (4-8 espeak-ng voices at once) and mains hum "
        "(even NN 50 Hz, odd 60 Hz); on request also music (generated chords, "
        "bass, melody and drums; not a default kind, so that it stays a noise "
        "type left out of training for evaluation). The same seed writes the "
        "same files.",
    )
    noise.add_argument("--out", required=True, help="folder for the WAV files")
    noise.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    noise.add_argument(
        "--seconds",
        type=POSITIVE_FLOAT,
        default=30.0,
        help="length of each file (default 30)",
    )
    noise.add_argument(
        "--count", type=POSITIVE_INT, default=2, help="files per kind (default 2)"
    )
    noise.add_argument(
        "--kinds",
        type=noise_kinds,
        default=None,
        help="comma-separated kinds (default: white,pink,brown,babble,hum; "
        "also: music)",
    )
    kw = psub.add_parser(
        "keywords",
        help="classifier manifests: keywords, _unknown_, _silence_",
        description="Write OUT/<split>.jsonl for a keyword classifier: rows of "
        "the source manifests that say one keyword (labelled with it), "
        "_unknown_ rows (source speech with no keyword, cut to 1 s, and single "
        "non-keyword words synthesised with espeak-ng) and _silence_ rows (1 s "
        "crops of the noise files at random levels, zeros and a faint noise "
        "floor, written as audio). Details: docs/keywords.md.",
    )
    kw.add_argument("--out", required=True, help="folder for audio and manifests")
    kw.add_argument(
        "--keywords",
        type=keyword_list,
        default=None,
        help="comma-separated keywords (default: zero,one,...,nine)",
    )
    for split in ("train", "dev", "test"):
        kw.add_argument(
            f"--{split}",
            action="append",
            metavar="MANIFEST",
            help=f"a source manifest of the {split} split (repeatable)",
        )
    kw.add_argument(
        "--noise-dir",
        metavar="DIR",
        help="noise audio for _silence_ crops (e.g. a Speech Commands "
        "_background_noise_ folder or asr prepare noise's); default: zeros and "
        "a noise floor only",
    )
    kw.add_argument(
        "--unknown-fraction",
        type=fraction,
        default=0.1,
        metavar="F",
        help="share of _unknown_ rows (default 0.1)",
    )
    kw.add_argument(
        "--silence-fraction",
        type=fraction,
        default=0.1,
        metavar="F",
        help="share of _silence_ rows (default 0.1)",
    )
    kw.add_argument(
        "--no-synthetic",
        action="store_true",
        help="no espeak-ng words: _unknown_ rows from the source manifests only",
    )
    kw.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    kw.add_argument(
        "--workers",
        type=POSITIVE_INT,
        default=None,
        help="parallel synthesis processes (default: all cores)",
    )
    p.set_defaults(func=cmd_prepare)
