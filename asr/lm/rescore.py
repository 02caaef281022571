"""N-best rescoring with the LSTM language model, and tuning its weight.

The beam search (with or without an n-gram) gives each utterance an N-best
list of `(text, score)`: the search's own log-score (acoustic, plus the
n-gram's weighted score and word bonus when there is one). Rescoring adds
`weight` x the LSTM's natural-log probability of the whole text (its words and
`</s>`) and keeps the best:

    total = score + weight * log P_lstm(text)

`tune_weight` picks the weight with the lowest WER over a grid on a dev set's
N-best lists, scoring each distinct text once. Tune on a dev set, never on the
test set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from asr.metrics import error_rates

DEFAULT_WEIGHT = 0.5
DEFAULT_NBEST = 16
WEIGHT_GRID = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0)

NBest = list[tuple[str, float]]  # (tidy text, search log-score), best first


def merge_nbest(pairs: Sequence[tuple[str, float]], n: int) -> NBest:
    """The `n` best distinct texts of `pairs`, each with its best score.

    Args:
        pairs: `(text, score)`; texts are compared as given (tidy them first).
    """
    best: dict[str, float] = {}
    for text, score in pairs:
        if text not in best or score > best[text]:
            best[text] = score
    return sorted(best.items(), key=lambda kv: -kv[1])[:n]


def pick(nbest: NBest, lm_log_probs: Sequence[float], weight: float) -> int:
    """Index of the best hypothesis of `nbest` once `weight` x `lm_log_probs`
    is added (ties: the earlier one, i.e. the search's order)."""
    total = np.array([s for _, s in nbest]) + weight * np.asarray(lm_log_probs)
    return int(np.argmax(total))


class Rescorer:
    """Rescores N-best lists with an `asr.lm.model.LanguageModel`.

    Args:
        lm: the language model.
        weight: its weight (see the module docstring).
    """

    def __init__(self, lm, weight: float = DEFAULT_WEIGHT):
        self.lm, self.weight = lm, float(weight)

    def lm_scores(self, nbests: Sequence[NBest]) -> list[np.ndarray]:
        """Per list, the LM's natural-log probability of each text (all the
        lists' texts in one batched pass)."""
        texts = [t for nbest in nbests for t, _ in nbest]
        scores = self.lm.sentence_log_probs(texts) if texts else np.zeros(0)
        out, i = [], 0
        for nbest in nbests:
            out.append(scores[i : i + len(nbest)])
            i += len(nbest)
        return out

    def best(self, nbest: NBest) -> str:
        """The text that wins after rescoring; "" for an empty list."""
        if not nbest:
            return ""
        return nbest[pick(nbest, self.lm_scores([nbest])[0], self.weight)][0]

    def best_batch(self, nbests: Sequence[NBest]) -> list[str]:
        """`best` for each list, with one LM pass for all."""
        return [
            nbest[pick(nbest, lp, self.weight)][0] if nbest else ""
            for nbest, lp in zip(nbests, self.lm_scores(nbests), strict=True)
        ]


@dataclass(frozen=True)
class Tuning:
    """`tune_weight`'s result: the chosen weight and WER per weight tried."""

    weight: float
    wer: float
    table: list[dict]  # {"weight", "wer", "cer"} per weight, in grid order

    def as_dict(self) -> dict:
        return {"weight": self.weight, "wer": self.wer, "table": self.table}


def tune_weight(
    rescorer: Rescorer,
    nbests: Sequence[NBest],
    refs: Sequence[str],
    weights: Sequence[float] = WEIGHT_GRID,
) -> Tuning:
    """The weight of `weights` with the lowest WER of the rescored `nbests`
    against `refs` (ties: the smallest weight).

    Args:
        nbests: one N-best list per utterance.
        refs: the utterances' reference texts (normalised).
    """
    if len(nbests) != len(refs):
        raise ValueError(f"{len(nbests)} N-best lists for {len(refs)} references")
    if not weights:
        raise ValueError("no weights to try")
    scores = rescorer.lm_scores(nbests)
    table = []
    for w in weights:
        hyps = [
            nbest[pick(nbest, lp, w)][0] if nbest else ""
            for nbest, lp in zip(nbests, scores, strict=True)
        ]
        rates = error_rates(list(refs), hyps)
        table.append({"weight": float(w), "wer": rates["wer"], "cer": rates["cer"]})
    best = min(table, key=lambda r: (r["wer"], r["weight"]))
    return Tuning(best["weight"], best["wer"], table)
