"""The argument parser of the `asr` command (`asr --help`)."""

from __future__ import annotations

import argparse
import math
import re

from asr import __version__
from asr.cli.commands import (
    cmd_evaluate,
    cmd_export,
    cmd_stream,
    cmd_train,
    cmd_transcribe,
)
from asr.cli.demo import cmd_demo
from asr.cli.lm import add_lm_parser
from asr.cli.prepare import cmd_prepare
from asr.cli.serve import cmd_serve
from asr.cli.tune import cmd_crossval, cmd_tune

EPILOG = "Run `asr COMMAND --help` for a command's options. Docs: README.md"


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


def _fraction(text: str) -> float:
    value = NON_NEGATIVE_FLOAT(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be <= 1, got {text}")
    return value


def _names_from(text: str, known, what: str) -> list[str]:
    """A comma list of names, each one of `known`, else a usage error."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown {what}(s) {unknown or [text]}; known: {', '.join(known)}"
        )
    return names


def _librispeech_parts(text: str) -> list[str]:
    from asr.datasets.librispeech import PARTS

    return _names_from(text, PARTS, "part")


def _snr_list(text: str):
    from asr.robustness import parse_snr_list

    try:
        return parse_snr_list(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _dbfs(text: str) -> float:
    """A level in dBFS: a number <= 0, or -inf (digital silence)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if math.isnan(value) or value > 0:
        raise argparse.ArgumentTypeError(f"must be <= 0 or -inf, got {text}")
    return value


def _port(text: str) -> int:
    value = NON_NEGATIVE_INT(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be <= 65535, got {text}")
    return value


def _keys(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",")]
    if not all(keys):
        raise argparse.ArgumentTypeError(f"empty key in {text!r}")
    return keys


def _keyword_list(text: str) -> list[str]:
    words = [w.strip() for w in text.split(",") if w.strip()]
    bad = [w for w in words if not re.fullmatch(r"[a-z']+", w)]
    if not words or bad:
        raise argparse.ArgumentTypeError(
            f"keywords must be lowercase words, got {bad or [text]}"
        )
    return words


def _noise_kinds(text: str) -> list[str]:
    from asr.datasets.noise import KINDS

    return _names_from(text, KINDS, "kind")


def _add_threshold(p: argparse.ArgumentParser) -> None:
    """`--threshold`: the rejection threshold of keyword classifiers."""
    p.add_argument(
        "--threshold",
        type=_fraction,
        default=None,
        metavar="P",
        help="keyword models (classifier head): a keyword whose probability is "
        "under P is answered _unknown_ (default 0.5)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asr",
        description="Speech recognition with Keras: DeepSpeech2-style CNN + "
        "(Bi)LSTM + CTC, from audio files to text.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"asr {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="debug logging and full tracebacks"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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
        type=_librispeech_parts,
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
        help="synthesise an English corpus with espeak-ng",
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
        type=_fraction,
        default=0.2,
        metavar="F",
        help="open vocabulary: share of train sentences from the template "
        "generator (default 0.2)",
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
        "(even NN 50 Hz, odd 60 Hz). The same seed writes the same files.",
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
        type=_noise_kinds,
        default=None,
        help="comma-separated kinds (default: white,pink,brown,babble,hum)",
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
        type=_keyword_list,
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
        type=_fraction,
        default=0.1,
        metavar="F",
        help="share of _unknown_ rows (default 0.1)",
    )
    kw.add_argument(
        "--silence-fraction",
        type=_fraction,
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

    p = sub.add_parser(
        "train",
        help="train a model from a YAML config",
        description="Train with Keras fit. Running the same command "
        "again resumes an interrupted run.",
    )
    p.add_argument(
        "--config", "-c", required=True, help="YAML file, e.g. configs/ds2_small.yaml"
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set model.rnn_units=512 (repeatable)",
    )
    p.add_argument(
        "--train", help="training manifest (same as --set data.train_manifest=...)"
    )
    p.add_argument("--val", help="validation manifest")
    p.add_argument("--epochs", type=POSITIVE_INT, help="number of epochs")
    p.add_argument(
        "--strategy",
        choices=("default", "mirrored", "multiworker"),
        help="tf.distribute strategy",
    )
    p.add_argument("--init-from", help="start from this model's weights (fine-tuning)")
    p.add_argument("--out", required=True, help="run folder, e.g. runs/NAME")
    p.set_defaults(func=cmd_train)

    _add_tune(sub)
    _add_crossval(sub)

    p = sub.add_parser(
        "evaluate",
        help="WER/CER of a model on a manifest",
        description="Write OUT/summary.json, recogs.jsonl and errs.txt.",
    )
    p.add_argument(
        "--model",
        required=True,
        help="bundled name, run folder or .keras file, or an exported SavedModel "
        "folder or .tflite file (`asr export`; its offline logits, decoded here: "
        "greedy decoding gives the Keras model's texts)",
    )
    p.add_argument("--manifest", required=True, help="JSON-lines manifest")
    p.add_argument("--decoder", choices=("greedy", "beam"), default="greedy")
    p.add_argument(
        "--beam-width",
        type=POSITIVE_INT,
        help="beams kept per frame (default: 16, or 32 with --lm / --hotword)",
    )
    p.add_argument("--lm", help="KenLM ARPA or binary n-gram model (needs asr[lm])")
    p.add_argument(
        "--hotword",
        action="append",
        help="word to boost in the beam search (repeatable; needs asr[lm]; "
        "decodes with pyctcdecode, with or without --lm)",
    )
    _add_rescore(p)
    p.add_argument("--out", required=True, help="folder for the result files")
    noise = p.add_argument_group(
        "noise robustness",
        "Decode the manifest once per condition (the model loads once): "
        "OUT/<condition>/ holds the usual files, OUT/summary.json a table of "
        "the conditions, OUT/noise_robustness.png WER and CER against SNR.",
    )
    noise.add_argument(
        "--noise",
        metavar="FILE|DIR",
        help="noise to mix in: a file, or a folder of .wav/.flac/.ogg/.mp3 "
        "(one picked per utterance)",
    )
    noise.add_argument(
        "--snr",
        type=_snr_list,
        metavar="LIST",
        help="comma-separated SNRs in dB against the clean speech, 'clean' (or "
        "inf) for no noise, e.g. clean,20,10,5,0; write --snr=-5,0 when the "
        "list starts with a minus sign",
    )
    noise.add_argument(
        "--pad-silence",
        type=NON_NEGATIVE_FLOAT,
        default=0.0,
        metavar="SECONDS",
        help="add this much before and after each clip; it carries the noise "
        "when there is noise, else the --pad-level-dbfs floor (default 0)",
    )
    noise.add_argument(
        "--pad-level-dbfs",
        type=_dbfs,
        default=-60.0,
        metavar="DB",
        help="RMS of the white-noise floor in the padding of clean audio, in "
        "dB relative to amplitude 1.0; --pad-level-dbfs=-inf or "
        "--digital-silence for zeros (default -60)",
    )
    noise.add_argument(
        "--digital-silence",
        action="store_true",
        help="pad with zeros (same as --pad-level-dbfs=-inf)",
    )
    noise.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the noise choices; each utterance's mix depends only on "
        "the seed and its path (default 0)",
    )
    p.add_argument(
        "--group-by",
        type=_keys,
        action="append",
        metavar="KEY",
        help="also WER/CER per value of this manifest key, e.g. speaker "
        "(repeatable or comma-separated); rows without it: (missing)",
    )
    _add_threshold(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "transcribe",
        help="transcribe audio files",
        description="Print PATH<TAB>TEXT per file (a keyword model: "
        "PATH<TAB>WORD<TAB>PROBABILITY), or JSON with --json; with "
        "--output-dir, write one file per input and format (as whisper), "
        "skipping inputs whose outputs all exist.",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="WAV/FLAC/OGG/MP3 of any length, a folder (its audio files, "
        "recursively) or - (audio on stdin)",
    )
    p.add_argument(
        "--output-dir",
        metavar="DIR",
        help="write DIR/<input stem>.<format> per input instead of printing",
    )
    p.add_argument(
        "--format",
        choices=("txt", "json", "srt", "vtt", "tsv", "all"),
        help="--output-dir: file format (default: txt); srt/vtt/tsv cues are cut "
        "at pauses of 0.5 s and at 7 s / 42 characters",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="--output-dir: redo inputs whose outputs exist (default: skip them)",
    )
    p.add_argument(
        "--model", help="bundled name, run folder or .keras file (default: synth-en)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--decoder", choices=("greedy", "beam"), default="greedy")
    p.add_argument(
        "--beam-width",
        type=POSITIVE_INT,
        help="beams kept per frame (default: 16, or 32 with --lm / --hotword)",
    )
    p.add_argument("--lm", help="KenLM ARPA or binary n-gram model (needs asr[lm])")
    p.add_argument("--hotword", action="append", help="word to boost (needs asr[lm])")
    _add_rescore(p)
    p.add_argument(
        "--segment",
        choices=("pauses", "windows"),
        default="pauses",
        help="files over 22 s: cut where speech pauses, at most 20 s a segment "
        "(default), or in fixed 20 s windows with 2 s of context",
    )
    p.add_argument(
        "--skipped",
        metavar="FILE",
        help="also list the files that could not be read in FILE (JSON lines: "
        "audio_filepath, reason); they are reported on stderr and make the exit "
        "status 2, the others are still transcribed",
    )
    _add_threshold(p)
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser(
        "stream",
        help="live microphone or file, chunk by chunk",
        description="Streaming recognition with a causal model: "
        "partial text is rewritten in place (on a terminal), each "
        "utterance is printed as [start - end] text once "
        "--endpoint-ms of silence follows it. A keyword model (classifier "
        "head) spots keywords instead: a 1 s window every --chunk-ms (100), "
        "each detection printed as TIME s WORD PROBABILITY. --mic needs "
        "asr[mic].",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--mic", action="store_true", help="record from a microphone")
    src.add_argument("--file", help="stream an audio file through the same path")
    src.add_argument(
        "--list-devices", action="store_true", help="list audio input devices and exit"
    )
    p.add_argument(
        "--device",
        help="--mic: input device index or name (default: the system default)",
    )
    p.add_argument(
        "--save-recording",
        metavar="FILE",
        help="--mic: also save what the microphone delivered (wav, flac)",
    )
    p.add_argument(
        "--realtime",
        action="store_true",
        help="--file: feed at real-time pace (default: as fast as possible)",
    )
    _add_streaming_options(p)
    _add_threshold(p)
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser(
        "serve",
        help="streaming server: WebSocket streams, a browser page, HTTP",
        description="Serve a causal model: GET / is a page that streams the "
        "browser's microphone (browsers allow it on localhost or https); "
        "/ws takes 16-bit PCM or float32 audio in binary WebSocket messages "
        "and answers JSON partials and finals (protocol: docs/streaming.md); "
        "POST /transcribe recognises a whole file. Needs asr[serve].",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)",
    )
    p.add_argument(
        "--port", type=_port, default=8000, help="TCP port (default 8000; 0: any free)"
    )
    _add_streaming_options(p)
    p.add_argument(
        "--max-streams",
        type=POSITIVE_INT,
        default=64,
        help="WebSocket streams at once; more are refused (default 64)",
    )
    p.add_argument(
        "--max-message-kb",
        type=POSITIVE_INT,
        default=128,
        help="largest WebSocket message; a larger one closes its stream "
        "(default 128: 4 s of 16-bit audio)",
    )
    p.add_argument(
        "--idle-timeout",
        type=POSITIVE_FLOAT,
        default=30.0,
        metavar="SECONDS",
        help="close a stream that sends nothing for this long (default 30)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=POSITIVE_INT,
        default=50,
        help="largest POST /transcribe file (default 50)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "export",
        help="export to SavedModel or TFLite",
        description="Export a model taking raw 16 kHz audio. A "
        "SavedModel has the offline signature and, for a causal "
        "model, the streaming step; TFLite has one of them. A JSON "
        "(OUT/asr_export.json inside a SavedModel folder, OUT.json beside "
        "a .tflite file) lists signatures, state, vocabulary and Flex ops.",
    )
    p.add_argument(
        "--model", required=True, help="bundled name, run folder or .keras file"
    )
    p.add_argument("--format", choices=("savedmodel", "tflite"), required=True)
    p.add_argument("--out", required=True, help="SavedModel folder or .tflite file")
    p.add_argument(
        "--streaming",
        action="store_true",
        help="tflite: export the streaming step instead of the offline model",
    )
    p.add_argument(
        "--int8",
        action="store_true",
        help="tflite only: int8 weights (dynamic-range quantisation): ~4x "
        "smaller and a faster streaming step, outputs close to the float "
        "model's (a SavedModel keeps float32 weights; --int8 with "
        "--format savedmodel is refused)",
    )
    p.add_argument(
        "--chunk-ms",
        type=POSITIVE_FLOAT,
        default=None,
        help="streaming step length (default: streaming.chunk_ms)",
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "demo",
        help="see the bundled models work (no download)",
        description="Synthesise sentences with unseen voices, transcribe "
        "them with the bundled models and show WER, CER, real-time "
        "factor and streaming partial results. --train instead trains "
        "a small model from scratch (about 10 minutes on 2 cores).",
    )
    p.add_argument(
        "--n", type=POSITIVE_INT, default=6, help="sentences to synthesise (default 6)"
    )
    p.add_argument("--seed", type=int, default=0, help="which sentences and voices")
    p.add_argument(
        "--train",
        action="store_true",
        help="train a small model on a fresh synthetic corpus",
    )
    p.add_argument(
        "--hours", type=POSITIVE_FLOAT, default=0.4, help="--train: corpus size"
    )
    p.add_argument("--epochs", type=POSITIVE_INT, default=12, help="--train: epochs")
    p.add_argument(
        "--out",
        help="--train: folder for the corpus and run (default: a new temp folder)",
    )
    p.set_defaults(func=cmd_demo)

    add_lm_parser(sub, POSITIVE_INT, POSITIVE_FLOAT)
    return parser


def _add_streaming_options(p: argparse.ArgumentParser) -> None:
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


def _add_rescore(p: argparse.ArgumentParser) -> None:
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


def _add_tune(sub) -> None:
    p = sub.add_parser(
        "tune",
        help="hyperparameter search (KerasTuner) over config keys",
        description="Train one run per trial (OUT/trial_ID/), each with values "
        "from the search space, and rank them by validation WER (or loss): "
        "OUT/results.md and .csv, and OUT/best_config.yaml for `asr train`. "
        "Running the same command again goes on with the search; a larger "
        "--trials extends it. Needs asr[tune] (keras-tuner).",
    )
    p.add_argument("--config", "-c", required=True, help="the base YAML config")
    p.add_argument(
        "--space",
        required=True,
        metavar="SPACE.yaml",
        help="dotted config keys and their values, e.g. 'model.rnn_units: "
        "[128, 256]', 'train.learning_rate: {log: [1e-4, 3e-3]}'",
    )
    p.add_argument(
        "--trials", type=POSITIVE_INT, required=True, help="the most trials in all"
    )
    p.add_argument(
        "--epochs",
        type=POSITIVE_INT,
        required=True,
        help="epochs a trial trains (hyperband: the most any trial reaches)",
    )
    p.add_argument(
        "--algorithm",
        choices=("bayesian", "hyperband", "random"),
        default="bayesian",
        help="how trials are chosen (default bayesian: Gaussian-process "
        "Bayesian optimisation)",
    )
    p.add_argument(
        "--objective",
        choices=("wer", "loss"),
        default="wer",
        help="minimised: the best epoch's validation WER (default) or loss",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a base config key (repeatable)",
    )
    p.add_argument("--train", help="training manifest")
    p.add_argument("--val", help="validation manifest (the objective's data)")
    p.add_argument("--seed", type=int, default=0, help="the oracle's seed (default 0)")
    p.add_argument("--out", required=True, help="search folder, e.g. runs/tune")
    p.set_defaults(func=cmd_tune)


def _add_crossval(sub) -> None:
    p = sub.add_parser(
        "crossval",
        help="K-fold cross-validation, folds split by speaker",
        description="Split the utterances into K folds so that no speaker (or "
        "other --group-by value) is in two folds, train one run per fold on "
        "the others (OUT/fold_k/) and report each fold's WER on its held-out "
        "speakers, and the mean and standard deviation. Running the same "
        "command again skips finished folds and resumes an interrupted one.",
    )
    p.add_argument("--config", "-c", required=True, help="the training config")
    p.add_argument(
        "--folds", type=POSITIVE_INT, required=True, metavar="K", help="folds (>= 2)"
    )
    p.add_argument(
        "--group-by",
        default="speaker",
        metavar="KEY",
        help="manifest key whose values never cross folds (default speaker; "
        "without the key, the speaker is read from <speaker>_nohash_<n>.wav "
        "or <digit>_<speaker>_<n>.wav file names)",
    )
    p.add_argument(
        "--manifest",
        action="append",
        help="utterances to split (repeatable, e.g. every split of a corpus; "
        "default: data.train_manifest)",
    )
    p.add_argument(
        "--extra-train",
        action="append",
        metavar="MANIFEST",
        help="utterances in every fold's training data, never tested "
        "(repeatable; e.g. synthetic voices)",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config key (repeatable)",
    )
    p.add_argument("--epochs", type=POSITIVE_INT, help="epochs per fold")
    p.add_argument("--out", required=True, help="folder, e.g. runs/crossval")
    p.set_defaults(func=cmd_crossval)
