"""Keyword classifiers (`model.head: classifier`): probabilities, rejection and scores.

A keyword model in the Speech Commands style has one class per keyword plus
`UNKNOWN` ("_unknown_": speech that is no keyword) and `SILENCE`
("_silence_": noise and silence). Its answer for a clip is a `Prediction`:
the classes' softmax probabilities, and the word, which is the most probable
class unless that is a keyword under the rejection `threshold`: then it is
`UNKNOWN` (a weak keyword is rejected, never accepted).

Scores (`classification_scores`, what `asr evaluate` adds for a classifier):
accuracy, per-class precision and recall, the confusion matrix (rows: the
reference, columns: the answer), the false-accept rate (of the rows labelled
`UNKNOWN` or `SILENCE`, the share answered with a keyword) and the
false-reject rate (of the keyword rows, the share answered `UNKNOWN` or
`SILENCE`). `write_confusion` writes the matrix as text and PNG.

numpy only (matplotlib imported inside `plot_confusion`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from asr.files import atomic_write_bytes, atomic_write_text

UNKNOWN = "_unknown_"
SILENCE = "_silence_"
NON_KEYWORDS = (UNKNOWN, SILENCE)
DEFAULT_THRESHOLD = 0.5  # a keyword less probable than this is rejected
CONFUSION_TEXT = "confusion.txt"
CONFUSION_PNG = "confusion.png"


def is_keyword(label: str) -> bool:
    """Whether `label` is a keyword (not `UNKNOWN` or `SILENCE`)."""
    return label not in NON_KEYWORDS


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis: (..., classes) -> (..., classes),
    float64, each row summing to 1."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Prediction:
    """A classifier's answer for one clip.

    Attributes:
        word: the answer: the best class, or `UNKNOWN` when the best class is
            a keyword less probable than the threshold.
        probability: the best class's probability (what the threshold saw).
        best: the best class (== `word` unless rejected).
        top: the 3 most probable (class, probability) pairs, best first.
    """

    word: str
    probability: float
    best: str
    top: tuple[tuple[str, float], ...]

    @property
    def rejected(self) -> bool:
        return self.word != self.best

    def to_json(self) -> dict:
        return {
            "word": self.word,
            "probability": round(self.probability, 4),
            "best": self.best,
            "top": [{"word": w, "probability": round(p, 4)} for w, p in self.top],
        }


def predict(
    probabilities: np.ndarray,
    classes: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    top_k: int = 3,
) -> Prediction:
    """The `Prediction` of one clip's (classes,) probabilities.

    Raises:
        ValueError: the probabilities and `classes` differ in length.
    """
    p = np.asarray(probabilities, np.float64)
    if p.shape != (len(classes),):
        raise ValueError(f"{p.shape} probabilities for {len(classes)} classes")
    order = np.argsort(-p, kind="stable")
    best = classes[int(order[0])]
    prob = float(p[order[0]])
    word = UNKNOWN if is_keyword(best) and prob < threshold else best
    top = tuple((classes[int(i)], float(p[i])) for i in order[:top_k])
    return Prediction(word, prob, best, top)


# -- scores ------------------------------------------------------------------------
def confusion_matrix(
    refs: Sequence[str], hyps: Sequence[str], classes: Sequence[str]
) -> np.ndarray:
    """(classes, classes) int counts: `m[i, j]` rows of reference `classes[i]`
    answered `classes[j]`.

    Raises:
        ValueError: lengths differ, or a label is not one of `classes`.
    """
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} answers")
    index = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), np.int64)
    for r, h in zip(refs, hyps):
        for label in (r, h):
            if label not in index:
                raise ValueError(f"label {label!r} is not a class ({list(classes)})")
        m[index[r], index[h]] += 1
    return m


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def classification_scores(
    refs: Sequence[str], hyps: Sequence[str], classes: Sequence[str]
) -> dict:
    """Accuracy, per-class precision/recall, false-accept and false-reject
    rates, and the confusion matrix, as JSON-ready values.

    `classes` is extended by any label of `refs` or `hyps` it lacks (a manifest
    label the model does not know counts as an error, not a crash). A rate
    with nothing to count is None.

    Returns:
        `{"accuracy", "per_class": {label: {"precision", "recall",
        "support"}}, "false_accept_rate", "false_accepts",
        "non_keyword_rows", "false_reject_rate", "false_rejects",
        "keyword_rows", "confusion": {"classes", "matrix"}}`.
    """
    classes = list(classes)
    classes += sorted({*refs, *hyps} - set(classes))
    m = confusion_matrix(refs, hyps, classes)
    per_class = {}
    for i, c in enumerate(classes):
        per_class[c] = {
            "precision": _rate(int(m[i, i]), int(m[:, i].sum())),
            "recall": _rate(int(m[i, i]), int(m[i].sum())),
            "support": int(m[i].sum()),
        }
    non_kw = [r for r in refs if not is_keyword(r)]
    accepts = sum(1 for r, h in zip(refs, hyps) if not is_keyword(r) and is_keyword(h))
    kw = [r for r in refs if is_keyword(r)]
    rejects = sum(1 for r, h in zip(refs, hyps) if is_keyword(r) and not is_keyword(h))
    return {
        "accuracy": _rate(int(np.trace(m)), len(refs)),
        "per_class": per_class,
        "false_accept_rate": _rate(accepts, len(non_kw)),
        "false_accepts": accepts,
        "non_keyword_rows": len(non_kw),
        "false_reject_rate": _rate(rejects, len(kw)),
        "false_rejects": rejects,
        "keyword_rows": len(kw),
        "confusion": {"classes": classes, "matrix": m.tolist()},
    }


def format_confusion(scores: dict) -> str:
    """The confusion matrix and per-class precision/recall of
    `classification_scores` as an aligned text table."""
    classes = scores["confusion"]["classes"]
    m = np.asarray(scores["confusion"]["matrix"])
    width = max(6, *(len(c) for c in classes))
    cell = max(5, len(str(int(m.max()))) + 1 if m.size else 5)
    lines = ["confusion matrix (rows: reference, columns: answer)"]
    lines.append(" " * width + "".join(f"{i:>{cell}d}" for i in range(len(classes))))
    for i, c in enumerate(classes):
        lines.append(f"{c:<{width}}" + "".join(f"{v:>{cell}d}" for v in m[i]))
    lines += ["", f"{'class':<{width}}  precision  recall  support"]
    for c in classes:
        s = scores["per_class"][c]
        lines.append(
            f"{c:<{width}}  {_pct(s['precision']):>9}  {_pct(s['recall']):>6}  "
            f"{s['support']:>7d}"
        )
    lines += [
        "",
        "columns: " + ", ".join(f"{i} {c}" for i, c in enumerate(classes)),
        f"accuracy {_pct(scores['accuracy'])}; false accepts "
        f"{scores['false_accepts']}/{scores['non_keyword_rows']} non-keyword rows "
        f"({_pct(scores['false_accept_rate'])}); false rejects "
        f"{scores['false_rejects']}/{scores['keyword_rows']} keyword rows "
        f"({_pct(scores['false_reject_rate'])})",
    ]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def plot_confusion(scores: dict, png: str | os.PathLike) -> None:
    """The confusion matrix as a PNG heat map (row-normalised colours, counts
    written in the cells), written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = scores["confusion"]["classes"]
    m = np.asarray(scores["confusion"]["matrix"], np.float64)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 1.5 + 0.5 * len(classes))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if m[i, j]:
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, int(m[i, j]), ha="center", va="center", color=colour)
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="answer", ylabel="reference")
    ax.set_title(
        f"accuracy {_pct(scores['accuracy'])}, "
        f"false accepts {_pct(scores['false_accept_rate'])}"
    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the row")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(png, buf.getvalue())


def write_confusion(scores: dict, out_dir: str | os.PathLike) -> str:
    """Writes `OUT/confusion.txt` and `OUT/confusion.png`; returns the text."""
    text = format_confusion(scores)
    atomic_write_text(os.path.join(out_dir, CONFUSION_TEXT), text)
    plot_confusion(scores, os.path.join(out_dir, CONFUSION_PNG))
    return text
