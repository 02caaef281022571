"""Transcript normalisation and the character vocabulary.

Vocabulary: id 0 is the CTC blank, then space, apostrophe and a-z (29 ids).

Normalisation (used for training targets and for scoring alike):
lowercase; accents stripped (café -> cafe); digits spelled out digit by digit
("42" -> "four two": LibriSpeech-style text has none, and a spelled-out digit is
what a listener hears far more often than a year or an amount); hyphens,
slashes and other punctuation become word breaks; curly apostrophes become "'";
apostrophes only survive inside words; whitespace collapses to single spaces.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

BLANK = 0
CHARS = " '" + "abcdefghijklmnopqrstuvwxyz"
VOCAB: tuple[str, ...] = ("<blank>", *CHARS)  # id -> symbol
_CHAR_TO_ID = {c: i + 1 for i, c in enumerate(CHARS)}

_DIGITS = "zero one two three four five six seven eight nine".split()
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u02bc": "'"})


def vocab_size() -> int:
    """Number of output classes, blank included."""
    return len(VOCAB)


def normalise(text: str) -> str:
    """Returns `text` as lowercase a-z, apostrophes and single spaces."""
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"\d", lambda m: f" {_DIGITS[int(m.group())]} ", text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    # Apostrophes only inside words ("don't", "james's"); quotes go.
    text = re.sub(r"(?<![a-z])'+|'+(?![a-z])", " ", text)
    return " ".join(text.split())


def encode(text: str) -> list[int]:
    """Ids of an already normalised transcript.

    Raises:
        ValueError: naming the characters outside the vocabulary.
    """
    try:
        return [_CHAR_TO_ID[c] for c in text]
    except KeyError:
        bad = sorted({c for c in text if c not in _CHAR_TO_ID})
        raise ValueError(
            f"characters outside the vocabulary: {bad!r} in {text!r} "
            "(run text.normalise first)"
        ) from None


def decode(ids: Iterable[int]) -> str:
    """Text of a sequence of ids; blanks are skipped (no repeat collapsing)."""
    return "".join(VOCAB[i] for i in ids if i != BLANK)


def out_of_vocabulary(text: str) -> list[str]:
    """Characters of `text` that `encode` would reject."""
    return sorted({c for c in text if c not in _CHAR_TO_ID})


def ctc_min_frames(ids: Sequence[int]) -> int:
    """Fewest output frames CTC needs for `ids`: one per label plus a blank
    between each pair of equal neighbours."""
    repeats = sum(1 for a, b in zip(ids, ids[1:]) if a == b)
    return len(ids) + repeats


def write_vocab(path) -> None:
    """One symbol a line, line number = id (blank first)."""
    from pathlib import Path

    Path(path).write_text("\n".join(s if s != " " else "<space>" for s in VOCAB) + "\n")
