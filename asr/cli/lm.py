"""`asr lm train|perplexity|tune-weight`: the LSTM language model (`asr.lm`);
`asr lm tune-ngram`: the n-gram LM's weights in the beam search
(`asr.decoding.tuning`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from asr.cli.arguments import POSITIVE_FLOAT, POSITIVE_INT


def _numbers(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give numbers, e.g. -1,0,1,2")
    return values


def _weights(text: str) -> list[float]:
    values = _numbers(text)
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("give weights >= 0, e.g. 0,0.25,0.5,1")
    return values


def _add_sources(p: argparse.ArgumentParser, what: str, prefix: str = "") -> None:
    p.add_argument(
        f"--{prefix}text",
        action="append",
        default=[],
        metavar="FILE",
        help=f"{what}: plain text, one sentence a line (repeatable)",
    )
    p.add_argument(
        f"--{prefix}manifest",
        action="append",
        default=[],
        metavar="FILE.jsonl",
        help=f"{what}: a manifest's 'text' fields (repeatable)",
    )


def add_lm_parser(sub) -> None:
    """Adds `asr lm ...` to the subcommands `sub`."""
    from asr.lm.rescore import DEFAULT_NBEST, WEIGHT_GRID

    lm = sub.add_parser(
        "lm",
        help="language models: the LSTM LM (train, perplexity, rescoring weight), "
        "the n-gram's weights",
        description="A word-level LSTM LM for N-best rescoring (`asr evaluate|"
        "transcribe --rescore DIR`), and the n-gram LM's weight and word bonus "
        "in the beam search (`--lm FILE`); docs/language_models.md.",
    )
    lsub = lm.add_subparsers(dest="lm_command", required=True, metavar="COMMAND")

    p = lsub.add_parser(
        "train",
        help="train the LSTM LM on text",
        description="Train into OUT (model.keras, vocab.txt, lm.json, history.csv, "
        "learning_curve.png). Running the same command again resumes.",
    )
    _add_sources(p, "training text")
    _add_sources(p, "validation text (best model, val_ppl)", prefix="val-")
    p.add_argument("--out", required=True, help="model folder, e.g. runs/lm")
    p.add_argument("--embedding-dim", type=POSITIVE_INT, default=128)
    p.add_argument("--units", type=POSITIVE_INT, default=256, help="per LSTM layer")
    p.add_argument("--layers", type=int, choices=(1, 2), default=1)
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument(
        "--untied",
        action="store_true",
        help="a separate output matrix (default: tied to the embedding)",
    )
    p.add_argument("--epochs", type=POSITIVE_INT, default=20)
    p.add_argument("--batch-size", type=POSITIVE_INT, default=32)
    p.add_argument("--learning-rate", type=POSITIVE_FLOAT, default=2e-3)
    p.add_argument(
        "--unk-rate",
        type=float,
        default=0.25,
        help="chance that a once-seen word becomes <unk> in training (default 0.25)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_lm_train)

    p = lsub.add_parser(
        "perplexity",
        help="per-word perplexity of the LSTM LM and/or an ARPA n-gram",
        description="Per-word perplexity (words and </s>; OOVs scored as <unk>, "
        "and without them), the n-gram's convention, for both models on the "
        "same text.",
    )
    p.add_argument("--lm", metavar="DIR", help="LSTM LM folder (`asr lm train`)")
    p.add_argument("--arpa", metavar="FILE", help="ARPA n-gram to score as well")
    _add_sources(p, "text to score")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_lm_perplexity)

    p = lsub.add_parser(
        "tune-weight",
        help="choose the N-best rescoring weight on a dev manifest",
        description="Decode the manifest once, rescore its N-best lists at each "
        "weight and print the WER per weight and the best weight (use a dev "
        "set, never the test set).",
    )
    p.add_argument("--model", required=True, help="bundled name, run folder or .keras")
    p.add_argument("--manifest", required=True, help="dev manifest")
    p.add_argument("--rescore", required=True, metavar="DIR", help="LSTM LM folder")
    p.add_argument("--lm", help="KenLM ARPA or binary n-gram for the beam search")
    p.add_argument("--beam-width", type=POSITIVE_INT)
    p.add_argument(
        "--nbest",
        type=POSITIVE_INT,
        default=DEFAULT_NBEST,
        help=f"hypotheses rescored per utterance (default {DEFAULT_NBEST})",
    )
    p.add_argument(
        "--weights",
        type=_weights,
        default=list(WEIGHT_GRID),
        metavar="LIST",
        help="comma-separated weights to try (default "
        + ",".join(f"{w:g}" for w in WEIGHT_GRID)
        + ")",
    )
    p.add_argument("--out", metavar="FILE.json", help="also write the table here")
    p.set_defaults(func=cmd_lm_tune_weight)

    from asr.decoding.tuning import LM_WEIGHTS, WORD_BONUSES

    p = lsub.add_parser(
        "tune-ngram",
        help="choose the n-gram LM's weight and word bonus on a dev manifest",
        description="Run the model once on the manifest, decode it with --lm at "
        "every (LM weight, word bonus) of the grid, write OUT/summary.json and "
        "OUT/grid.png and print the best (use a dev set, never the test set). "
        "--save stores the best beside the LM (LM.weights.json), where `--lm` "
        "then finds it.",
    )
    p.add_argument("--model", required=True, help="bundled name, run folder or .keras")
    p.add_argument("--manifest", required=True, help="dev manifest")
    p.add_argument("--lm", required=True, help="KenLM ARPA or binary n-gram")
    p.add_argument("--out", required=True, metavar="DIR", help="results folder")
    p.add_argument("--beam-width", type=POSITIVE_INT, help="default 32")
    for flag, default, kind, what in (
        ("--lm-weights", LM_WEIGHTS, _weights, "LM weights"),
        ("--word-bonuses", WORD_BONUSES, _numbers, "word bonuses"),
    ):
        p.add_argument(
            flag,
            type=kind,
            default=list(default),
            metavar="LIST",
            help=f"comma-separated {what} to try (default "
            + ",".join(f"{v:g}" for v in default)
            + "; a list that starts with a minus: --word-bonuses=-2,0,2)",
        )
    p.add_argument(
        "--save", action="store_true", help="store the best beside the LM for --lm"
    )
    p.set_defaults(func=cmd_lm_tune_ngram)


def _texts(text_files: list[str], manifests: list[str]) -> Iterator[str]:
    from asr.manifest import read_manifest

    for path in text_files:
        with open(path, encoding="utf-8") as f:
            yield from (line.rstrip("\n") for line in f)
    for path in manifests:
        for row in read_manifest(path):
            yield row.text


def _require(paths: list[str], what: str) -> None:
    """Each path is a file (checked before TensorFlow or a model loads)."""
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: {what} not found")


def cmd_lm_train(args) -> int:
    from asr.lm.model import LMConfig
    from asr.lm.train import train_lm

    if not args.text and not args.manifest:
        print("asr lm train: error: give --text or --manifest", file=sys.stderr)
        return 2
    _require(args.text + args.val_text, "text file")
    cfg = LMConfig(
        embedding_dim=args.embedding_dim,
        units=args.units,
        layers=args.layers,
        dropout=args.dropout,
        tied=not args.untied,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        unk_rate=args.unk_rate,
        seed=args.seed,
    )
    texts = list(_texts(args.text, args.manifest))
    val = list(_texts(args.val_text, args.val_manifest))
    result = train_lm(texts, args.out, cfg, val_texts=val, verbose=2)
    best = result["best"]
    print(
        f"{args.out}: vocabulary {result['vocab_size']} tokens, "
        f"{result['epochs']} epochs; model.keras: "
        + (
            f"{best['monitor']} {best['value']:.2f} (epoch {best['epoch']})"
            if best
            else "the last epoch"
        )
    )
    return 0


def cmd_lm_perplexity(args) -> int:
    if not args.lm and not args.arpa:
        print(
            "asr lm perplexity: error: give --lm DIR and/or --arpa FILE",
            file=sys.stderr,
        )
        return 2
    if not args.text and not args.manifest:
        print("asr lm perplexity: error: give --text or --manifest", file=sys.stderr)
        return 2
    _require(args.text, "text file")
    if args.arpa:
        _require([args.arpa], "ARPA file")
    texts = list(_texts(args.text, args.manifest))
    results = {}
    from asr.lm import perplexity as ppl

    if args.lm:
        from asr.lm.model import LanguageModel

        results[f"lstm {args.lm}"] = ppl.lstm_perplexity(
            LanguageModel.load(args.lm), texts
        )
    if args.arpa:
        results[f"arpa {args.arpa}"] = ppl.arpa_perplexity(
            ppl.ArpaModel(args.arpa), texts
        )
    if args.json:
        print(json.dumps({k: v.as_dict() for k, v in results.items()}, indent=2))
        return 0
    first = next(iter(results.values()))
    print(f"{first.sentences} sentences, {first.words} words")
    print(f"{'model':<40} {'perplexity':>10} {'w/o OOV':>9} {'OOVs':>6}")
    for name, r in results.items():
        print(
            f"{name:<40} {r.perplexity:>10.2f} {r.perplexity_no_oov:>9.2f} {r.oov:>6}"
        )
    return 0


def cmd_lm_tune_weight(args) -> int:
    from asr.checkpoint import resolve_model_path
    from asr.manifest import read_manifest

    resolve_model_path(args.model)
    _require([args.lm] if args.lm else [], "language model")
    _require(
        [str(Path(args.rescore) / n) for n in ("model.keras", "vocab.txt")], "LSTM LM"
    )
    rows = read_manifest(args.manifest)

    from asr.files import atomic_write_text
    from asr.lm.tuning import tune
    from asr.transcribe import load_model

    result = tune(
        load_model(args.model),
        rows,
        args.rescore,
        weights=args.weights,
        beam_width=args.beam_width,
        lm=args.lm,
        n=args.nbest,
    )
    print(f"{result['utterances']} utterances, {len(result['skipped'])} skipped")
    print(f"{'weight':>7} {'WER %':>7} {'CER %':>7}")
    for row in result["table"]:
        print(f"{row['weight']:>7g} {100 * row['wer']:>7.2f} {100 * row['cer']:>7.2f}")
    print(
        f"best weight {result['weight']:g}: WER {100 * result['wer']:.2f}% "
        f"(N-best oracle {100 * result['oracle_wer']:.2f}%); use --rescore "
        f"{args.rescore} --rescore-weight {result['weight']:g} --nbest {args.nbest}"
    )
    if args.out:
        atomic_write_text(args.out, json.dumps(result, indent=2))
    return 0


def cmd_lm_tune_ngram(args) -> int:
    from asr.checkpoint import resolve_model_path
    from asr.manifest import read_manifest

    resolve_model_path(args.model)
    _require([args.lm], "language model")
    if Path(args.out).is_file():
        raise FileExistsError(f"{args.out}: is a file; --out names a folder")
    rows = read_manifest(args.manifest)

    from tqdm import tqdm

    from asr.decoding import tuning
    from asr.files import atomic_write_text
    from asr.transcribe import load_model

    bar = tqdm(total=len(rows), unit="utt", disable=not sys.stderr.isatty())
    result = tuning.tune_ngram(
        load_model(args.model),
        rows,
        args.lm,
        args.lm_weights,
        args.word_bonuses,
        args.beam_width,
        progress=bar.update,
    )
    bar.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.json", json.dumps(result, indent=2) + "\n")
    tuning.plot_grid(result, out / "grid.png")
    print(f"{result['utterances']} utterances, {len(result['skipped'])} skipped")
    print(f"{'weight':>7} {'bonus':>6} {'WER %':>7} {'CER %':>7}")
    for row in result["table"]:
        print(
            f"{row['lm_weight']:>7g} {row['word_bonus']:>6g} "
            f"{100 * row['wer']:>7.2f} {100 * row['cer']:>7.2f}"
        )
    default = result["default"]
    print(
        f"best: --lm-weight {result['lm_weight']:g} --word-bonus "
        f"{result['word_bonus']:g}: WER {100 * result['wer']:.2f}% (untuned "
        f"{default['lm_weight']:g} / {default['word_bonus']:g}: "
        f"{100 * default['wer']:.2f}%; {result['backend']} backend); "
        f"details: {out / 'summary.json'}, {out / 'grid.png'}"
    )
    if args.save:
        print(f"saved: {tuning.save_weights(result, args.manifest)}")
    return 0
