"""Argument types and option groups shared by the `asr` subcommands' parsers.

Each type is an argparse `type`: a bad value exits 2 with the usage line,
before any work (and before any model loads).
"""

from __future__ import annotations

import argparse
import math
import re


def _number(kind: type, low: float, inclusive: bool = True):
    """An argparse `type` for an int or float >= `low` (> `low` when not
    `inclusive`): a bad value exits 2 with the usage line, before any work."""
    bound = f">= {low:g}" if inclusive else f"> {low:g}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"invalid {kind.__name__} value: {text!r}"
            ) from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if not (value >= low if inclusive else value > low):
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


POSITIVE_INT = _number(int, 1)
NON_NEGATIVE_INT = _number(int, 0)
POSITIVE_FLOAT = _number(float, 0, inclusive=False)
NON_NEGATIVE_FLOAT = _number(float, 0)


def fraction(text: str) -> float:
    value = NON_NEGATIVE_FLOAT(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be <= 1, got {text}")
    return value


def names_from(text: str, known, what: str) -> list[str]:
    """A comma list of names, each one of `known`, else a usage error."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what}(s) {unknown or [text]}; known: {', '.join(known)}"
        )
    return names


def librispeech_parts(text: str) -> list[str]:
    from asr.datasets.librispeech import PARTS

    return names_from(text, PARTS, "part")


def snr_list(text: str):
    from asr.robustness import parse_snr_list

    try:
        return parse_snr_list(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def dbfs(text: str) -> float:
    """A level in dBFS: a number <= 0, or -inf (digital silence)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if math.isnan(value) or value > 0:
        raise argparse.ArgumentTypeError(f"must be <= 0 or -inf, got {text}")
    return value


def port_number(text: str) -> int:
    value = NON_NEGATIVE_INT(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be <= 65535, got {text}")
    return value


def key_list(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",")]
    if not all(keys):
        raise argparse.ArgumentTypeError(f"empty key in {text!r}")
    return keys


def keyword_list(text: str) -> list[str]:
    words = [w.strip() for w in text.split(",") if w.strip()]
    bad = [w for w in words if not re.fullmatch(r"[a-z']+", w)]
    if not words or bad:
        raise argparse.ArgumentTypeError(
            f"keywords must be lowercase words, got {bad or [text]}"
        )
    return words


def noise_kinds(text: str) -> list[str]:
    from asr.datasets.noise import ALL_KINDS

    return names_from(text, ALL_KINDS, "kind")


def add_threshold(p: argparse.ArgumentParser) -> None:
    """`--threshold`: the rejection threshold of keyword classifiers."""
    p.add_argument(
        "--threshold",
        type=fraction,
        default=None,
        metavar="P",
        help="keyword models (classifier head): a keyword whose probability is "
        "under P is answered _unknown_ (default 0.5)",
    )


def add_edge(p: argparse.ArgumentParser) -> None:
    """`--edge`: the quiet a CTC model hears around each utterance."""
    p.add_argument(
        "--edge",
        type=NON_NEGATIVE_FLOAT,
        default=None,
        metavar="SECONDS",
        help="digital silence added before and after each utterance or "
        "pause-cut segment: speech cut at a clip's first or last sample is then "
        "recognised (e.g. 0.25); it hurts where noise fills the clip (default 0)",
    )


def add_lm_weights(p: argparse.ArgumentParser) -> None:
    """`--lm-weight`, `--word-bonus`: the n-gram LM beam search's weights."""
    p.add_argument(
        "--lm-weight",
        type=NON_NEGATIVE_FLOAT,
        metavar="A",
        help="--lm: weight of the LM's log-probability (default: tuned by `asr lm "
        "tune-ngram --save` for this LM, else 1.0 with flashlight, 0.5 pyctcdecode)",
    )
    p.add_argument(
        "--word-bonus",
        type=float,
        metavar="B",
        help="--lm: score added per word (default: tuned likewise, else 0.0 with "
        "flashlight, 1.0 pyctcdecode)",
    )


def add_precision(p: argparse.ArgumentParser) -> None:
    """`--precision`: the offline network's arithmetic (`asr.precision`)."""
    p.add_argument(
        "--precision",
        choices=("auto", "float32", "bfloat16"),
        default="auto",
        help="auto (default): the second convolution and the recurrent layers' "
        "input projections in bfloat16 where the CPU computes it natively "
        "(AVX512_BF16, AMX), about 1.4x faster offline; float32: the exact "
        "network",
    )


def add_streaming_options(p: argparse.ArgumentParser) -> None:
    """The model and step options shared by `asr stream` and `asr serve`."""
    p.add_argument(
        "--model",
        help="bundled name, run folder or .keras file of a "
        "causal unidirectional model (default: synth-en-streaming)",
    )
    p.add_argument(
        "--chunk-ms",
        type=POSITIVE_FLOAT,
        default=None,
        help="audio per recognition step (default: streaming.chunk_ms)",
    )
    p.add_argument(
        "--endpoint-ms",
        type=NON_NEGATIVE_FLOAT,
        default=None,
        help="silence that ends an utterance; 0 disables "
        "(default: streaming.endpoint_silence_ms)",
    )
    p.add_argument(
        "--backend",
        choices=("auto", "tflite", "tflite-int8", "tf"),
        default="auto",
        help="what runs each step: the TFLite interpreter (faster; the step "
        "is converted at start-up), the same with int8 weights (faster "
        "again, not exactly the offline model), TensorFlow, or auto: TFLite "
        "if the model converts (default)",
    )


def add_rescore_options(p: argparse.ArgumentParser) -> None:
    """N-best rescoring with the LSTM LM (`asr lm`)."""
    p.add_argument(
        "--rescore",
        metavar="DIR",
        help="rescore the beam search's N-best texts with this LSTM LM folder "
        "(`asr lm train`); implies beam search, with or without --lm",
    )
    p.add_argument(
        "--rescore-weight",
        type=NON_NEGATIVE_FLOAT,
        metavar="W",
        help="weight of the LSTM LM's log-probability (default 0.5; tune it on "
        "a dev set with `asr lm tune-weight`)",
    )
    p.add_argument(
        "--nbest",
        type=POSITIVE_INT,
        metavar="N",
        help="--rescore: hypotheses rescored per utterance (default 16)",
    )


def decode_options(args: argparse.Namespace) -> dict:
    """`Recognizer.decode`'s options from the parsed decoder flags (`--decoder`,
    `--beam-width`, `--lm`, `--hotword`) and, if asked for, the LSTM rescoring
    flags of `add_rescore_options` (`asr lm`)."""
    options = dict(
        decoder=args.decoder,
        beam_width=args.beam_width,
        lm=args.lm,
        hotwords=tuple(args.hotword or ()),
        lm_weight=args.lm_weight,
        word_bonus=args.word_bonus,
    )
    if args.rescore:
        options.update(
            rescore=args.rescore, rescore_weight=args.rescore_weight, nbest=args.nbest
        )
    return options
