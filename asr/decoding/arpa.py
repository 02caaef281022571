"""ARPA word n-gram files: a small pure-Python builder, and reading the words.

`build_arpa` writes an interpolated modified Kneser-Ney model in ARPA format
(as KenLM's `lmplz`), so users without `lmplz` can make an LM from their
training transcripts (fine for a few million words; use `lmplz` for more).
`asr.decoding.ngram.LMDecoder` decodes with it.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from asr import text as text_lib
from asr.files import atomic_write_text

logger = logging.getLogger(__name__)

_SPECIAL = ("<s>", "</s>", "<unk>")
VOCABULARY_WEIGHT = 0.1  # share of a general word list in the unigrams


def read_arpa_unigrams(path: str | os.PathLike) -> list[str]:
    """Words of an ARPA file's 1-gram section, without <s>, </s>, <unk>."""
    words = []
    in_unigrams = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line == "\\1-grams:":
                in_unigrams = True
            elif line.startswith("\\"):
                if in_unigrams:
                    break
            elif in_unigrams and line:
                parts = line.split("\t")
                if len(parts) >= 2 and parts[1] not in _SPECIAL:
                    words.append(parts[1])
    return words


def build_arpa(
    texts: Iterable[str],
    path: str | os.PathLike,
    order: int = 3,
    normalise: bool = True,
    vocabulary: Mapping[str, float] | None = None,
    vocabulary_weight: float = VOCABULARY_WEIGHT,
) -> dict[int, int]:
    """Writes a word n-gram LM in ARPA format, built from `texts`.

    Interpolated modified Kneser-Ney (as KenLM's `lmplz`): lower orders use
    continuation counts, three discounts per order from count-of-counts (with
    lmplz's fallback 0.5, 1.0, 1.5 where the corpus is too small for them), and
    the unigrams interpolate with a uniform distribution that gives `<unk>` its
    mass. Written atomically.

    Args:
        texts: one sentence per item.
        path: the .arpa file to write.
        order: n-gram order, >= 2.
        normalise: pass each text through `asr.text.normalise` first.
        vocabulary: word -> frequency (any scale) of a general word list,
            e.g. `asr.datasets.wordlist.frequent_words()`: its words join the
            unigrams, which become `(1 - vocabulary_weight) * P_corpus +
            vocabulary_weight * P_list` (higher orders back off to that
            mixture), so a decoder can write words the transcripts never had.
        vocabulary_weight: the list's share of the unigram probability, in [0, 1).

    Returns:
        Number of n-grams written per order.

    Raises:
        ValueError: `order` < 2, no words in `texts`, or `vocabulary_weight`
            outside [0, 1).
    """
    if not 0 <= vocabulary_weight < 1:
        raise ValueError(
            f"vocabulary_weight must be in [0, 1), got {vocabulary_weight}"
        )
    if order < 2:
        raise ValueError(f"order must be >= 2 (KenLM loads no unigram LM), got {order}")
    counts: list[Counter] = [Counter() for _ in range(order + 1)]  # [n][ngram]
    sentences = 0
    for line in texts:
        words = (text_lib.normalise(line) if normalise else line).split()
        if not words:
            continue
        sentences += 1
        tokens = ("<s>", *words, "</s>")
        for n in range(1, order + 1):
            c = counts[n]
            for i in range(len(tokens) - n + 1):
                c[tokens[i : i + n]] += 1
    if sentences == 0:
        raise ValueError("no words to build a language model from")
    top = max(n for n in range(1, order + 1) if counts[n])  # >= 2: "<s> w"
    if top < order:
        logger.warning("sentences too short for order %d; writing order %d", order, top)
        order = top

    adjusted = _adjusted_counts(counts, order)
    prior = _normalised(vocabulary, normalise) if vocabulary else {}
    probs, backoffs = _interpolate(adjusted, order, prior, vocabulary_weight)
    lines = ["", "\\data\\"]
    lines += [f"ngram {n}={len(probs[n])}" for n in range(1, order + 1)]
    for n in range(1, order + 1):
        lines += ["", f"\\{n}-grams:"]
        for gram in sorted(probs[n]):
            entry = f"{probs[n][gram]:.7g}\t{' '.join(gram)}"
            if n < order:
                entry += f"\t{backoffs.get(gram, 0.0):.7g}"
            lines.append(entry)
    lines += ["", "\\end\\", ""]
    atomic_write_text(path, "\n".join(lines))
    sizes = {n: len(probs[n]) for n in range(1, order + 1)}
    logger.info("%s: %d sentences, n-grams %s", path, sentences, sizes)
    return sizes


def _adjusted_counts(counts: list[Counter], order: int) -> list[dict]:
    """Kneser-Ney counts: raw for the top order and for n-grams starting with
    <s> (but <s> alone, never predicted, gets 0); otherwise the number of
    distinct words seen before the n-gram."""
    adjusted: list[dict] = [{} for _ in range(order + 1)]
    adjusted[order] = dict(counts[order])
    for n in range(order - 1, 0, -1):
        left = Counter(gram[1:] for gram in counts[n + 1])
        a = adjusted[n]
        for gram, raw in counts[n].items():
            a[gram] = raw if gram[0] == "<s>" and n > 1 else left[gram]
    return adjusted


def _discounts(adjusted: dict) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts D1, D2, D3+ from count-of-counts."""
    t = Counter(min(c, 4) for c in adjusted.values())
    try:
        y = t[1] / (t[1] + 2 * t[2])
        d = (1 - 2 * y * t[2] / t[1], 2 - 3 * y * t[3] / t[2], 3 - 4 * y * t[4] / t[3])
    except ZeroDivisionError:
        d = None
    if d is None or not all(0 < x < k for k, x in enumerate(d, 1)):
        logger.debug("discounts %s out of range; using 0.5, 1.0, 1.5", d)
        d = (0.5, 1.0, 1.5)
    return d


def _normalised(vocabulary: Mapping[str, float], normalise: bool) -> dict[str, float]:
    """`vocabulary` as probabilities over its (normalised) words."""
    weights: dict[str, float] = defaultdict(float)
    for word, weight in vocabulary.items():
        word = text_lib.normalise(word) if normalise else word
        if word and " " not in word and word not in _SPECIAL and weight > 0:
            weights[word] += weight
    total = sum(weights.values())
    if not total:
        raise ValueError("vocabulary: no usable word with a positive frequency")
    return {w: v / total for w, v in weights.items()}


def _interpolate(
    adjusted: list[dict],
    order: int,
    prior: dict[str, float] | None = None,
    prior_weight: float = 0.0,
) -> tuple[list[dict], dict[tuple[str, ...], float]]:
    """log10 interpolated probabilities per order, and log10 backoff weights;
    the unigrams mixed with `prior` (word -> probability) at `prior_weight`."""
    vocab = {g[0] for g in adjusted[1]} - {"<s>"}
    vocab.add("<unk>")
    probs: list[dict] = [{} for _ in range(order + 1)]
    gammas: dict[tuple[str, ...], float] = {}
    lower: dict[tuple[str, ...], float] = {}  # natural probabilities, order n-1
    for n in range(1, order + 1):
        d = _discounts({g: c for g, c in adjusted[n].items() if c > 0})
        totals: dict[tuple[str, ...], float] = defaultdict(float)
        mass: dict[tuple[str, ...], float] = defaultdict(float)
        for gram, c in adjusted[n].items():
            if c > 0:
                totals[gram[:-1]] += c
                mass[gram[:-1]] += d[min(c, 3) - 1]
        current: dict[tuple[str, ...], float] = {}
        for gram, c in adjusted[n].items():
            context = gram[:-1]
            if c <= 0:  # <s> as a unigram: never predicted
                continue
            p = (c - d[min(c, 3) - 1]) / totals[context]
            gamma = mass[context] / totals[context]
            p += gamma * (1 / len(vocab) if n == 1 else lower[gram[1:]])
            current[gram] = p
        if n == 1:
            gamma = mass[()] / totals[()]
            current[("<unk>",)] = gamma / len(vocab)
            if prior:
                current = {g: (1 - prior_weight) * p for g, p in current.items()}
                for word, p in prior.items():
                    gram = (word,)
                    current[gram] = current.get(gram, 0.0) + prior_weight * p
        else:
            for context in totals:
                gammas[context] = mass[context] / totals[context]
        probs[n] = {g: math.log10(p) for g, p in current.items()}
        if n == 1:
            probs[1][("<s>",)] = -99.0
        lower = current
    backoffs = {g: math.log10(v) for g, v in gammas.items()}
    return probs, backoffs
