"""Choosing the n-gram LM's weight and word bonus on a dev manifest (`asr lm
tune-ngram`).

Shallow fusion scores a beam as `log P_ctc + alpha * log P_lm + beta * words`;
the best `alpha` (LM weight) and `beta` (word bonus) depend on how sure the
acoustic model is and on the LM: a weak acoustic model wants a stronger LM.
The model runs once per utterance; its logits (pauses marked) are then decoded
at every point of the grid and scored. Use a dev set, never the test set: the
chosen weights are then fixed for the test set (`--lm-weight`, `--word-bonus`,
or stored beside the LM with `--save`, where `LMDecoder` finds them).
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Sequence

import numpy as np

from asr import text as text_lib
from asr.audio import AudioLoadError, load_audio
from asr.decoding.arpa import read_arpa_unigrams
from asr.decoding.ngram import DEFAULT_WEIGHTS, LMDecoder, weights_path
from asr.files import atomic_write_bytes, atomic_write_text
from asr.manifest import ManifestError, Utterance
from asr.metrics import error_rates

logger = logging.getLogger(__name__)

LM_WEIGHTS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
WORD_BONUSES = (-1.0, 0.0, 1.0, 2.0, 3.0, 4.0)


def dev_logits(
    recognizer,
    rows: Sequence[Utterance],
    progress: Callable[[int], None] | None = None,
    batch_utterances: int = 32,
) -> tuple[list[str], list[np.ndarray], list[dict]]:
    """The normalised references, the (frames, classes) logits of each
    readable row (`Recognizer.utterance_logits`) and the skipped rows
    (`{"audio_filepath", "reason"}`: unreadable audio or an empty transcript)."""
    refs, logits, skipped = [], [], []
    for start in range(0, len(rows), batch_utterances):
        chunk = rows[start : start + batch_utterances]
        waves, kept = [], []
        for row in chunk:
            ref = text_lib.normalise(row.text)
            try:
                if not ref:
                    raise AudioLoadError("transcript is empty after normalisation")
                waves.append(load_audio(row.audio_filepath, *row.segment))
            except AudioLoadError as e:
                logger.warning("skipping %s: %s", row.audio_filepath, e)
                skipped.append({"audio_filepath": row.audio_filepath, "reason": str(e)})
                continue
            kept.append(ref)
        if waves:
            logits.extend(recognizer.utterance_logits(waves))
        refs.extend(kept)
        if progress:
            progress(len(chunk))
    return refs, logits, skipped


def tune_ngram(
    recognizer,
    rows: Sequence[Utterance],
    lm: str | os.PathLike,
    lm_weights: Sequence[float] = LM_WEIGHTS,
    word_bonuses: Sequence[float] = WORD_BONUSES,
    beam_width: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """WER and CER of the LM beam search with `lm` on `rows` at every
    (LM weight, word bonus) of the grid, and the best point.

    Returns:
        `{"lm_weight", "word_bonus", "wer", "cer", "table", "default",
        "backend", "beam_width", "lm", "model", "utterances", "skipped"}`:
        `table` lists every point (`{"lm_weight", "word_bonus", "wer",
        "cer"}`), `default` the backend's untuned point measured the same way;
        ties go to the smaller weight, then the smaller bonus.

    Raises:
        ManifestError: not one row could be scored.
        ValueError: an empty grid.
    """
    if not lm_weights or not word_bonuses:
        raise ValueError("no LM weights or word bonuses to try")
    refs, logits, skipped = dev_logits(recognizer, rows, progress)
    if not refs:
        raise ManifestError(f"no utterance could be scored ({len(skipped)} skipped)")
    logits = [recognizer.mark_pauses(x) for x in logits]
    width = beam_width or 32

    # The LM's word list is read once; each point builds its decoder on it.
    unigrams = read_arpa_unigrams(lm) if str(lm).endswith(".arpa") else None
    backends = set()

    def score(alpha: float, beta: float) -> dict:
        decoder = LMDecoder(
            lm, alpha=alpha, beta=beta, beam_width=width, unigrams=unigrams
        )
        backends.add(decoder.backend)
        rates = error_rates(refs, [decoder.decode(x) for x in logits])
        return {
            "lm_weight": alpha,
            "word_bonus": beta,
            "wer": rates["wer"],
            "cer": rates["cer"],
        }

    table = [score(a, b) for a in lm_weights for b in word_bonuses]
    (backend,) = backends  # "auto" picks the same backend for every point
    default = score(*DEFAULT_WEIGHTS[backend])
    best = min(table, key=lambda r: (r["wer"], r["lm_weight"], r["word_bonus"]))
    return {
        **best,
        "table": table,
        "default": default,
        "backend": backend,
        "beam_width": width,
        "lm": str(lm),
        "model": recognizer.name,
        "utterances": len(refs),
        "skipped": skipped,
    }


def save_weights(result: dict, manifest: str) -> str:
    """Stores `tune_ngram`'s best point beside its LM (`weights_path`), where
    an `LMDecoder` for that LM and backend given no weights uses it; returns
    the file's path."""
    path = weights_path(result["lm"])
    stored = {key: result[key] for key in ("lm_weight", "word_bonus", "backend", "wer")}
    stored.update(model=result["model"], manifest=str(manifest))
    atomic_write_text(path, json.dumps(stored, indent=2) + "\n")
    return str(path)


def plot_grid(result: dict, png: str | os.PathLike) -> None:
    """WER (%) over the (LM weight, word bonus) grid as a heat map, the best
    point circled; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alphas = sorted({r["lm_weight"] for r in result["table"]})
    betas = sorted({r["word_bonus"] for r in result["table"]})
    grid = np.full((len(alphas), len(betas)), np.nan)
    for r in result["table"]:
        grid[alphas.index(r["lm_weight"]), betas.index(r["word_bonus"])] = (
            100 * r["wer"]
        )
    fig, ax = plt.subplots(figsize=(1.1 * len(betas) + 2, 0.6 * len(alphas) + 1.5))
    image = ax.imshow(grid, origin="lower", cmap="viridis_r", aspect="auto")
    for i in range(len(alphas)):
        for j in range(len(betas)):
            ax.text(j, i, f"{grid[i, j]:.1f}", ha="center", va="center", fontsize=8)
    best = (betas.index(result["word_bonus"]), alphas.index(result["lm_weight"]))
    ax.plot(*best, "o", ms=22, mfc="none", mec="red", mew=2)
    ax.set_xticks(range(len(betas)), [f"{b:g}" for b in betas])
    ax.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    ax.set(xlabel="word bonus (beta)", ylabel="LM weight (alpha)")
    ax.set_title(f"WER % with {os.path.basename(result['lm'])}", fontsize=10)
    fig.colorbar(image, ax=ax, label="WER %")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(png, buf.getvalue())
