"""Transcript normalisation, the vocabulary, encode/decode and CTC lengths."""

from __future__ import annotations

import numpy as np
import pytest

from asr.text import (
    BLANK,
    CHARS,
    VOCAB,
    ctc_min_frames,
    decode,
    encode,
    normalise,
    out_of_vocabulary,
    vocab_size,
    write_vocab,
)


def test_vocabulary_layout():
    assert vocab_size() == 29
    assert BLANK == 0
    assert VOCAB[0] == "<blank>"
    assert VOCAB[1] == " " and VOCAB[2] == "'"
    assert "".join(VOCAB[3:]) == "abcdefghijklmnopqrstuvwxyz"
    assert len(set(VOCAB)) == 29


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HELLO World", "hello world"),
        ("Hello, world! How are you?", "hello world how are you"),
        ("end.", "end"),
        ("semi;colon:dash-slash/under_score", "semi colon dash slash under score"),
        ("don\u2019t", "don't"),  # curly apostrophe
        ("\u2018tis", "tis"),  # leading curly quote goes
        ("it`s", "it's"),
        ("JAMES'S", "james's"),
        ("'quoted' words", "quoted words"),
        ('"Hi," she said', "hi she said"),
        ("\u201cHi\u201d", "hi"),  # curly double quotes
        ("rock 'n' roll", "rock n roll"),
        ("the boys' toys", "the boys toys"),
        ("''", ""),
        ("Café naïve résumé", "cafe naive resume"),
        ("Ångström Señor Zoë", "angstrom senor zoe"),
        ("\ufb01ne", "fine"),  # ligature
        ("Æsop Œuvre Ørsted straße Łódź Þór", "aesop oeuvre orsted strasse lodz thor"),
        ("room 101", "room one zero one"),
        ("I have 42 apples", "i have four two apples"),
        ("4x4", "four x four"),
        ("3.5", "three five"),
        ("0", "zero"),
        ("x\u00b2", "x two"),  # superscript two
        ("  lots\t of\n\n space  ", "lots of space"),
        ("", ""),
        ("!!!", ""),
        ("\u4f60\u597d world", "world"),  # letters outside a-z go
    ],
)
def test_normalise(raw, expected):
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["Hello, World!", "Ærø 7 don\u2019t", "'x' y's z'", "  \u00e9 \u00df  "],
)
def test_normalise_output_is_in_vocabulary_and_idempotent(raw):
    once = normalise(raw)
    assert out_of_vocabulary(once) == []
    assert normalise(once) == once
    assert "  " not in once and once == once.strip()


def test_encode_hand_worked():
    assert encode("ab c") == [3, 4, 1, 5]
    assert encode("it's") == [11, 22, 2, 21]
    assert encode("") == []


@pytest.mark.parametrize("text", ["hello world", "don't stop", "zzz", "a", "'"])
def test_encode_decode_round_trip(text):
    ids = encode(text)
    assert BLANK not in ids
    assert decode(ids) == text


def test_every_character_round_trips():
    assert decode(encode(CHARS)) == CHARS
    assert encode(CHARS) == list(range(1, 29))


def test_encode_out_of_vocabulary_names_the_characters():
    with pytest.raises(ValueError) as e:
        encode("Hi there!")
    message = str(e.value)
    assert "['!', 'H']" in message
    assert "normalise" in message
    assert out_of_vocabulary("Hi there!") == ["!", "H"]
    assert out_of_vocabulary("hi there") == []


def test_decode_skips_blanks_without_collapsing_repeats():
    assert decode([0, 3, 3, 0, 3, 4, 0]) == "aaab"
    assert decode([]) == ""
    assert decode([0, 0]) == ""


def test_decode_skips_minus_one_padding_and_takes_numpy():
    # keras.ops.ctc_decode pads with -1; -1 must not index VOCAB[-1] == "z".
    assert decode(np.array([3, 4, -1, -1], dtype=np.int64)) == "ab"


@pytest.mark.parametrize("bad", [29, 100, -2])
def test_decode_rejects_ids_outside_the_vocabulary(bad):
    with pytest.raises(ValueError, match=f"id {bad} is outside the vocabulary"):
        decode([3, bad])


@pytest.mark.parametrize(
    ("labels", "frames"),
    [
        ("aab", 4),  # a _ a b
        ("abc", 3),
        ("", 0),
        ("a", 1),
        ("aaa", 5),  # a _ a _ a
        ("abba", 5),  # a b _ b a
        ("hello", 6),  # h e l _ l o
    ],
)
def test_ctc_min_frames_hand_worked(labels, frames):
    assert ctc_min_frames(encode(labels)) == frames
    assert ctc_min_frames(labels) == frames  # any sequence


def test_ctc_min_frames_on_numpy_ids():
    assert ctc_min_frames(np.array([5, 5, 5, 6], dtype=np.int32)) == 6


def test_write_vocab_one_symbol_a_line_blank_first(tmp_path):
    path = tmp_path / "vocab.txt"
    write_vocab(path)
    lines = path.read_text().splitlines()
    assert len(lines) == 29
    assert lines[:4] == ["<blank>", "<space>", "'", "a"]
    assert lines[-1] == "z"
