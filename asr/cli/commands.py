"""The `asr` subcommands train, evaluate, stream and export: each forwards to one
library function and prints (`asr transcribe` is `asr.cli.transcribe`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


# -- train ----------------------------------------------------------------------
def cmd_train(args) -> int:
    from asr.config import load_config
    from asr.training.callbacks import NonFiniteLossError
    from asr.training.fit import fit

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
    _check_training_inputs(cfg)
    try:
        fit(cfg, args.out, verbose=1 if sys.stdout.isatty() else 2)
    except NonFiniteLossError as e:
        print(f"asr train: stopped: {e}", file=sys.stderr)
        return 1
    print(f"model: {Path(args.out) / 'model.keras'}")
    return 0


def _check_training_inputs(cfg) -> None:
    """Manifests, noise folder and starting models exist, before fit builds
    anything."""
    from asr.cli.checks import require_dir, require_file, require_model

    for key in ("train_manifest", "val_manifest"):
        if getattr(cfg.data, key):
            require_file(getattr(cfg.data, key), f"data.{key}")
    if cfg.augment.noise_dir:
        require_dir(cfg.augment.noise_dir, "augment.noise_dir")
    for key in ("init_from", "distill_from"):
        if getattr(cfg.train, key):
            require_model(getattr(cfg.train, key))


def _is_exported(model: str) -> bool:
    """A SavedModel folder or a .tflite file (checked without TensorFlow)."""
    path = Path(model)
    return (path / "saved_model.pb").is_file() or (
        path.suffix == ".tflite" and path.is_file()
    )


# -- evaluate -------------------------------------------------------------------
def cmd_evaluate(args) -> int:
    from asr.robustness import (
        Condition,
        ConditionError,
        NoiseBank,
        format_groups,
        format_table,
        make_transform,
    )

    group_by = list(dict.fromkeys(k for keys in args.group_by or () for k in keys))
    pad_level = -float("inf") if args.digital_silence else args.pad_level_dbfs
    conditions = args.snr
    if conditions is None and args.pad_silence:
        conditions = [Condition()]
    from asr.cli.arguments import decode_options
    from asr.cli.checks import require_file, require_model, require_rescore
    from asr.manifest import read_manifest

    try:  # settings and noise files before the model loads
        if args.noise is not None and conditions is None:
            raise ConditionError("--noise needs --snr (e.g. --snr clean,20,10,5,0)")
        if conditions and any(c.snr_db is not None for c in conditions):
            if args.noise is None:
                raise ConditionError("--snr with a number needs --noise FILE|DIR")
        noise = NoiseBank.from_path(args.noise) if args.noise is not None else None
        for c in conditions or ():
            make_transform(c, args.manifest, noise, args.pad_silence, pad_level)
    except ConditionError as e:
        if args.verbose:
            raise
        print(f"asr evaluate: error: {e}", file=sys.stderr)
        return 2
    if not _is_exported(args.model):  # then the other inputs, still before it
        require_model(args.model)
    if args.lm:
        require_file(args.lm, "language model")
    require_rescore(args.rescore)
    rows = read_manifest(args.manifest, bad_lines=[])  # bad lines: warned, skipped

    from asr.exported import load_recognizer

    recognizer = load_recognizer(args.model, precision=args.precision)
    if args.threshold is not None:
        recognizer.threshold = args.threshold
    if args.edge is not None:
        recognizer.edge_seconds = args.edge
    options = decode_options(args)
    if conditions is not None:
        from asr.robustness import PLOT_NAME, run_conditions

        summary = run_conditions(
            recognizer,
            args.manifest,
            args.out,
            conditions,
            noise=noise,
            pad_seconds=args.pad_silence,
            pad_level_dbfs=pad_level,
            seed=args.seed,
            group_by=group_by,
            **options,
        )
        print(format_table(summary))
        for name, row in summary["conditions"].items():
            if row["num_skipped"]:
                print(
                    f"{name}: {row['num_skipped']} skipped (listed in "
                    f"{Path(args.out) / name / 'summary.json'})",
                    file=sys.stderr,
                )
        plot = Path(args.out) / PLOT_NAME
        print(
            f"details: {Path(args.out) / 'summary.json'}, "
            + (f"{plot}, " if plot.is_file() else "")
            + f"per condition in {Path(args.out)}/<condition>/"
        )
        return 0

    from asr.evaluate import evaluate

    summary = evaluate(
        recognizer, args.manifest, args.out, group_by=group_by, rows=rows, **options
    )
    print(
        f"WER {100 * summary['wer']:.2f}%  CER {100 * summary['cer']:.2f}%  "
        f"(S {summary['substitutions']}, D {summary['deletions']}, "
        f"I {summary['insertions']})  {summary['num_utterances']} utterances, "
        f"{summary['num_skipped']} skipped, RTF {summary['rtf']:.4f}, "
        f"latency p50 {summary['latency_ms_p50']:.1f} ms p95 "
        f"{summary['latency_ms_p95']:.1f} ms"
        + (
            f", {summary['chunk_ms']:g} ms chunk ({summary['chunk_backend']}) p50 "
            f"{summary['chunk_latency_ms_p50']:.2f} ms p95 "
            f"{summary['chunk_latency_ms_p95']:.2f} ms"
            if summary.get("chunk_latency_ms_p50") is not None
            else ""
        )
        + (
            f", confidence AUC {summary['confidence_auc']:.3f}"
            if summary.get("confidence_auc") is not None
            else ""
        )
    )
    if recognizer.is_classifier:
        print(_classifier_summary(summary, Path(args.out)))
    if group_by:
        print(format_groups(summary))
    for row in summary["skipped"]:
        print(f"skipped: {row['audio_filepath']}: {row['reason']}", file=sys.stderr)
    print(f"details: {Path(args.out) / 'summary.json'}, recogs.jsonl, errs.txt")
    return 0


def _classifier_summary(summary: dict, out: Path) -> str:
    """A keyword classifier's scores and confusion matrix, as `asr evaluate`
    prints them."""
    from asr.classification import CONFUSION_PNG, format_confusion

    far = summary["false_accept_rate"]
    return (
        f"accuracy {100 * summary['accuracy']:.2f}%, false-accept rate "
        + ("-" if far is None else f"{100 * far:.2f}%")
        + f" ({summary['false_accepts']} of {summary['non_keyword_rows']} "
        f"_unknown_/_silence_ clips answered with a keyword), threshold "
        f"{summary['threshold']:g}\n"
        + format_confusion(summary)
        + f"plot: {out / CONFUSION_PNG}"
    )


# -- stream ---------------------------------------------------------------------
def cmd_stream(args) -> int:
    import shutil

    from asr.streaming import StreamingError
    from asr.streaming.microphone import (
        DEFAULT_STREAMING_MODEL,
        MicrophoneError,
        check_microphone,
        list_input_devices,
        stream_file,
        stream_microphone,
    )
    from asr.streaming.recognizer import StreamingRecognizer
    from asr.transcribe import load_model

    live = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns - 1

    def on_partial(text: str) -> None:
        if live:  # rewritten in place; only finals reach a pipe or file
            sys.stdout.write("\r\x1b[K" + text[-width:])
            sys.stdout.flush()

    def on_final(utt: dict) -> None:
        prefix = "\r\x1b[K" if live else ""
        if "probability" in utt:  # a keyword detection (KeywordSpotter)
            when, word, p = utt["time"], utt["text"], utt["probability"]
            print(f"{prefix}{when:7.2f} s  {word}  {p:.3f}", flush=True)
            return
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
        from asr.cli.checks import require_audio, require_model

        if args.file:
            require_audio(args.file)
        require_model(args.model or DEFAULT_STREAMING_MODEL)
        model = load_model(args.model or DEFAULT_STREAMING_MODEL)
        if model.is_classifier:  # a keyword model: spotting in a sliding window
            from asr.streaming.keywords import HOP_MS, KeywordSpotter

            rec = KeywordSpotter(
                model, hop_ms=args.chunk_ms or HOP_MS, threshold=args.threshold
            )
        else:
            rec = StreamingRecognizer(
                model,
                chunk_ms=args.chunk_ms,
                endpoint_silence_ms=args.endpoint_ms,
                backend=args.backend,
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
    step = (
        f", median step {steps[len(steps) // 2]:.1f} ms ({rec.backend})"
        if steps
        else ""
    )
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
    if args.int8 and args.format == "savedmodel":  # before any work
        print(
            "asr export: error: --int8 is for --format tflite only: a SavedModel "
            "keeps float32 weights (TensorFlow has no int8 weight format for "
            "it); export with --format tflite --int8 for int8 weights",
            file=sys.stderr,
        )
        return 2
    from asr.cli.checks import require_model

    out = Path(args.out)
    if args.format == "savedmodel" and out.exists():
        if not (out / "saved_model.pb").exists():
            raise FileExistsError(
                f"{out}: exists and is not a SavedModel; not replacing"
            )
    elif args.format == "tflite" and out.is_dir():
        raise FileExistsError(f"{out}: is a folder; --out names the .tflite file")
    require_model(args.model)
    from asr.export import export_savedmodel, export_tflite
    from asr.streaming import StreamingError
    from asr.transcribe import load_model

    recognizer = load_model(args.model, precision="float32")  # exports `network`
    try:
        if args.format == "savedmodel":
            out = export_savedmodel(recognizer, args.out, chunk_ms=args.chunk_ms)
        else:
            out = export_tflite(
                recognizer,
                args.out,
                streaming=args.streaming,
                chunk_ms=args.chunk_ms,
                int8=args.int8,
            )
    except (StreamingError, FileExistsError) as e:
        if args.verbose:
            raise
        print(f"asr export: error: {e}", file=sys.stderr)
        return 2
    print(f"exported: {out}")
    return 0
