"""Builds a word n-gram language model (ARPA) from training transcripts.

    python scripts/make_lm.py --manifest train.jsonl --order 3 --out lm.arpa
    python scripts/make_lm.py --manifest a.jsonl --manifest b.jsonl --text extra.txt \\
        --order 4 --out lm.arpa
    python scripts/make_lm.py --manifest train.jsonl --vocabulary 50000 --out lm.arpa

`--vocabulary N` mixes wordfreq's N most frequent English words into the
unigrams (at `--vocabulary-weight`): an LM of a few thousand transcripts then
still lets the decoder write any common English word. Without it, the lexicon
decoder can only write the transcripts' words, and sentences from elsewhere
come out worse than without an LM (docs/language_models.md).

Pure Python (modified Kneser-Ney, `asr.decoding.arpa.build_arpa`): no KenLM
binaries needed.
For a large corpus use KenLM's `lmplz -o 3 < text.txt > lm.arpa` instead, and
`build_binary lm.arpa lm.bin` for a faster-loading model. Use the result with
`asr evaluate ... --decoder beam --lm lm.arpa`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from asr.datasets.wordlist import frequent_words
from asr.decoding.arpa import VOCABULARY_WEIGHT, build_arpa
from asr.manifest import ManifestError, read_manifest


def _texts(manifests: list[str], text_files: list[str]) -> Iterator[str]:
    for path in manifests:
        for utt in read_manifest(path):
            yield utt.text
    for path in text_files:
        with open(path, encoding="utf-8") as f:
            yield from f


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Build an ARPA word n-gram LM from manifests' transcripts."
    )
    parser.add_argument(
        "--manifest",
        action="append",
        default=[],
        metavar="FILE.jsonl",
        help="JSON-lines manifest whose 'text' fields are the corpus (repeatable)",
    )
    parser.add_argument(
        "--text",
        action="append",
        default=[],
        metavar="FILE.txt",
        help="plain text file, one sentence a line (repeatable)",
    )
    parser.add_argument("--order", type=int, default=3, help="n-gram order (>= 2)")
    parser.add_argument(
        "--vocabulary",
        type=int,
        default=0,
        metavar="N",
        help="add wordfreq's N most frequent English words to the unigrams "
        "(default 0: the corpus's words only)",
    )
    parser.add_argument(
        "--vocabulary-weight",
        type=float,
        default=VOCABULARY_WEIGHT,
        metavar="W",
        help=f"their share of the unigram probability (default {VOCABULARY_WEIGHT})",
    )
    parser.add_argument("--out", required=True, metavar="LM.arpa", help="output file")
    parser.add_argument(
        "--no-normalise",
        action="store_true",
        help="use the text as is instead of asr.text.normalise()",
    )
    args = parser.parse_args(argv)
    if not args.manifest and not args.text:
        parser.error("give at least one --manifest or --text")
    for path in args.text:
        if not Path(path).is_file():
            parser.error(f"{path}: text file not found")
    if args.vocabulary < 0:
        parser.error("--vocabulary must be >= 0")
    try:
        vocabulary = frequent_words(args.vocabulary) if args.vocabulary else None
        sizes = build_arpa(
            _texts(args.manifest, args.text),
            args.out,
            order=args.order,
            normalise=not args.no_normalise,
            vocabulary=vocabulary,
            vocabulary_weight=args.vocabulary_weight,
        )
    except (ManifestError, ValueError, OSError, ImportError) as e:
        print(f"make_lm: {e}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{n}-grams: {c}" for n, c in sizes.items())
    print(f"wrote {args.out} ({counts})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
