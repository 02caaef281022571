"""Evaluation: WER/CER of a model on a manifest, with per-utterance files.

References are `text.normalise`d. Rows that cannot be scored are skipped and
listed with their reason in `summary.json`: unreadable, truncated or NaN
audio, a transcript with nothing left after normalisation (e.g. only
characters outside the vocabulary), and audio too short for its transcript
(fewer output frames than CTC needs). The run always completes.
Writes `summary.json`, `recogs.jsonl` and `errs.txt` (see `asr.metrics`).

`transform` changes each utterance's audio after it is read (noise, padding:
see `asr.robustness`); `group_by` adds WER/CER per value of manifest keys to
the summary (`summary["groups"][key][value]`, see
`asr.metrics.error_rates_by_group`), rows without the key in `(missing)`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from asr import text
from asr.audio import SAMPLE_RATE, AudioLoadError, load_audio
from asr.manifest import ManifestError, Utterance, read_manifest
from asr.metrics import MISSING_GROUP, error_rates_by_group, write_results
from asr.model import too_short
from asr.transcribe import BEAM_WIDTH, Recognizer

logger = logging.getLogger(__name__)


def evaluate(
    recognizer: Recognizer,
    manifest: str | Path,
    out_dir: str | Path,
    decoder: str = "greedy",
    beam_width: int | None = None,
    lm: str | None = None,
    hotwords: Sequence[str] = (),
    batch_utterances: int = 64,
    progress: Callable[[int], None] | None = None,
    transform: Callable[[np.ndarray, Utterance], np.ndarray] | None = None,
    group_by: Sequence[str] = (),
    rows: Sequence[Utterance] | None = None,
) -> dict:
    """Recognises every row of `manifest` and scores it. Returns the summary.

    Args:
        decoder, beam_width, lm, hotwords: as `Recognizer.decode`; an LM or
            hotwords mean the LM beam search (`asr.decoding.ngram`).
        transform: `fn(wave (samples,) float32, row) -> wave'`, applied to each
            readable utterance before recognition.
        group_by: manifest keys to break WER/CER down by.
        rows: `read_manifest(manifest)` when the caller has read it already.

    Raises:
        ManifestError: the manifest is bad, or not one row could be scored.
    """
    rows = read_manifest(manifest) if rows is None else rows
    recognizer.warmup()  # RTF measures recognition, not tracing
    results, skipped, labels = [], [], []
    compute_seconds, audio_seconds = 0.0, 0.0
    for start in range(0, len(rows), batch_utterances):
        chunk = rows[start : start + batch_utterances]
        waves, kept = [], []
        for row in chunk:
            wave, reason = _read(recognizer, row)
            if reason is not None:
                logger.warning("skipping %s: %s", row.audio_filepath, reason)
                skipped.append({"audio_filepath": row.audio_filepath, "reason": reason})
                continue
            if transform is not None:
                wave = transform(wave, row)
            waves.append(wave)
            kept.append(row)
        if waves:
            t0 = time.perf_counter()
            logits = recognizer.logits_batch(waves)
            hyps = [
                recognizer.decode(
                    lg,
                    decoder=decoder,
                    beam_width=beam_width,
                    lm=lm,
                    hotwords=hotwords,
                )
                for lg in logits
            ]
            compute_seconds += time.perf_counter() - t0
            for row, wave, hyp in zip(kept, waves, hyps):
                duration = len(wave) / SAMPLE_RATE
                audio_seconds += duration
                groups = {key: group_value(row, key) for key in group_by}
                labels.append(groups)
                results.append(
                    {
                        "audio_filepath": row.audio_filepath,
                        "ref": text.normalise(row.text),
                        "hyp": hyp,
                        "duration": duration,
                        **{k: v for k, v in dict(row.extra).items() if k in groups},
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
        "decoder": "lm" if lm or hotwords else decoder,
    }
    if lm or hotwords:
        lm_decoder = recognizer.lm_decoder(lm, beam_width, hotwords)
        summary_extra.update(
            lm=str(lm) if lm else None,
            lm_backend=lm_decoder.backend,
            beam_width=lm_decoder.beam_width,
        )
        if hotwords:
            summary_extra["hotwords"] = list(hotwords)
    elif decoder == "beam":
        summary_extra["beam_width"] = beam_width or BEAM_WIDTH
    if not results:
        first = f"; first: {skipped[0]['audio_filepath']}: {skipped[0]['reason']}"
        raise ManifestError(
            f"{manifest}: no utterance could be scored ({len(skipped)} skipped"
            f"{first if skipped else ''})"
        )
    if group_by:
        refs = [r["ref"] for r in results]
        hyps = [r["hyp"] for r in results]
        summary_extra["groups"] = {
            key: error_rates_by_group(refs, hyps, [g[key] for g in labels])
            for key in group_by
        }
    if recognizer.is_classifier:
        summary_extra["accuracy"] = float(
            np.mean([r["ref"] == r["hyp"] for r in results])
        )
    return write_results(Path(out_dir), results, summary_extra)


def group_value(row: Utterance, key: str) -> str:
    """The row's value of manifest key `key` as a group label: `str(value)`
    (JSON text for lists and objects), or `MISSING_GROUP`."""
    if key in ("audio_filepath", "duration", "text"):
        value = getattr(row, key)
    else:
        value = dict(row.extra).get(key, MISSING_GROUP)
        if value is None:
            return MISSING_GROUP
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _read(
    recognizer: Recognizer, row: Utterance
) -> tuple[np.ndarray | None, str | None]:
    """The row's audio and None, or None and why the row cannot be scored."""
    ref = text.normalise(row.text)
    if not ref and not recognizer.is_classifier:
        bad = text.out_of_vocabulary(row.text.lower())
        detail = f" (characters outside the vocabulary: {bad})" if bad else ""
        return None, f"transcript {row.text!r} is empty after normalisation{detail}"
    try:
        wave = load_audio(row.audio_filepath, *row.segment)
    except AudioLoadError as e:
        return None, str(e).removeprefix(f"{row.audio_filepath}: ")
    ids = [] if recognizer.is_classifier else text.encode(ref)
    short = too_short(len(wave), ids, recognizer.cfg)
    return (None, short) if short else (wave, None)
