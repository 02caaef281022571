"""Tuning the rescoring weight on a dev manifest (`asr lm tune-weight`).

The acoustic model and the beam search run once per utterance; the N-best
lists are then rescored at every weight of the grid
(`asr.lm.rescore.tune_weight`). Weight 0 keeps the beam search's own best, so
the table's first row is the WER without rescoring (the grid starts at 0).
Use a dev set: the weight is then fixed for the test set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from asr.decoding.tuning import dev_logits
from asr.lm.model import LanguageModel
from asr.lm.rescore import DEFAULT_NBEST, WEIGHT_GRID, NBest, Rescorer, tune_weight
from asr.manifest import ManifestError, Utterance
from asr.transcribe import Recognizer


def nbest_lists(
    recognizer: Recognizer,
    rows: Sequence[Utterance],
    beam_width: int | None = None,
    lm: str | None = None,
    hotwords: tuple[str, ...] = (),
    n: int = DEFAULT_NBEST,
    progress: Callable[[int], None] | None = None,
    batch_utterances: int = 32,
) -> tuple[list[str], list[NBest], list[dict]]:
    """The normalised references, the N-best lists (`Recognizer.nbest`) and
    the skipped rows (`{"audio_filepath", "reason"}`: unreadable audio or an
    empty transcript)."""
    refs, logits, skipped = dev_logits(recognizer, rows, progress, batch_utterances)
    nbests = [recognizer.nbest(x, beam_width, lm, hotwords, n) for x in logits]
    return refs, nbests, skipped


def tune(
    recognizer: Recognizer,
    rows: Sequence[Utterance],
    rescore: str,
    weights: Sequence[float] = WEIGHT_GRID,
    beam_width: int | None = None,
    lm: str | None = None,
    hotwords: tuple[str, ...] = (),
    n: int = DEFAULT_NBEST,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """The best weight of `weights` for rescoring with the LSTM LM folder
    `rescore` on `rows`, with the WER and CER at every weight.

    Returns:
        `{"weight", "wer", "table", "nbest", "utterances", "skipped",
        "oracle_wer"}`; `oracle_wer` is the WER of the N-best lists' best
        hypotheses (no weight can do better).

    Raises:
        ManifestError: not one row could be scored.
    """
    refs, nbests, skipped = nbest_lists(
        recognizer, rows, beam_width, lm, hotwords, n, progress
    )
    if not refs:
        raise ManifestError(f"no utterance could be scored ({len(skipped)} skipped)")
    tuning = tune_weight(Rescorer(LanguageModel.load(rescore)), nbests, refs, weights)
    from asr.metrics import error_rates

    oracle = [
        min(nb, key=lambda h: error_rates([ref], [h[0]])["wer"])[0] if nb else ""
        for ref, nb in zip(refs, nbests, strict=True)
    ]
    return {
        **tuning.as_dict(),
        "oracle_wer": error_rates(refs, oracle)["wer"],
        "nbest": n,
        "utterances": len(refs),
        "skipped": skipped,
    }
