"""Evaluation: WER/CER of a model on a manifest, with per-utterance files.

References are `text.normalise`d. Rows that cannot be scored are skipped and
listed with their reason in `summary.json`: unreadable, truncated or NaN
audio, a transcript with nothing left after normalisation (e.g. only
characters outside the vocabulary), and audio too short for its transcript
(fewer output frames than CTC needs). The run always completes.
Writes `summary.json`, `recogs.jsonl` and `errs.txt` (see `asr.metrics`).

Confidence (CTC models): each `recogs.jsonl` line has the utterance's
`confidence` and its `word_confidences` (see `asr.outputs`); the summary's
`confidence_auc` is how well they separate the hypothesis words the WER
alignment calls correct from the wrong ones (`asr.metrics.confidence_auc`).

`transform` changes each utterance's audio after it is read (noise, padding:
see `asr.robustness`); `group_by` adds WER/CER per value of manifest keys to
the summary (`summary["groups"][key][value]`, see
`asr.metrics.error_rates_by_group`), rows without the key in `(missing)`.

Keyword classifiers (`model.head: classifier`): references are the manifest
labels as written (`_unknown_`, `_silence_` and the keywords), answers are
`Recognizer.classify`'s words (rejection threshold `Recognizer.threshold`),
and each `recogs.jsonl` line has the `probability` and `top` classes. The
summary adds `asr.classification.classification_scores` (accuracy, per-class
precision and recall, false-accept rate on `_unknown_` / `_silence_` rows,
false-reject rate, the confusion matrix) and `threshold`; `confusion.txt`
(also appended to `errs.txt`) and `confusion.png` show the matrix.

Timing: each utterance is recognised on its own (a batch of one, as a user's
request), after a warm-up; `latency_ms_p50`/`_p95` are the per-utterance
compute times (logits and decoding; reading the audio excluded), `rtf` their
sum over the audio's duration. A length that runs XLA-compiled loops (8 s and
up, CPU) is compiled once, untimed, before its first timed run. A causal model
is also streamed chunk by chunk (`chunk_latency_ms_p50`/`_p95`, `chunk_ms`,
`chunk_backend`); the texts scored are the whole-utterance pass's.
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
    rescore: str | None = None,
    rescore_weight: float | None = None,
    nbest: int | None = None,
    lm_weight: float | None = None,
    word_bonus: float | None = None,
    batch_utterances: int = 64,
    progress: Callable[[int], None] | None = None,
    transform: Callable[[np.ndarray, Utterance], np.ndarray] | None = None,
    group_by: Sequence[str] = (),
    rows: Sequence[Utterance] | None = None,
    chunk_latency: bool = True,
) -> dict:
    """Recognises every row of `manifest` and scores it. Returns the summary.

    Args:
        decoder, beam_width, lm, hotwords: as `Recognizer.decode`; an LM or
            hotwords mean the LM beam search (`asr.decoding.ngram`).
        rescore, rescore_weight, nbest: N-best rescoring with an LSTM LM
            folder, as `Recognizer.decode`.
        lm_weight, word_bonus: the LM beam search's weights, as
            `Recognizer.decode` (the summary records those used).
        transform: `fn(wave (samples,) float32, row) -> wave'`, applied to each
            readable utterance before recognition.
        group_by: manifest keys to break WER/CER down by.
        rows: `read_manifest(manifest)` when the caller has read it already.
        chunk_latency: for a causal model, also stream every utterance in
            chunks of `streaming.chunk_ms` (`asr.streaming`, backend "auto")
            and time each chunk.

    Raises:
        ManifestError: the manifest is bad, or not one row could be scored.
    """
    rows = read_manifest(manifest) if rows is None else rows
    recognizer.warmup()  # RTF measures recognition, not tracing
    streamer = _streamer(recognizer) if chunk_latency else None
    results, skipped, labels = [], [], []
    latencies: list[float] = []  # seconds per utterance: logits and decoding
    chunk_times: list[float] = []  # seconds per streaming chunk
    compiled: set[int] = set()
    edge = recognizer.edge_samples  # silence each utterance is heard with
    audio_seconds = 0.0
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
            hyps, confidences = [], []
            for wave in waves:  # one at a time: each one's latency
                _compile_length(recognizer, len(wave) + 2 * edge, compiled)
                t0 = time.perf_counter()
                logits = recognizer.utterance_logits([wave])[0]
                hyp = recognizer.decode(
                    logits,
                    decoder=decoder,
                    beam_width=beam_width,
                    lm=lm,
                    hotwords=hotwords,
                    rescore=rescore,
                    rescore_weight=rescore_weight,
                    nbest=nbest,
                    lm_weight=lm_weight,
                    word_bonus=word_bonus,
                )
                latencies.append(time.perf_counter() - t0)
                hyps.append(hyp)
                confidences.append(_confidences(recognizer, logits, hyp))
            if streamer is not None:
                chunk_times += _chunk_times(streamer, waves)
            for row, wave, hyp, conf in zip(kept, waves, hyps, confidences):
                duration = len(wave) / SAMPLE_RATE
                audio_seconds += duration
                groups = {key: group_value(row, key) for key in group_by}
                labels.append(groups)
                results.append(
                    {
                        "audio_filepath": row.audio_filepath,
                        "ref": _reference(recognizer, row),
                        "hyp": hyp,
                        "duration": duration,
                        **conf,
                        **{k: v for k, v in dict(row.extra).items() if k in groups},
                    }
                )
        if progress:
            progress(len(chunk))
    summary_extra = {
        "num_skipped": len(skipped),
        "skipped": skipped,
        "rtf": sum(latencies) / audio_seconds if audio_seconds else None,
        **_percentiles_ms("latency_ms", latencies),
        "audio_seconds": round(audio_seconds, 2),
        "model": recognizer.name,
        "manifest": str(manifest),
        "decoder": "lm" if lm or hotwords else "beam" if rescore else decoder,
        "edge_seconds": edge / SAMPLE_RATE,
    }
    if streamer is not None:
        summary_extra.update(
            chunk_ms=round(1000 * streamer.step_samples / SAMPLE_RATE, 3),
            chunk_backend=streamer.backend,
            **_percentiles_ms("chunk_latency_ms", chunk_times),
        )
    if lm or hotwords:
        lm_decoder = recognizer.lm_decoder(
            lm, beam_width, hotwords, lm_weight, word_bonus
        )
        summary_extra.update(
            lm=str(lm) if lm else None,
            lm_backend=lm_decoder.backend,
            beam_width=lm_decoder.beam_width,
            lm_weight=lm_decoder.alpha,
            word_bonus=lm_decoder.beta,
        )
        if hotwords:
            summary_extra["hotwords"] = list(hotwords)
    elif decoder == "beam" or rescore:
        summary_extra["beam_width"] = max(beam_width or BEAM_WIDTH, nbest or 0)
    if rescore:
        from asr.lm.rescore import DEFAULT_NBEST, DEFAULT_WEIGHT

        summary_extra.update(
            rescore=str(rescore),
            rescore_weight=DEFAULT_WEIGHT if rescore_weight is None else rescore_weight,
            nbest=nbest or DEFAULT_NBEST,
        )
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
    scores = None
    if recognizer.is_classifier:
        from asr.classification import classification_scores

        scores = classification_scores(
            [r["ref"] for r in results],
            [r["hyp"] for r in results],
            recognizer.cfg.model.classes,
        )
        summary_extra.update(threshold=recognizer.threshold, **scores)
    summary = write_results(Path(out_dir), results, summary_extra)
    if scores is not None:
        from asr.classification import write_confusion
        from asr.files import atomic_write_text

        table = write_confusion(scores, out_dir)
        errs = Path(out_dir) / "errs.txt"
        atomic_write_text(errs, errs.read_text(encoding="utf-8") + "\n" + table)
    return summary


def _reference(recognizer: Recognizer, row: Utterance) -> str:
    """What the answer is scored against: the normalised transcript, or for
    a classifier the label as written (`_unknown_` is no text)."""
    if recognizer.is_classifier:
        return row.text.strip()
    return text.normalise(row.text)


def _confidences(recognizer: Recognizer, logits: np.ndarray, hyp: str) -> dict:
    """`{"confidence", "word_confidences"}` of one CTC utterance (untimed;
    for a classifier `{"probability", "best", "top"}`). Word confidences are
    the greedy path's (`asr.decoding.alignment.word_timestamps`), one per word of
    `hyp`; where a beam or LM search chose other words they are None and the
    utterance's confidence is still the greedy words' mean."""
    if recognizer.is_classifier:
        answer = recognizer.classify(logits).to_json()
        return {k: answer[k] for k in ("probability", "best", "top")}
    from asr.decoding import alignment
    from asr.outputs import utterance_confidence

    words = alignment.word_timestamps(
        logits, len(logits), recognizer.frame_seconds, confidence=True
    )
    same = hyp.split() == [w["word"] for w in words]
    return {
        "confidence": utterance_confidence(words),
        "word_confidences": [w["confidence"] for w in words] if same else None,
    }


def _percentiles_ms(name: str, seconds: list[float]) -> dict:
    """`{name}_p50` and `{name}_p95` in milliseconds (None without values)."""
    if not seconds:
        return {f"{name}_p50": None, f"{name}_p95": None}
    p50, p95 = np.percentile(np.asarray(seconds) * 1000, [50, 95])
    return {f"{name}_p50": round(float(p50), 3), f"{name}_p95": round(float(p95), 3)}


def _compile_length(recognizer: Recognizer, samples: int, done: set[int]) -> None:
    """Runs a batch of one of this padded length once, untimed, if it takes the
    XLA-compiled path (compiled once per length: a first-time cost, not
    latency; see `asr.transcribe`)."""
    if not getattr(recognizer, "xla_loops", False):
        return
    if samples < recognizer.xla_min_seconds * SAMPLE_RATE:
        return
    seconds = -(-samples // SAMPLE_RATE)  # logits_batch pads to whole seconds
    if seconds not in done:
        done.add(seconds)
        recognizer.logits_batch([np.zeros(seconds * SAMPLE_RATE, np.float32)])


def _streamer(recognizer: Recognizer):
    """A warmed-up `StreamingRecognizer` (backend "auto", as `asr stream`) for
    a causal model, else None."""
    if getattr(recognizer, "network", None) is None:  # an exported artifact
        return None
    from asr.streaming import StreamingError
    from asr.streaming.recognizer import StreamingRecognizer

    try:
        streamer = StreamingRecognizer(recognizer, backend="auto")
    except StreamingError:  # bidirectional or a classifier: offline only
        return None
    streamer.warmup()
    return streamer


def _chunk_times(streamer, waves: list[np.ndarray]) -> list[float]:
    """Seconds each `accept_waveform` of one chunk (`streamer.step_samples`)
    took, over the waves streamed one after another."""
    step = streamer.step_samples
    times = []
    for wave in waves:
        for i in range(0, len(wave), step):
            t0 = time.perf_counter()
            streamer.accept_waveform(wave[i : i + step])
            times.append(time.perf_counter() - t0)
        streamer.finalize()
    return times


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
