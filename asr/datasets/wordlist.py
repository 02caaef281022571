"""An open English vocabulary for the synthetic corpus, and sentences drawn from it.

`word_list()` takes the most frequent English words of `wordfreq` (web, books,
subtitles) and keeps those the toolkit can spell and espeak-ng says as a word:

- spellable: lowercase a-z with at most one inner apostrophe (`asr.text` has
  no other characters), no letter three times in a row ("ahhh"), a vowel
  letter (a e i o u y), and no single letters but "a" and "i";
- spoken as a word (`asr.datasets.espeak.phonemize` with `en-us`): not read as
  letters ("bbc", "uk": a stress mark on more than half the letters), not
  expanded ("dr" -> doctor, "xvi" -> roman sixteen: a space in the phonemes or
  two phoneme symbols a letter or more), and not on a short list of slurs and
  obscenities.

Of 50,000 words about 47,700 pass (wordfreq 3.1). `held_out_words()` splits them with a
salted hash: about `HELD_OUT_FRACTION` each to dev and to test, taken only from
words outside the `TOP_KEPT` most frequent and outside the old template
generator's vocabulary (`sentences.closed_vocabulary()`), so train text still
has every function word. The rest is the train vocabulary.

`open_sentence_stream()` draws sentences of `LENGTHS` words, each word with
probability proportional to `frequency ** ZIPF_EXPONENT` (a flattened Zipf law,
so rare words come up often enough to be learnt). Half are plain word
sequences; half string short frames of function words with slots ("in the _",
"_ and _", "i _ the _"), so that sentences have some English rhythm. A dev or
test sentence has 1-3 of its slots filled with that split's held-out words;
every other word comes from the train vocabulary. Everything follows from the
seeds; the word list also from the installed `wordfreq` and espeak-ng.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

N_WORDS = 50_000  # taken from wordfreq before filtering
ZIPF_EXPONENT = 0.5  # sampling weight = frequency ** ZIPF_EXPONENT
LENGTHS = (3, 15)  # words per sentence, inclusive
TOP_KEPT = 3_000  # the most frequent words are never held out
HELD_OUT_FRACTION = 0.025  # of the other words, to dev and to test each
HELD_OUT_SPLITS = ("dev", "test")

_SPELLABLE = re.compile(r"[a-z]+(?:'[a-z]+)?")
# Slurs and obscenities: a generated corpus should not say them. Whole words
# only ("scunthorpe" stays); stems in `_BLOCKED_STEMS` match anywhere.
_BLOCKED = frozenset(
    """
    cunt cunts twat twats wank wanker wankers cock cocks dick dicks pussy pussies
    tits titties boob boobs cum cumming jizz dildo dildos slut sluts whore whores
    bitch bitches bitchy rape raped rapes raping rapist rapists fag fags dyke
    dykes tranny trannies spic spics chink chinks kike kikes gook gooks wetback
    retard retards retarded coon coons darkie paki pakis towelhead beaner
    beaners porn porno porns anal anus orgasm orgasms horny blowjob blowjobs
    handjob hooker hookers
    """.split()
)
_BLOCKED_STEMS = ("fuck", "shit", "nigg", "faggot", "asshole", "bullshit", "motherf")
# Sentence frames: function words and `_` slots, each slot one sampled word.
_FRAMES = tuple(
    tuple(frame.split())
    for frame in """
    the _|a _|the _ _|a _ _|_ and _|_ of _|of the _|in the _|on the _|to the _|
    for the _|with a _|from the _|at the _|by the _|i _|we _|you _|they _|he _|
    she _|it was _|it is _|this is _|that _|is _|was _|to _|not _|very _|my _|
    your _|his _|her _|our _|their _|i _ the _|we _ a _|they _ the _|and _|
    but _|or _|when _|if _|so _|as _|all _|some _|no _|there are _|there was _|
    _ is _|_ was _|_|_|_|_|_|_
    """.split("|")
)


@dataclass(frozen=True)
class WordList:
    """Words in wordfreq order (most frequent first) with their frequencies."""

    words: tuple[str, ...]
    frequencies: tuple[float, ...]  # per word of running English text


def spellable(word: str) -> bool:
    """Whether `word` is a plain lowercase English word the vocabulary spells.

    True for "cat", "don't", "a", "i"; False for "b", "c3po", "café", "ahhh",
    "hmm", "'tis", "rock'n'roll".
    """
    if not _SPELLABLE.fullmatch(word):
        return False
    if len(word) == 1:
        return word in ("a", "i")
    if re.search(r"(.)\1\1", word) or not re.search(r"[aeiouy]", word):
        return False
    return word not in _BLOCKED and not any(s in word for s in _BLOCKED_STEMS)


def spoken_as_word(word: str, phonemes: str) -> bool:
    """Whether espeak-ng's `phonemes` for `word` say it as one word.

    False when espeak spells it ("bbc" -> "bˌiːbˌiːsˈiː", a stress on more than
    half the letters) or expands it ("dr" -> "dˈɑːktɚ", "xvi" -> "ɹˌoʊmən
    sˈɪkstiːn": several words, or two phoneme symbols a letter or more).
    """
    letters = len(word.replace("'", ""))
    if not phonemes or " " in phonemes.strip():
        return False
    if letters == 1:
        return True
    stresses = phonemes.count("ˈ") + phonemes.count("ˌ")
    symbols = len(re.sub(r"[ˈˌːˑ\s]", "", phonemes))
    return 2 * stresses <= letters and symbols < 2 * letters


@functools.lru_cache(maxsize=4)
def word_list(n: int = N_WORDS) -> WordList:
    """The open vocabulary: of wordfreq's `n` most frequent English words, those
    that pass `spellable` and `spoken_as_word` (a few seconds; cached).

    Raises:
        ImportError: wordfreq is not installed (pip install wordfreq).
        SynthesisError: espeak-ng is missing.
    """
    from asr.datasets.espeak import phonemize

    candidates = frequent_words(n)
    phonemes = phonemize(list(candidates), "en-us")
    words = [w for w, p in zip(candidates, phonemes) if spoken_as_word(w, p)]
    freqs = [candidates[w] for w in words]
    return WordList(words=tuple(words), frequencies=tuple(freqs))


def frequent_words(n: int = N_WORDS) -> dict[str, float]:
    """Of wordfreq's `n` most frequent English words, those that pass
    `spellable`, with their frequencies (most frequent first; no espeak-ng
    needed): a general vocabulary, e.g. for `scripts/make_lm.py --vocabulary`.

    Raises:
        ImportError: wordfreq is not installed (pip install wordfreq).
    """
    try:
        import wordfreq
    except ImportError:
        raise ImportError(
            "the open English vocabulary needs wordfreq (pip install wordfreq)"
        ) from None
    table = wordfreq.get_frequency_dict("en")  # unrounded, unlike word_frequency
    return {
        w: table.get(w) or wordfreq.word_frequency(w, "en")
        for w in wordfreq.top_n_list("en", n)
        if spellable(w)
    }


def wordfreq_version() -> str:
    """The installed wordfreq's version (its data fixes the word list)."""
    from importlib.metadata import version

    return version("wordfreq")


def _bucket(word: str, seed: int) -> float:
    """A number in [0, 1) fixed by (word, seed)."""
    digest = hashlib.sha1(f"asr-synthetic-words:{seed}:{word}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def held_out_words(
    words: Sequence[str],
    seed: int = 0,
    fraction: float = HELD_OUT_FRACTION,
    keep: frozenset[str] | set[str] = frozenset(),
) -> dict[str, list[str]]:
    """Splits off dev and test words that train text never contains.

    A word is held out by a hash of (word, seed), so the choice of one word
    does not depend on the others: a longer list holds out the same words and
    more. The first `TOP_KEPT` words (most frequent first) and `keep` stay in train.

    Args:
        words: most frequent first, as `word_list().words`.
        seed: salt of the hash; keep it fixed so held-out words stay unheard.
        fraction: share of the eligible words for dev, and again for test.
        keep: words never held out (e.g. the closed generator's vocabulary).
    Returns:
        {"dev", "test"} -> held-out words in `words` order (disjoint).
    Raises:
        ValueError: `fraction` outside (0, 0.5).
    """
    if not 0 < fraction < 0.5:
        raise ValueError(f"held_out_words: fraction={fraction} outside (0, 0.5)")
    out: dict[str, list[str]] = {s: [] for s in HELD_OUT_SPLITS}
    for word in words[TOP_KEPT:]:
        if word in keep:
            continue
        b = _bucket(word, seed)
        if b < fraction:
            out["dev"].append(word)
        elif b < 2 * fraction:
            out["test"].append(word)
    return out


class _Sampler:
    """Draws words with weights `frequency ** ZIPF_EXPONENT`."""

    def __init__(self, words: Sequence[str], freqs: Sequence[float]) -> None:
        if not words:
            raise ValueError("word sampler: no words")
        self.words = list(words)
        total, self.cum = 0.0, []
        for f in freqs:
            total += f**ZIPF_EXPONENT
            self.cum.append(total)

    def draw(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum, k=k)


def _frame_sentence(rng: random.Random, length: int) -> tuple[list[str], list[int]]:
    """`length` tokens, function words or `None` for a slot, and the slot indices."""
    tokens: list[str | None] = []
    while len(tokens) < length:
        tokens.extend(None if t == "_" else t for t in rng.choice(_FRAMES))
    tokens = tokens[:length]
    tokens[-1] = None  # "... in the" cut from "in the _" ends in a word
    return tokens, [i for i, t in enumerate(tokens) if t is None]


def split_vocabulary(
    vocabulary: WordList,
    seed: int = 0,
    fraction: float = HELD_OUT_FRACTION,
    keep: frozenset[str] | set[str] = frozenset(),
) -> dict[str, WordList]:
    """{"train", "dev", "test"} -> disjoint parts of `vocabulary`: dev and test
    are `held_out_words(...)`, train the rest."""
    held = held_out_words(vocabulary.words, seed, fraction, keep)
    split_of = {w: s for s, ws in held.items() for w in ws}
    parts: dict[str, tuple[list[str], list[float]]] = {
        s: ([], []) for s in ("train", *HELD_OUT_SPLITS)
    }
    for w, f in zip(vocabulary.words, vocabulary.frequencies):
        words, freqs = parts[split_of.get(w, "train")]
        words.append(w)
        freqs.append(f)
    return {s: WordList(tuple(w), tuple(f)) for s, (w, f) in parts.items()}


def open_sentence_stream(
    seed: int | str,
    vocabulary: WordList,
    held_out: WordList | None = None,
) -> Iterator[tuple[str, str]]:
    """Endless (sentence, kind) pairs; kind is "words" or "frames".

    Args:
        seed: fixes the stream.
        vocabulary: the words of every slot (for train, the train vocabulary).
        held_out: if given, 1-3 slots of every sentence take one of these.
    Yields:
        Normalised sentences of `LENGTHS` words.
    Raises:
        ValueError: an empty `vocabulary` or `held_out`.
    """
    rng = random.Random(f"asr-synthetic-open:{seed}")
    common = _Sampler(vocabulary.words, vocabulary.frequencies)
    rare = None
    if held_out is not None:
        rare = _Sampler(held_out.words, held_out.frequencies)
    while True:
        length = rng.randint(*LENGTHS)
        if rng.random() < 0.5:
            kind = "words"
            tokens: list[str | None] = [None] * length
            slots = list(range(length))
        else:
            kind = "frames"
            tokens, slots = _frame_sentence(rng, length)
        fill = common.draw(rng, len(slots))
        if rare is not None:
            n = min(len(slots), rng.choice((1, 1, 1, 1, 1, 1, 2, 2, 2, 3)))
            for i, word in zip(rng.sample(range(len(slots)), n), rare.draw(rng, n)):
                fill[i] = word
        for i, word in zip(slots, fill):
            tokens[i] = word
        yield " ".join(t for t in tokens if t), kind
