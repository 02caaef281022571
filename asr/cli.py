"""The `asr` command: the only place that parses argv, prints and sets up logging.

Every subcommand forwards to one library function. Usage and input errors
exit with status 2 and one line naming the file or key (`--verbose` shows the
traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

from asr import __version__

logger = logging.getLogger("asr")

EPILOG = "Run `asr COMMAND --help` for a command's options. Docs: README.md"


class UsageError(Exception):
    """Bad arguments that argparse cannot see (exit status 2)."""


def _progress_enabled() -> bool:
    return sys.stderr.isatty()


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
POSITIVE_FLOAT = _number(float, 0, inclusive=False)
NON_NEGATIVE_FLOAT = _number(float, 0)


def _librispeech_parts(text: str) -> list[str]:
    from asr.datasets.librispeech import PARTS

    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if not parts or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown part(s) {unknown or [text]}; known: {', '.join(PARTS)}"
        )
    return parts


# -- prepare ------------------------------------------------------------------
def cmd_prepare(args) -> int:
    t0 = time.perf_counter()
    if args.corpus == "librispeech":
        from asr.datasets.librispeech import prepare_librispeech

        out = prepare_librispeech(
            args.root,
            args.out,
            parts=args.parts,
            download=args.download,
            progress=_progress_enabled(),
        )
    elif args.corpus == "speech-commands":
        from asr.datasets.speech_commands import prepare_speech_commands

        out = prepare_speech_commands(
            args.root, args.out, download=args.download, progress=_progress_enabled()
        )
    else:
        from asr.datasets.synthetic import prepare_synthetic

        out = prepare_synthetic(
            args.out,
            hours=args.hours,
            seed=args.seed,
            workers=args.workers,
            progress=_progress_enabled(),
        )
    from asr.manifest import read_manifest

    for name, path in out.items():
        rows = read_manifest(path)
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


# -- train ----------------------------------------------------------------------
def cmd_train(args) -> int:
    from asr.callbacks import NonFiniteLossError
    from asr.config import load_config
    from asr.train import fit

    overrides = list(args.set or [])
    for key, value in (
        ("data.train_manifest", args.train),
        ("data.val_manifest", args.val),
    ):
        if value:
            overrides.append(f"{key}={json.dumps(str(Path(value).resolve()))}")
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.strategy:
        overrides.append(f"train.strategy={args.strategy}")
    if args.init_from:
        overrides.append(f"train.init_from={json.dumps(args.init_from)}")
    cfg = load_config(args.config, overrides)
    try:
        fit(cfg, args.out, verbose=1 if sys.stdout.isatty() else 2)
    except NonFiniteLossError as e:
        print(f"asr train: stopped: {e}", file=sys.stderr)
        return 1
    print(f"model: {Path(args.out) / 'model.keras'}")
    return 0


# -- evaluate -------------------------------------------------------------------
def cmd_evaluate(args) -> int:
    from asr.evaluate import evaluate
    from asr.transcribe import load_model

    recognizer = load_model(args.model)
    summary = evaluate(
        recognizer,
        args.manifest,
        args.out,
        decoder=args.decoder,
        beam_width=args.beam_width,
        lm=args.lm,
    )
    print(
        f"WER {100 * summary['wer']:.2f}%  CER {100 * summary['cer']:.2f}%  "
        f"(S {summary['substitutions']}, D {summary['deletions']}, "
        f"I {summary['insertions']})  {summary['num_utterances']} utterances, "
        f"{summary['num_skipped']} skipped, RTF {summary['rtf']:.4f}"
    )
    for row in summary["skipped"]:
        print(f"skipped: {row['audio_filepath']}: {row['reason']}", file=sys.stderr)
    print(f"details: {Path(args.out) / 'summary.json'}, recogs.jsonl, errs.txt")
    return 0


# -- transcribe -----------------------------------------------------------------
def cmd_transcribe(args) -> int:
    from asr.audio import AudioLoadError
    from asr.transcribe import DEFAULT_MODEL, load_model

    recognizer = load_model(args.model or DEFAULT_MODEL)
    options = dict(
        decoder=args.decoder,
        beam_width=args.beam_width,
        lm=args.lm,
        hotwords=tuple(args.hotword or ()),
    )
    failed = []
    for path in args.files:
        try:
            seg = recognizer.transcribe_segments([path], **options)[0]
        except AudioLoadError as e:
            print(f"asr transcribe: {e}", file=sys.stderr)
            reason = str(e).removeprefix(f"{Path(path)}: ")
            failed.append({"audio_filepath": path, "reason": reason})
            continue
        if args.json:
            print(
                json.dumps(
                    {
                        "audio_filepath": path,
                        "text": seg.text,
                        "words": seg.words,
                        "duration": round(seg.duration, 3),
                    }
                )
            )
        else:
            print(f"{path}\t{seg.text}")
        sys.stdout.flush()
    if args.skipped:
        from asr.manifest import write_manifest

        write_manifest(args.skipped, failed, relative=False)
    if failed and len(args.files) > 1:
        print(
            f"asr transcribe: {len(failed)} of {len(args.files)} file(s) could not "
            "be read" + (f"; listed in {args.skipped}" if args.skipped else ""),
            file=sys.stderr,
        )
    return 2 if failed else 0


# -- stream ---------------------------------------------------------------------
def cmd_stream(args) -> int:
    import shutil

    from asr.microphone import (
        DEFAULT_STREAMING_MODEL,
        MicrophoneError,
        check_microphone,
        list_input_devices,
        stream_file,
        stream_microphone,
    )
    from asr.streaming import StreamingError, StreamingRecognizer
    from asr.transcribe import load_model

    live = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns - 1

    def on_partial(text: str) -> None:
        if live:  # rewritten in place; only finals reach a pipe or file
            sys.stdout.write("\r\x1b[K" + text[-width:])
            sys.stdout.flush()

    def on_final(utt: dict) -> None:
        prefix = "\r\x1b[K" if live else ""
        print(
            f"{prefix}[{utt['start']:7.2f} - {utt['end']:7.2f}] {utt['text']}",
            flush=True,
        )

    try:
        if args.list_devices:
            for d in list_input_devices():
                print(
                    f"{'*' if d['default'] else ' '} {d['index']:3d}  {d['name']}  "
                    f"({d['channels']} ch, {d['samplerate']:g} Hz)"
                )
            return 0
        if args.file and (args.device is not None or args.save_recording):
            raise StreamingError("--device and --save-recording need --mic")
        device = args.device
        if device is not None and device.isdigit():
            device = int(device)
        if args.mic:
            check_microphone(device)  # before loading the model
        rec = StreamingRecognizer(
            load_model(args.model or DEFAULT_STREAMING_MODEL),
            chunk_ms=args.chunk_ms,
            endpoint_silence_ms=args.endpoint_ms,
        )
        if args.file:
            result = stream_file(
                rec,
                args.file,
                realtime=args.realtime,
                on_partial=on_partial,
                on_final=on_final,
            )
        else:
            print("listening (Ctrl+C to stop)...", file=sys.stderr)
            result = stream_microphone(
                rec,
                device=device,
                on_partial=on_partial,
                on_final=on_final,
                save_recording=args.save_recording,
            )
    except (MicrophoneError, StreamingError) as e:
        if args.verbose:
            raise
        print(f"asr stream: error: {e}", file=sys.stderr)
        return 2
    steps = sorted(rec.step_times_ms)
    step = f", median step {steps[len(steps) // 2]:.1f} ms" if steps else ""
    print(
        f"{result.seconds:.1f} s of audio, RTF {result.rtf:.3f}{step}", file=sys.stderr
    )
    if result.overflows:
        print(
            f"asr stream: warning: {result.overflows} input overflow(s): audio "
            "was lost",
            file=sys.stderr,
        )
    return 0


# -- export ---------------------------------------------------------------------
def cmd_export(args) -> int:
    from asr.export import export_savedmodel, export_tflite
    from asr.streaming import StreamingError
    from asr.transcribe import load_model

    recognizer = load_model(args.model)
    try:
        if args.format == "savedmodel":
            out = export_savedmodel(recognizer, args.out, chunk_ms=args.chunk_ms)
        else:
            out = export_tflite(
                recognizer, args.out, streaming=args.streaming, chunk_ms=args.chunk_ms
            )
    except (StreamingError, FileExistsError) as e:
        if args.verbose:
            raise
        print(f"asr export: error: {e}", file=sys.stderr)
        return 2
    print(f"exported: {out}")
    return 0


# -- demo -----------------------------------------------------------------------
def cmd_demo(args) -> int:
    from asr import demo

    if args.train:
        import tempfile

        out = Path(args.out or tempfile.mkdtemp(prefix="asr-demo-"))
        print(
            f"Synthesising a {args.hours} h corpus and training a small model in {out}"
        )
        print("(validation WER is printed after every epoch)\n")
        history, run = demo.train_small(out, hours=args.hours, epochs=args.epochs)
        wers = history.history.get("val_wer", [])
        print("\nvalidation WER by epoch: " + " ".join(f"{100 * w:.1f}%" for w in wers))
        print(f"model: {run / 'model.keras'}")
        print(f"learning curve: {run / 'learning_curve.png'}")
        return 0

    from asr.transcribe import bundled_models

    installed = set(bundled_models())
    if not installed:
        raise FileNotFoundError(
            "no bundled model is installed; run `asr demo --train` to train one "
            "from scratch instead"
        )
    t0 = time.perf_counter()
    offline = [m for m in ("synth-en", "synth-en-streaming") if m in installed]
    if offline:
        print(
            f"Synthesising {args.n} sentences with voices no model heard in training..."
        )
        clips = demo.make_clips(args.n, seed=args.seed)
        for name in offline:
            _print_model_result(demo.score_model(name, clips), clips.voices)
            if lm := demo.bundled_lm(name):
                _print_model_result(demo.score_model(name, clips, lm), clips.voices)
    if "digits" in installed:
        print(f"\nSynthesising {args.n} spoken digits with unseen voices...")
        digits = demo.make_clips(args.n, digits=True, seed=args.seed)
        _print_model_result(demo.score_model("digits", digits), digits.voices)
    if "synth-en-streaming" in installed:
        print("\n== streaming partial results (synth-en-streaming, 100 ms chunks)")
        for seconds, partial in demo.streaming_partials(
            "synth-en-streaming", clips.waves[0]
        ):
            print(
                f"  final: {partial}"
                if seconds < 0
                else f"  {seconds:5.1f} s  {partial}"
            )
    missing = {"synth-en", "synth-en-streaming", "digits"} - installed
    if missing:
        print(f"\n(not bundled in this version: {', '.join(sorted(missing))})")
    print(f"\ndone in {time.perf_counter() - t0:.1f} s")
    return 0


def _print_model_result(r, voices) -> None:
    print(
        f"\n== {r.model}: WER {100 * r.wer:.1f}%  CER {100 * r.cer:.1f}%  "
        f"real-time factor {r.rtf:.4f}"
    )
    for voice, ref, hyp in zip(voices, r.refs, r.hyps):
        mark = "  " if ref == hyp else "* "
        print(f"{mark}[{voice}]\n    REF: {ref}\n    HYP: {hyp}")


# -- parser ---------------------------------------------------------------------
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
    syn = psub.add_parser(
        "synthetic",
        help="synthesise an English corpus with espeak-ng",
        description="Synthesise sentences with many espeak-ng voices; "
        "train/dev/test have disjoint voices and sentences.",
    )
    syn.add_argument("--out", required=True, help="folder for audio and manifests")
    syn.add_argument(
        "--hours", type=POSITIVE_FLOAT, default=1.0, help="hours of audio (default 1)"
    )
    syn.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    syn.add_argument(
        "--workers",
        type=POSITIVE_INT,
        default=None,
        help="parallel processes (default: all cores)",
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

    p = sub.add_parser(
        "evaluate",
        help="WER/CER of a model on a manifest",
        description="Write OUT/summary.json, recogs.jsonl and errs.txt.",
    )
    p.add_argument(
        "--model", required=True, help="bundled name, run folder or .keras file"
    )
    p.add_argument("--manifest", required=True, help="JSON-lines manifest")
    p.add_argument("--decoder", choices=("greedy", "beam"), default="greedy")
    p.add_argument(
        "--beam-width",
        type=POSITIVE_INT,
        help="beams kept per frame (default: 16, or 32 with --lm / --hotword)",
    )
    p.add_argument("--lm", help="KenLM ARPA or binary n-gram model (needs asr[lm])")
    p.add_argument("--out", required=True, help="folder for the result files")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "transcribe",
        help="transcribe audio files",
        description="Print PATH<TAB>TEXT per file, or JSON with --json.",
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="WAV/FLAC/OGG/MP3, any length"
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
    p.add_argument(
        "--skipped",
        metavar="FILE",
        help="also list the files that could not be read in FILE (JSON lines: "
        "audio_filepath, reason); they are reported on stderr and make the exit "
        "status 2, the others are still transcribed",
    )
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser(
        "stream",
        help="live microphone or file, chunk by chunk",
        description="Streaming recognition with a causal model: "
        "partial text is rewritten in place (on a terminal), each "
        "utterance is printed as [start - end] text once "
        "--endpoint-ms of silence follows it. --mic needs asr[mic].",
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
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser(
        "export",
        help="export to SavedModel or TFLite",
        description="Export a model taking raw 16 kHz audio. A "
        "SavedModel has the offline signature and, for a causal "
        "model, the streaming step; TFLite has one of them. A JSON "
        "beside the export lists signatures, state and Flex ops.",
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
    return parser


def _setup_logging(verbose: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for noisy in ("tensorflow", "absl", "h5py", "matplotlib", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    from asr.errors import USER_ERRORS

    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("asr: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as e:
        if args.verbose:
            raise
        print(f"asr {args.command}: error: {e}", file=sys.stderr)
        return 2
