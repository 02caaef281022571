"""Evaluation: WER/CER of a model on a manifest, with per-utterance files.

Broken audio is skipped and listed with its reason; the run always completes.
Writes `summary.json`, `recogs.jsonl` and `errs.txt` (see `asr.metrics`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from asr.audio import AudioLoadError, load_audio
from asr.manifest import read_manifest
from asr.metrics import write_results
from asr.text import normalise
from asr.transcribe import Recognizer

logger = logging.getLogger(__name__)


def evaluate(
    recognizer: Recognizer,
    manifest: str | Path,
    out_dir: str | Path,
    decoder: str = "greedy",
    beam_width: int = 16,
    lm: str | None = None,
    batch_utterances: int = 64,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Recognises every row of `manifest` and scores it. Returns the summary."""
    rows = read_manifest(manifest)
    recognizer.warmup()  # RTF measures recognition, not tracing
    results, skipped = [], []
    compute_seconds, audio_seconds = 0.0, 0.0
    for start in range(0, len(rows), batch_utterances):
        chunk = rows[start : start + batch_utterances]
        waves, kept = [], []
        for row in chunk:
            try:
                waves.append(load_audio(row.audio_filepath))
                kept.append(row)
            except AudioLoadError as e:
                reason = str(e).removeprefix(f"{row.audio_filepath}: ")
                logger.warning("skipping: %s", e)
                skipped.append({"audio_filepath": row.audio_filepath, "reason": reason})
        if waves:
            t0 = time.perf_counter()
            logits = recognizer.logits_batch(waves)
            hyps = [
                recognizer.decode(lg, decoder=decoder, beam_width=beam_width, lm=lm)
                for lg in logits
            ]
            compute_seconds += time.perf_counter() - t0
            for row, wave, hyp in zip(kept, waves, hyps):
                duration = len(wave) / 16000
                audio_seconds += duration
                results.append(
                    {
                        "audio_filepath": row.audio_filepath,
                        "ref": normalise(row.text),
                        "hyp": hyp,
                        "duration": duration,
                    }
                )
        if progress:
            progress(len(chunk))
    summary_extra = {
        "num_skipped": len(skipped),
        "skipped": skipped,
        "rtf": compute_seconds / audio_seconds if audio_seconds else None,
        "audio_seconds": round(audio_seconds, 2),
        "model": recognizer.name,
        "manifest": str(manifest),
        "decoder": "lm" if lm else decoder,
    }
    if not results:
        raise ValueError(f"{manifest}: no utterance could be read (all skipped)")
    if recognizer.is_classifier:
        summary_extra["accuracy"] = float(
            np.mean([r["ref"] == r["hyp"] for r in results])
        )
    return write_results(Path(out_dir), results, summary_extra)
