"""`asr demo`: the bundled models on speech they never heard (or `--train`)."""

from __future__ import annotations

import time
from pathlib import Path


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

    from asr.checkpoint import bundled_models

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
        print("\nThe same sentences, 1 s of quiet room noise before and after each:")
        quiet = demo.with_quiet(clips, seed=args.seed)
        for name in offline:
            r = demo.score_model(name, quiet)
            print(f"== {name}: WER {100 * r.wer:.1f}%  CER {100 * r.cer:.1f}%")
    real_models = [m for m in ("english", "english-streaming") if m in installed]
    if real_models:
        print(
            "\nReal read English (speechocean762, CC BY 4.0): 8 speakers no model "
            "heard, women, girls, men and boys..."
        )
        real = demo.real_clips()
        for name in real_models:
            _print_model_result(demo.score_model(name, real), real.voices)
            if lm := demo.bundled_lm(name):
                _print_model_result(demo.score_model(name, real, lm), real.voices)
    if {"digits", "keywords"} & installed:
        print(f"\nSynthesising {args.n} spoken digits with unseen voices...")
        digits = demo.make_clips(args.n, digits=True, seed=args.seed)
    if "digits" in installed:
        _print_model_result(demo.score_model("digits", digits), digits.voices)
    if "keywords" in installed:
        print("\nThe keyword model: the same digits, a second of quiet, a sentence")
        words = demo.keyword_clips(digits, seed=args.seed)
        _print_model_result(demo.score_model("keywords", words), words.voices)
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
    missing = {
        "english",
        "english-streaming",
        "synth-en",
        "synth-en-streaming",
        "digits",
        "keywords",
    }
    missing -= installed
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
