"""The argument parser of the `asr` command (`asr --help`)."""

from __future__ import annotations

import argparse

from asr import __version__
from asr.cli.arguments import (
    NON_NEGATIVE_FLOAT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    add_edge,
    add_lm_weights,
    add_precision,
    add_rescore_options,
    add_streaming_options,
    add_threshold,
    dbfs,
    key_list,
    port_number,
    snr_list,
)
from asr.cli.commands import cmd_evaluate, cmd_export, cmd_stream, cmd_train
from asr.cli.demo import cmd_demo
from asr.cli.lm import add_lm_parser
from asr.cli.prepare import add_prepare_parser
from asr.cli.serve import cmd_serve
from asr.cli.transcribe import cmd_transcribe
from asr.cli.tune import add_tune_parsers

EPILOG = "Run `asr COMMAND --help` for a command's options. Docs: README.md"


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

    add_prepare_parser(sub)

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

    add_tune_parsers(sub)

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
    add_lm_weights(p)
    p.add_argument(
        "--hotword",
        action="append",
        help="word to boost in the beam search (repeatable; needs asr[lm]; "
        "decodes with pyctcdecode, with or without --lm)",
    )
    add_rescore_options(p)
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
        type=snr_list,
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
        type=dbfs,
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
        type=key_list,
        action="append",
        metavar="KEY",
        help="also WER/CER per value of this manifest key, e.g. speaker "
        "(repeatable or comma-separated); rows without it: (missing)",
    )
    add_threshold(p)
    add_edge(p)
    add_precision(p)
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
    add_lm_weights(p)
    p.add_argument("--hotword", action="append", help="word to boost (needs asr[lm])")
    add_rescore_options(p)
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
    add_threshold(p)
    add_edge(p)
    add_precision(p)
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
    add_streaming_options(p)
    add_threshold(p)
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
        "--port",
        type=port_number,
        default=8000,
        help="TCP port (default 8000; 0: any free)",
    )
    add_streaming_options(p)
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

    add_lm_parser(sub)
    return parser
