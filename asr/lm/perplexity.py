"""Per-word perplexity of the LSTM LM and of an ARPA n-gram, by one convention.

Texts are normalised (`asr.text.normalise`); each sentence is scored word by
word after `<s>`, and its `</s>` too; a word outside the model's vocabulary is
scored as `<unk>` (an OOV). Two figures, as KenLM and SRILM give them:

- `perplexity`: exp(-sum of log p / (words + sentences)), OOVs included;
- `perplexity_no_oov`: the OOVs' own probabilities and counts left out (their
  `<unk>` still serves as context).

`ArpaModel` reads an ARPA file and scores with its back-off weights (pure
Python, exact: KenLM's `full_scores` on the same file agrees to rounding).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from asr.lm.vocabulary import BOS, EOS, UNK, words_of

_LN10 = math.log(10.0)


class ArpaError(ValueError):
    """An ARPA file that cannot be read (names the file and line)."""


@dataclass(frozen=True)
class Perplexity:
    """Scores of a text (see the module docstring)."""

    sentences: int
    words: int
    oov: int
    log_prob: float  # natural log, every token
    perplexity: float
    perplexity_no_oov: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def perplexity(token_log_probs: Sequence[np.ndarray], oov: Sequence[np.ndarray]):
    """`Perplexity` from per-sentence natural-log token probabilities.

    Args:
        token_log_probs: per sentence, (words + 1,) log-probabilities (`</s>`
            last).
        oov: per sentence, (words + 1,) bool: the token was an OOV.
    """
    lp = np.concatenate(token_log_probs) if token_log_probs else np.zeros(0)
    is_oov = np.concatenate(oov) if oov else np.zeros(0, bool)
    n = lp.size
    kept = lp[~is_oov]
    return Perplexity(
        sentences=len(token_log_probs),
        words=n - len(token_log_probs),
        oov=int(is_oov.sum()),
        log_prob=float(lp.sum()),
        perplexity=float(np.exp(-lp.sum() / n)) if n else float("nan"),
        perplexity_no_oov=(
            float(np.exp(-kept.sum() / kept.size)) if kept.size else float("nan")
        ),
    )


def lstm_perplexity(lm, texts: Sequence[str]) -> Perplexity:
    """`Perplexity` of `texts` under `lm` (an `asr.lm.model.LanguageModel`)."""
    texts = list(texts)
    oov = [np.array([w not in lm.vocab for w in words_of(t)] + [False]) for t in texts]
    return perplexity(lm.token_log_probs(texts), oov)


class ArpaModel:
    """A back-off n-gram read from an ARPA file (log10 probabilities).

    Args:
        path: the `.arpa` file (as `scripts/make_lm.py` or KenLM's `lmplz`
            write it).

    Raises:
        FileNotFoundError: no such file.
        ArpaError: a malformed line, or no unigrams.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self.grams: dict[tuple[str, ...], tuple[float, float]] = {}
        self.order = 0
        section = 0
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                if line.startswith("\\"):
                    section = int(line[1]) if line[1:2].isdigit() else 0
                    self.order = max(self.order, section)
                    continue
                if not section:
                    continue
                parts = line.split("\t") if "\t" in line else line.split()
                try:
                    prob = float(parts[0])
                    words = (
                        tuple(parts[1].split())
                        if "\t" in line
                        else tuple(parts[1 : 1 + section])
                    )
                    rest = parts[2:] if "\t" in line else parts[1 + section :]
                    backoff = float(rest[0]) if rest else 0.0
                except (IndexError, ValueError):
                    raise ArpaError(f"{path}:{number}: bad n-gram line") from None
                if len(words) != section:
                    raise ArpaError(
                        f"{path}:{number}: expected {section} words, got {len(words)}"
                    )
                self.grams[words] = (prob, backoff)
        if not self.order:
            raise ArpaError(f"{path}: no n-gram sections")
        self.words = {g[0] for g in self.grams if len(g) == 1} - {BOS, EOS, UNK}

    def _log10(self, context: tuple[str, ...], word: str) -> float:
        """log10 p(word | context) with back-off."""
        backoff = 0.0
        for start in range(len(context) + 1):
            gram = (*context[start:], word)
            if gram in self.grams:
                return backoff + self.grams[gram][0]
            if start < len(context):
                backoff += self.grams.get(context[start:], (0.0, 0.0))[1]
        raise ArpaError(f"{self.path}: no unigram for {word!r}")  # not even <unk>

    def token_log_probs(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Natural-log probabilities of the words and `</s>` of `text`, and
        which tokens were OOVs."""
        tokens = [w if w in self.words else UNK for w in words_of(text)] + [EOS]
        history = [BOS]
        out = np.empty(len(tokens))
        for i, token in enumerate(tokens):
            context = tuple(history[-(self.order - 1) :]) if self.order > 1 else ()
            out[i] = self._log10(context, token) * _LN10
            history.append(token)
        oov = np.array([t == UNK for t in tokens[:-1]] + [False])
        return out, oov


def arpa_perplexity(model: ArpaModel, texts: Iterable[str]) -> Perplexity:
    """`Perplexity` of `texts` under an `ArpaModel`."""
    scored = [model.token_log_probs(t) for t in texts]
    return perplexity([s[0] for s in scored], [s[1] for s in scored])
