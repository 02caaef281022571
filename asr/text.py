"""Transcript normalisation and the character vocabulary.

Vocabulary: id 0 is the CTC blank, then space, apostrophe and a-z (29 ids).

Normalisation (used for training targets and for scoring alike):
lowercase; accents stripped (café -> cafe) and letters without a decomposition
transliterated (æ -> ae, ø -> o, ß -> ss, ł -> l); digits spelled out digit by digit
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
# Latin letters that NFKD does not split into a base letter plus accents.
_LETTERS = str.maketrans(
    {
        "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o",
        "ß": "ss", "ẞ": "ss", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d",
        "ð": "d", "Ð": "d", "þ": "th", "Þ": "th", "ı": "i", "ħ": "h", "Ħ": "h",
    }
)  # fmt: skip


def vocab_size() -> int:
    """Number of output classes, blank included."""
    return len(VOCAB)


def normalise(text: str) -> str:
    """Returns `text` as lowercase a-z, apostrophes and single spaces."""
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    text = text.translate(_LETTERS)
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
    """Text of a sequence of ids; blanks and -1 padding (as `keras.ops.ctc_decode`
    pads) are skipped, with no repeat collapsing.

    Raises:
        ValueError: for an id outside [-1, vocab_size()).
    """
    chars = []
    for i in ids:
        i = int(i)
        if i == BLANK or i == -1:
            continue
        if not 0 < i < len(VOCAB):
            raise ValueError(f"id {i} is outside the vocabulary (0..{len(VOCAB) - 1})")
        chars.append(VOCAB[i])
    return "".join(chars)


def tidy(text: str) -> str:
    """A decoded transcript as it is shown and scored: no space at either end
    and one between words. A CTC model may emit a space first, last or twice in
    a row; every decoder (greedy, beam, LM, streaming partials and finals)
    returns its text through here."""
    return " ".join(text.split())


def out_of_vocabulary(text: str) -> list[str]:
    """Characters of `text` that `encode` would reject."""
    return sorted({c for c in text if c not in _CHAR_TO_ID})


def ctc_min_frames(ids: Sequence[int]) -> int:
    """Fewest output frames CTC needs for `ids`: one per label plus a blank
    between each pair of equal neighbours."""
    repeats = sum(1 for a, b in zip(ids, ids[1:], strict=False) if a == b)
    return len(ids) + repeats


def write_vocab(path) -> None:
    """One symbol a line, line number = id (blank first)."""
    from pathlib import Path

    Path(path).write_text("\n".join(s if s != " " else "<space>" for s in VOCAB) + "\n")
