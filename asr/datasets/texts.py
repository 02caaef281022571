"""What the synthetic corpus's clips say: one endless text stream per split.

Each stream yields `(text, kind)` pairs, deterministic given the seed:
digits ("zero" .. "nine", kind ""), template sentences of the closed
vocabulary (`asr.datasets.sentences`, kind ""), or an open corpus's sentences
(`open_streams`): train mixes template sentences (kind "template", a fraction
`old_fraction`) with open word-list sentences, never one holding a dev or test
held-out word; dev and test sentences each hold one of their split's held-out
words (`asr.datasets.wordlist`, kinds "words" or "frames").
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from asr.datasets.sentences import _sentence_stream
from asr.datasets.wordlist import WordList, open_sentence_stream

DIGITS = tuple("zero one two three four five six seven eight nine".split())


def digit_stream(seed: str) -> Iterator[str]:
    """Digit words drawn at random (with repeats)."""
    rng = random.Random(f"asr-synthetic-digits:{seed}")
    while True:
        yield rng.choice(DIGITS)


def open_streams(
    seed: int, old_fraction: float, words: dict[str, WordList]
) -> dict[str, Iterator[tuple[str, str]]]:
    """(sentence, kind) streams of an open corpus, per split."""
    held = set(words["dev"].words) | set(words["test"].words)

    def train() -> Iterator[tuple[str, str]]:
        mix = random.Random(f"asr-synthetic:{seed}:train:mix")
        old = _sentence_stream(f"{seed}:train")
        new = open_sentence_stream(f"{seed}:train", words["train"])
        while True:
            if mix.random() < old_fraction:
                text = next(old)
                if not held.intersection(text.split()):  # by construction
                    yield text, "template"
            else:
                yield next(new)

    streams = {"train": train()}
    for split in ("dev", "test"):
        streams[split] = open_sentence_stream(
            f"{seed}:{split}", words["train"], words[split]
        )
    return streams


def tagged(stream: Iterator[str]) -> Iterator[tuple[str, str]]:
    """`(text, "")` for each text of `stream`: a stream without kinds."""
    for text in stream:
        yield text, ""
