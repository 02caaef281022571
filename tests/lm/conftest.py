"""A tiny text and a small LM trained on it, shared by the LM tests."""

import pytest

from asr.lm.model import LMConfig
from asr.lm.train import train_lm

# A tiny grammar: DET NOUN VERB on DET NOUN (11 words, 20 sentences).
NOUNS = ["cat", "dog", "mat", "log", "hat"]
PAIRS = [(a, b) for a in NOUNS for b in NOUNS if a != b]
TEXTS = [
    f"{('the', 'a')[i % 2]} {a} {('sat', 'ran', 'slept')[i % 3]} on "
    f"{('a', 'the')[i % 3 == 0]} {b}"
    for i, (a, b) in enumerate(PAIRS)
]
FAST = LMConfig(
    embedding_dim=16,
    units=32,
    dropout=0.0,
    epochs=6,
    batch_size=2,
    learning_rate=2e-2,
    unk_rate=0.0,
)


@pytest.fixture(scope="session")
def lm_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm")
    train_lm(TEXTS, out, FAST, val_texts=TEXTS[:4], verbose=0)
    return out
