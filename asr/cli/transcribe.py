"""`asr transcribe`: files, folders or stdin -> text on stdout or output files.

Every file's header is read before the model loads (a bad file is reported in
one line and listed with `--skipped`); with `--output-dir`, inputs whose
outputs all exist are skipped unless `--overwrite`. Short files are recognised
in batches (`asr.cli.batch.batches`). SIGTERM / Ctrl+C finishes the file being
written and stops (`asr.interrupts.Interrupted`, exit 75). Exit status 2 when
a file could not be read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _progress_enabled() -> bool:
    return sys.stderr.isatty()


def cmd_transcribe(args) -> int:
    from asr.cli.batch import stdin_tmp_dir

    if args.format and not args.output_dir:
        print("asr transcribe: error: --format needs --output-dir", file=sys.stderr)
        return 2
    if args.files.count("-") > 1:
        print("asr transcribe: error: - (stdin) given twice", file=sys.stderr)
        return 2
    with stdin_tmp_dir() as tmp:
        return _transcribe(args, tmp)


def _transcribe(args, tmp: str) -> int:
    from tqdm import tqdm

    from asr.audio import AudioLoadError, audio_info
    from asr.cli.arguments import decode_options
    from asr.cli.batch import (
        batches,
        collect_inputs,
        output_paths,
        output_stems,
        recognise_batch,
        write_outputs,
    )
    from asr.cli.checks import require_file, require_model, require_rescore
    from asr.interrupts import Interrupted, StopRequests
    from asr.outputs import FORMATS
    from asr.transcribe import DEFAULT_MODEL, load_model

    if args.lm:
        require_file(args.lm, "language model")
    require_rescore(args.rescore)
    require_model(args.model or DEFAULT_MODEL)
    inputs = collect_inputs(args.files, tmp)
    formats = list(FORMATS) if args.format == "all" else [args.format or "txt"]
    failed: list[dict] = []

    def report(item, error: AudioLoadError) -> None:
        reason = str(error).removeprefix(f"{Path(item.path)}: ")
        if item.is_stdin:  # not the temp file's name
            reason = reason.replace(item.path, "stdin")
        tqdm.write(f"asr transcribe: {item.name}: {reason}", file=sys.stderr)
        failed.append({"audio_filepath": item.name, "reason": reason})

    stems = output_stems(inputs) if args.output_dir else {}
    todo, skipped = [], 0
    for item in inputs:  # every file's header before the model loads
        if args.output_dir and not args.overwrite and not item.is_stdin:
            paths = output_paths(args.output_dir, stems[item.name], formats)
            if all(p.is_file() for p in paths):
                skipped += 1
                continue
        try:
            todo.append((item, audio_info(item.path)[0]))
        except AudioLoadError as e:
            report(item, e)
    if skipped:
        print(
            f"asr transcribe: skipped {skipped} file(s) whose outputs exist in "
            f"{args.output_dir} (--overwrite to redo them)",
            file=sys.stderr,
        )
    recognizer = (
        load_model(args.model or DEFAULT_MODEL, precision=args.precision)
        if todo
        else None
    )
    if recognizer is not None:
        recognizer.segmentation = args.segment
        if args.threshold is not None:
            recognizer.threshold = args.threshold
        if args.edge is not None:
            recognizer.edge_seconds = args.edge
    options = decode_options(args)
    bar = tqdm(
        total=len(todo),
        unit="file",
        file=sys.stderr,
        disable=not (_progress_enabled() and args.output_dir and todo),
    )
    seconds, done = 0.0, 0
    # Short files are recognised in batches (one compiled call per batch);
    # SIGTERM / Ctrl+C: the file being written is finished (all its formats),
    # then the loop stops; a batch's later files are redone by a rerun.
    with bar, StopRequests() as stop:
        for group in batches(todo, recognizer):
            if stop.requested:
                break
            for (item, duration), seg in zip(
                group, recognise_batch(recognizer, [i for i, _ in group], options)
            ):
                if stop.requested:
                    break
                done += 1
                bar.update(1)
                if isinstance(seg, AudioLoadError):
                    report(item, seg)
                    continue
                if args.output_dir:
                    write_outputs(
                        args.output_dir, stems[item.name], formats, item.name, seg
                    )
                elif seg.prediction is not None:  # a keyword classifier
                    answer = seg.prediction
                    if args.json:
                        print(
                            json.dumps(
                                {
                                    "audio_filepath": item.name,
                                    **answer.to_json(),
                                    "duration": round(seg.duration, 3),
                                }
                            )
                        )
                    else:
                        print(f"{item.name}\t{answer.word}\t{answer.probability:.4f}")
                elif args.json:
                    print(
                        json.dumps(
                            {
                                "audio_filepath": item.name,
                                "text": seg.text,
                                "words": seg.words,
                                "duration": round(seg.duration, 3),
                                "confidence": seg.confidence,
                            }
                        )
                    )
                else:
                    print(f"{item.name}\t{seg.text}")
                sys.stdout.flush()
                seconds += duration
                bar.set_postfix_str(f"{seconds:.1f} s of audio", refresh=False)
    if args.output_dir and todo:
        print(
            f"asr transcribe: wrote {done - len(failed)} file(s)' "
            f"{', '.join(formats)} ({seconds:.1f} s of audio) to {args.output_dir}",
            file=sys.stderr,
        )
    if args.skipped:
        from asr.manifest import write_manifest

        write_manifest(args.skipped, failed, relative=False)
    if failed and len(inputs) > 1:
        print(
            f"asr transcribe: {len(failed)} of {len(inputs)} file(s) could not "
            "be read" + (f"; listed in {args.skipped}" if args.skipped else ""),
            file=sys.stderr,
        )
    if stop.requested:
        rest = (
            "run the same command again to do the rest (finished outputs are kept)"
            if args.output_dir
            else "the rest were not transcribed"
        )
        raise Interrupted(
            f"stopped by {stop.requested} after {done} of {len(todo)} file(s); "
            f"every finished output is complete; {rest}"
        )
    return 2 if failed else 0
