"""The word vocabulary of the LSTM language model, and its texts.

The convention is the n-gram's (`asr.decoding.arpa.build_arpa`, which
`scripts/make_lm.py` runs), so perplexities compare: texts pass through
`asr.text.normalise`; the vocabulary is every word of the training text plus
`<unk>`; a sentence is scored word by word after `<s>`, ending with `</s>`,
and a word outside the vocabulary is scored as `<unk>`.

Ids: 0 is padding (never predicted), 1 `<unk>`, 2 `<s>`, 3 `</s>`, then the
words, most frequent first (ties alphabetical). `vocab.txt` holds one token a
line, line i being id i (line 0 is the padding's `<pad>`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from asr import text as text_lib
from asr.files import atomic_write_text

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIAL = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)


class VocabularyError(ValueError):
    """A vocabulary file that cannot be read (names the file and line)."""


class Vocabulary:
    """Word <-> id mapping with the special tokens first (see the module
    docstring).

    Args:
        words: the words, in id order from 4 on (no special tokens, no repeats).
        counts: each word's training count (for the `<unk>` replacement of
            rare words in training); None: unknown.
    """

    def __init__(self, words: Sequence[str], counts: Sequence[int] | None = None):
        tokens = [*SPECIAL, *words]
        self.tokens: tuple[str, ...] = tuple(tokens)
        self.ids = {w: i for i, w in enumerate(tokens)}
        if len(self.ids) != len(tokens):
            raise ValueError("repeated word, or a special token among the words")
        self.counts = None if counts is None else np.asarray(counts, np.int64)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, word: str) -> bool:
        return word in self.ids and self.ids[word] > EOS_ID

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocabulary:
        """Every word of `texts` (normalised), most frequent first.

        Raises:
            ValueError: no words in `texts`.
        """
        counts = Counter(w for t in texts for w in words_of(t))
        if not counts:
            raise ValueError("no words to build a vocabulary from")
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls([w for w, _ in ranked], [c for _, c in ranked])

    def save(self, path: str | os.PathLike) -> None:
        """Writes `vocab.txt`: one token a line, optionally TAB and its count."""
        counts = self.counts
        lines = [
            tok if counts is None or i <= EOS_ID else f"{tok}\t{counts[i - 4]}"
            for i, tok in enumerate(self.tokens)
        ]
        atomic_write_text(path, "\n".join(lines) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Reads a file written by `save`.

        Raises:
            FileNotFoundError: no such file.
            VocabularyError: the special tokens are not first, or a bad line.
        """
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        if tuple(lines[:4]) != SPECIAL:
            raise VocabularyError(f"{path}: must start with the lines {SPECIAL}")
        words, counts = [], []
        for number, line in enumerate(lines[4:], 5):
            word, _, count = line.partition("\t")
            if not word or " " in word:
                raise VocabularyError(f"{path}:{number}: bad word {line!r}")
            words.append(word)
            if count:
                try:
                    counts.append(int(count))
                except ValueError:
                    raise VocabularyError(
                        f"{path}:{number}: bad count {count!r}"
                    ) from None
        try:
            return cls(words, counts if len(counts) == len(words) else None)
        except ValueError as e:
            raise VocabularyError(f"{path}: {e}") from None

    def encode(self, words: Sequence[str]) -> list[int]:
        """Ids of `words`; those outside the vocabulary become `<unk>`."""
        ids = self.ids
        return [i if (i := ids.get(w, UNK_ID)) > EOS_ID else UNK_ID for w in words]

    def sentences(self, texts: Iterable[str]) -> Iterator[list[int]]:
        """Each text as `[<s>, w1, ..., wn, </s>]` ids (normalised first; empty
        texts give `[<s>, </s>]`)."""
        for t in texts:
            yield [BOS_ID, *self.encode(words_of(t)), EOS_ID]


def words_of(text: str) -> list[str]:
    """The words of `text` after `asr.text.normalise`."""
    return text_lib.normalise(text).split()


def pad_batch(
    sentences: Sequence[Sequence[int]], width: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets of a batch of `[<s>, ..., </s>]` id lists.

    Args:
        width: the padded length; default: the longest sentence's, less one.

    Returns:
        `(inputs, targets)`, both (batch, width) int32: the sentence without
        its last token, and without its first; padded with 0.
    """
    if width is None:
        width = max(len(s) for s in sentences) - 1
    inputs = np.zeros((len(sentences), width), np.int32)
    targets = np.zeros((len(sentences), width), np.int32)
    for i, s in enumerate(sentences):
        inputs[i, : len(s) - 1] = s[:-1]
        targets[i, : len(s) - 1] = s[1:]
    return inputs, targets
