import pytest

from asr.decoding.arpa import build_arpa

CORPUS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat and a dog",
    "the cat ate",
    "hello world",
]


@pytest.fixture
def arpa(tmp_path):
    """A trigram ARPA LM of `CORPUS`."""
    path = tmp_path / "lm.arpa"
    build_arpa(CORPUS, path, order=3)
    return path
