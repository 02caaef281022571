"""Synthetic English speech from espeak-ng: a corpus that needs no download.

`prepare_synthetic(out, hours)` speaks generated sentences with many espeak-ng
voices and writes FLAC clips plus `OUT/train.jsonl`, `OUT/dev.jsonl` and
`OUT/test.jsonl`. The library comes from the `espeakng-loader` wheel and is driven
through ctypes; no system package or `espeak-ng` binary is needed.

Voices. A voice is an accent (an espeak-ng language voice such as `en-us`,
`en-gb-scotland`) optionally followed by `+variant`, one of the ~100 timbre files
in `espeak-ng-data/voices/!v` (`en-us+f3`, `en-029+klatt4`). Variants that share a
formant table, or a name up to trailing digits (`iven`..`iven4`), form one family:
the same vocal tract with another pitch, synthesiser or echo. `split_voices`
partitions families, never single voices: with seed 0 about 10% of families go to
dev, 10% to test, 5% to "demo" (used by no split; see `held_out_voices`), and the
rest, always including the plain voices and the default vocal tract (`klatt*`), to
train. So no dev, test or demo timbre is ever heard in training. The 8 accents are
shared by all splits: there are too few to hold some out.

Sentences are generated (`generate_sentences`) from templates and a word list, and
the three splits never share a sentence. Each utterance draws its voice, rate
(130-210 words/min), pitch and pitch range (30-70) and level at random; everything
follows from `seed`, so two runs write the same files and manifests.

Determinism needs one trick: espeak-ng keeps synthesis state (pitch flutter phase,
gain control, echo buffer) in C statics that `espeak_Terminate` and
`espeak_Initialize` do not reset, so a clip would depend on what the process said
before it. Each call therefore loads a fresh copy of the library (dlopen,
initialise, speak, dlclose; about 4 ms). The library is not thread-safe, so calls
hold a process-wide lock and `prepare_synthetic` runs in parallel over processes.
"""

from __future__ import annotations

import _ctypes
import ctypes
import functools
import hashlib
import json
import logging
import math
import multiprocessing
import os
import random
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asr.audio import SAMPLE_RATE, AudioLoadError, audio_info, save_audio, to_mono_16k
from asr.manifest import Utterance, atomic_write_text, write_manifest

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
SPLIT_HOURS = {"train": 0.90, "dev": 0.05, "test": 0.05}  # fractions of `hours`
VOICE_SPLIT = {"dev": 0.10, "test": 0.10, "demo": 0.05}  # fractions of families
RATE_WPM = (130, 210)
PITCH = (30, 70)
PITCH_RANGE = (30, 70)
LEVEL_DBFS = (-28.0, -18.0)  # RMS level of a clip, drawn per utterance
_VERSION = 1  # bump when the audio for the same parameters changes

# en-shaw reads the Shavian alphabet; on Latin text it is exactly en-gb.
_SKIPPED_ACCENTS = {"en-shaw"}
# `fast` only sets a speed tweak and sounds exactly like the plain voice.
_SKIPPED_VARIANTS = {"fast"}

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH, _RANGE = 1, 3, 4  # espeak_PARAMETER


class SynthesisError(RuntimeError):
    """espeak-ng could not be loaded, rejected a voice, or produced no audio."""


# ---------------------------------------------------------------------------
# espeak-ng through ctypes


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated code)*, 0
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_LOCK = threading.RLock()
_chunks: list[bytes] = []


@_SynthCallback
def _collect(wav, n_samples, events):  # noqa: ARG001 - signature fixed by espeak
    if n_samples > 0 and wav:
        _chunks.append(ctypes.string_at(wav, 2 * n_samples))
    return 0  # 0 = continue


def _paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError:
        raise SynthesisError(
            "espeakng_loader is not installed (pip install espeakng-loader)"
        ) from None
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


class _Espeak:
    """A freshly loaded, initialised libespeak-ng; unloaded on exit.

    Use under `_LOCK`. A fresh load resets the C statics that make output depend
    on earlier calls.
    """

    def __enter__(self) -> _Espeak:
        lib_path, data_path = _paths()
        try:
            self.lib = lib = ctypes.CDLL(lib_path, mode=ctypes.RTLD_LOCAL)
        except OSError as e:
            raise SynthesisError(
                f"{lib_path}: cannot load libespeak-ng ({e})"
            ) from None
        lib.espeak_Initialize.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
        ]  # fmt: skip
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        self.rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        if self.rate <= 0:
            self._unload()
            raise SynthesisError(f"{data_path}: espeak_Initialize failed")
        lib.espeak_SetSynthCallback(_collect)
        return self

    def __exit__(self, *exc) -> None:
        self.lib.espeak_Terminate()
        self._unload()

    def _unload(self) -> None:
        close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary")
        handle = self.lib._handle
        del self.lib
        close(handle)

    def list_voices(self, languages: bytes | None = None) -> list[_Voice]:
        spec = None
        if languages is not None:
            spec = _Voice()
            spec.languages = ctypes.cast(ctypes.c_char_p(languages), ctypes.c_void_p)
        array = self.lib.espeak_ListVoices(spec)
        voices, i = [], 0
        while array[i]:
            voices.append(array[i].contents)
            i += 1
        return voices

    def speak(self, name: str, text: str, rate: int, pitch: int, rng: int) -> bytes:
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise SynthesisError(f"espeak-ng has no voice {name!r}")
        for param, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, rng)):
            self.lib.espeak_SetParameter(param, value, 0)
        data = text.encode()
        _chunks.clear()
        err = self.lib.espeak_Synth(
            data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        samples = b"".join(_chunks)
        _chunks.clear()
        if err != 0:
            raise SynthesisError(f"espeak_Synth failed with code {err} on {text!r}")
        return samples


def _languages(address: int | None) -> list[str]:
    """Codes from espeak's `languages` field, in file order."""
    codes, offset = [], 0
    while address:
        if ctypes.string_at(address + offset, 1) == b"\0":  # priority 0 ends it
            break
        code = ctypes.string_at(address + offset + 1)
        codes.append(code.decode().lower())
        offset += len(code) + 2
    return codes


@dataclass(frozen=True)
class _Catalog:
    accents: dict[str, str]  # accent (first language code) -> espeak identifier
    aliases: dict[str, str]  # any lowercase code or identifier -> identifier
    variants: tuple[str, ...]
    rate: int
    version: str


@functools.lru_cache(maxsize=1)
def _catalog() -> _Catalog:
    with _LOCK, _Espeak() as es:
        accents, aliases = {}, {}
        for voice in es.list_voices():
            ident = voice.identifier.decode()
            codes = _languages(voice.languages)
            if not codes:
                continue
            accents.setdefault(codes[0], ident)
            for key in (ident.lower(), ident.rsplit("/", 1)[-1].lower(), *codes):
                aliases.setdefault(key, ident)
        variants = [
            v.identifier.decode().split("/", 1)[1]
            for v in es.list_voices(b"variant")
            if v.identifier.startswith(b"!v/")
        ]
        version = es.lib.espeak_Info(None).decode()
        return _Catalog(
            accents=accents,
            aliases=aliases,
            variants=tuple(sorted(set(variants) - _SKIPPED_VARIANTS, key=str.lower)),
            rate=es.rate,
            version=version,
        )


def _accents(language_prefix: str) -> list[str]:
    prefix = language_prefix.lower()
    return sorted(
        code
        for code in _catalog().accents
        if (code == prefix or code.startswith(prefix + "-"))
        and code not in _SKIPPED_ACCENTS
    )


def list_voices(language_prefix: str = "en") -> list[str]:
    """All usable voices of a language: each accent plain, then with each variant.

    Args:
        language_prefix: language code; `"en"` gives `en-029`, `en-gb`,
            `en-gb-scotland`, ..., `en-us-nyc`.
    Returns:
        Sorted names such as `"en-us"`, `"en-us+f3"`, `"en-gb-scotland+klatt2"`
        (variant names are case-sensitive and one, `"Mr serious"`, has a space).
    Raises:
        SynthesisError: espeak-ng is missing.
    """
    variants = _catalog().variants
    return [
        name
        for accent in _accents(language_prefix)
        for name in (accent, *(f"{accent}+{v}" for v in variants))
    ]


def _espeak_name(voice: str) -> str:
    """`en-gb+m2` -> `gmw/en+m2` (espeak ignores variants on unknown names)."""
    catalog = _catalog()
    accent, _, variant = voice.partition("+")
    ident = catalog.aliases.get(accent.lower())
    if ident is None:
        raise ValueError(
            f"unknown voice {voice!r}: no accent {accent!r} (see list_voices())"
        )
    if not variant:
        return ident
    if variant not in catalog.variants:
        raise ValueError(
            f"unknown voice {voice!r}: no variant {variant!r} (see list_voices())"
        )
    return f"{ident}+{variant}"


def _trim(audio: np.ndarray, pad_ms: float) -> np.ndarray:
    """Cuts silence to `pad_ms` at both ends (zero-padding where espeak left less)."""
    frame = SAMPLE_RATE // 100
    n = len(audio) // frame
    if n == 0:
        return audio
    energy = np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1))
    active = np.flatnonzero(energy > max(1e-4, energy.max() * 0.01))  # -40 dB
    if len(active) == 0:
        return audio
    start, end = active[0] * frame, min(len(audio), (active[-1] + 1) * frame)
    pad = int(round(pad_ms * SAMPLE_RATE / 1000))
    lead, tail = min(pad, start), min(pad, len(audio) - end)
    body = audio[start - lead : end + tail]
    return np.pad(body, (pad - lead, pad - tail)).astype(np.float32)


def synthesize(
    text: str,
    voice: str = "en-us",
    rate_wpm: int = 175,
    pitch: int = 50,
    pitch_range: int = 50,
    pad_ms: float = 150.0,
) -> np.ndarray:
    """Speaks `text` with espeak-ng.

    The same arguments always give the same samples.

    Args:
        text: what to say.
        voice: a name from `list_voices()`, e.g. `"en-gb-scotland+f3"`.
        rate_wpm: speaking rate in words per minute, 80-450.
        pitch: base pitch, 0-99 (50 is the voice's normal pitch).
        pitch_range: intonation range, 0-99 (0 is monotone).
        pad_ms: silence kept (or added) before and after the speech.
    Returns:
        (samples,) float32 mono at 16 kHz, in [-1, 1].
    Raises:
        ValueError: empty text, unknown voice, or a parameter out of range.
        SynthesisError: espeak-ng is missing or produced no audio.
    """
    if not text.strip():
        raise ValueError("synthesize: empty text")
    for name, value, low, high in (
        ("rate_wpm", rate_wpm, 80, 450),
        ("pitch", pitch, 0, 99),
        ("pitch_range", pitch_range, 0, 99),
    ):
        if not low <= value <= high:
            raise ValueError(f"synthesize: {name}={value} outside [{low}, {high}]")
    name = _espeak_name(voice)
    with _LOCK, _Espeak() as es:
        raw = es.speak(name, text, int(rate_wpm), int(pitch), int(pitch_range))
        rate = es.rate
    if not raw:
        raise SynthesisError(f"espeak-ng produced no audio for {text!r} ({voice})")
    samples = np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0
    return _trim(to_mono_16k(samples, rate, f"espeak-ng {voice}"), pad_ms)


# ---------------------------------------------------------------------------
# Voice partition


def _variant_families(variants: Sequence[str]) -> dict[str, str]:
    """Variant -> family key. One family: same formant table, or same name up to
    trailing digits (`steph`, `steph2`); no formants means the default tract ("")."""
    voices_dir = Path(_paths()[1]) / "voices" / "!v"
    parent = {v: v for v in variants}

    def find(v: str) -> str:
        while parent[v] != v:
            v = parent[v]
        return v

    groups: dict[str, list[str]] = {}
    for v in variants:
        try:
            lines = (voices_dir / v).read_text(encoding="utf-8", errors="replace")
        except OSError:
            lines = ""
        formants = sorted(
            " ".join(line.split("//")[0].split())
            for line in lines.splitlines()
            if re.match(r"\s*formant\s", line)
        )
        stem = re.sub(r"\d+$", "", v.lower())
        keys = [f"stem:{stem}"] if len(stem) > 1 else []
        keys.append("formants:" + "|".join(formants) if formants else "default")
        for key in keys:
            groups.setdefault(key, []).append(v)
    for key, members in groups.items():
        for v in members[1:]:
            parent[find(v)] = find(members[0])
    default = {find(v) for v in groups.get("default", [])}
    return {v: "" if find(v) in default else find(v) for v in variants}


def split_voices(voices: Sequence[str], seed: int = 0) -> dict[str, list[str]]:
    """Partitions voices into train / dev / test / demo by variant family.

    Plain voices and the default vocal tract always go to train; of the other
    families, fractions `VOICE_SPLIT` (at least one each) go to dev, test and demo.
    A family's voices, all accents included, land in one split.

    Args:
        voices: names as from `list_voices()`.
        seed: shuffles the families; the same seed gives the same partition.
    Returns:
        {"train", "dev", "test", "demo"} -> sorted, disjoint voice lists.
    Raises:
        ValueError: fewer than 4 variant families to share out.
    """
    variants = sorted({v.partition("+")[2] for v in voices} - {""})
    family = {"": "", **_variant_families(variants)}
    keys = sorted({family[v] for v in variants} - {""})
    if len(keys) < 4:
        raise ValueError(
            f"split_voices: {len(keys)} variant families, need at least 4 "
            "(pass voices with more variants, e.g. list_voices())"
        )
    random.Random(seed).shuffle(keys)
    where: dict[str, str] = {"": "train"}
    start = 0
    for split, fraction in VOICE_SPLIT.items():
        count = max(1, round(fraction * len(keys)))
        where.update((key, split) for key in keys[start : start + count])
        start += count
    where.update((key, "train") for key in keys[start:])
    out: dict[str, list[str]] = {s: [] for s in (*SPLITS, "demo")}
    for v in voices:
        out[where[family[v.partition("+")[2]]]].append(v)
    return {s: sorted(vs) for s, vs in out.items()}


def held_out_voices(language_prefix: str = "en", seed: int = 0) -> list[str]:
    """Voices that `prepare_synthetic(voice_seed=seed)` puts in no split, for demos
    on speakers a model never heard."""
    return split_voices(list_voices(language_prefix), seed)["demo"]


# ---------------------------------------------------------------------------
# Sentences


def _words(text: str) -> list[str]:
    return text.split()


_NAMES = _words("""
    alice bob carol daniel emma frank grace henry isabel jack kate lucy mark nina
    oliver paul rachel sam sophie tom anna ben chloe david ella george hannah james
    laura michael olivia peter ruth simon thomas victoria william zoe maria carlos
    yuki ahmed priya chen fatima ivan leo mia noah ethan amelia jacob lily oscar ruby
    """)
_CITIES = _words("""
    london paris tokyo boston chicago berlin madrid rome dublin cairo sydney toronto
    denver seattle glasgow lisbon vienna prague oslo delhi lagos nairobi lima
    canada france spain japan brazil mexico italy egypt kenya norway india ireland
    scotland wales peru chile
    """)
_PEOPLE = _words("""
    boy girl man woman child baby teacher doctor farmer nurse pilot sailor singer
    soldier student writer painter cook king queen neighbour friend brother sister
    cousin uncle aunt driver waiter baker guard stranger captain
    """)
_ANIMALS = _words("dog cat horse fox rabbit mouse bird lion tiger monkey wolf cow")
_THINGS = _words("""
    apple bag ball basket bell bicycle boat book bottle box bucket button cake camera
    candle car card carpet chair clock coat coin computer cup desk door dress drum egg
    engine flag flower glass glove guitar hammer hat jacket kettle key kite knife
    ladder lamp leaf letter map mirror orange pencil piano picture plate pocket radio
    rock rope shell shirt shoe spoon stone sweater table telephone tent towel truck
    umbrella violin wagon watch window wallet ticket blanket envelope newspaper
    suitcase pillow ring necklace basket helmet parcel
    """)
_FOODS = _words("bread cheese soup rice pizza salad sandwich cookie banana pie")
_DRINKS = _words("coffee tea milk water juice lemonade")
_PLACES = _words("""
    garden kitchen forest market station library park office hospital museum village
    classroom hall harbour street field river lake mountain cave castle hotel bakery
    restaurant airport beach bridge farm church shop
    """)
_FAMILY = _words("mother father brother sister uncle aunt cousin grandmother son")
_ADJ_ANY = _words("""
    big small old new strange famous tiny huge quiet loud lucky little nice good bad
    """)
_ADJ_PERSON = _words("""
    happy sad brave clever careful gentle angry tired hungry friendly funny lonely
    proud rich poor polite busy lazy tall young calm noisy kind shy honest sleepy
    """)
_ADJ_THING = _words("""
    red blue green yellow black white brown grey heavy light warm cold hot wet dry
    clean dirty long empty full broken shiny soft hard sharp round fresh simple cheap
    expensive beautiful wooden golden silver ancient modern narrow wide sweet pale
    dusty bright dark
    """)
_ADVERBS = _words("very really quite rather too so")
_FREQUENCY = _words("always never often sometimes usually rarely")
_PREPOSITIONS = _words("""
    in on under behind near beside inside across through over along around above
    """)
_WEEKDAYS = _words("monday tuesday wednesday thursday friday saturday sunday")
_MONTHS = _words("""
    january february march april may june july august september october november
    december
    """)
_TIMES = [
    *_words("today yesterday tomorrow tonight"),
    *(f"{a} {b}" for a in ("this", "last", "next") for b in ("week", "year", "month")),
    *(f"this {p}" for p in ("morning", "afternoon", "evening")),
    *(f"on {d}" for d in _WEEKDAYS),
    *(f"in {m}" for m in _MONTHS),
    "last night", "at noon", "at midnight", "every day", "in the morning",
    "after dinner", "before breakfast", "an hour ago", "a long time ago",
]  # fmt: skip
_WEATHER = _words("sunny rainy windy cloudy cold warm hot foggy snowy stormy")
_CURRENCIES = _words("dollars pounds euros")
_UNITS = _words("one two three four five six seven eight nine")
_TEENS = _words("""
    ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen
    """)
_TENS = _words("twenty thirty forty fifty sixty seventy eighty ninety")

# base[:past[:participle]] for irregular verbs; the rest are regular.
_VERBS_THING = _words("""
    find:found take:took:taken bring:brought buy:bought sell:sold carry open close
    clean paint wash fix drop hold:held lose:lost keep:kept move push pull
    throw:threw:thrown catch:caught build:built break:broke:broken hide:hid:hidden
    borrow lend:lent need want like see:saw:seen choose:chose:chosen order return
    check fill forget:forgot:forgotten steal:stole:stolen wrap pack drag polish
    """)
_VERBS_INTRANSITIVE = _words("""
    sleep:slept laugh smile sing:sang:sung dance run:ran:run walk swim:swam:swum
    jump wait rest cry shout whistle arrive leave:left travel work play sit:sat
    stand:stood fall:fell:fallen hurry wander listen climb
    """)
_DOUBLED = set(_words("run swim sit drop stop cut wrap plan shop"))


def _verb(spec: str) -> dict[str, str]:
    parts = spec.split(":")
    base = parts[0]
    if base[-1] in "sxzo" or base.endswith(("ch", "sh")):
        third = base + "es"
    elif base[-1] == "y" and base[-2] not in "aeiou":
        third = base[:-1] + "ies"
    else:
        third = base + "s"
    if base in _DOUBLED:
        stem = base + base[-1]
    elif base.endswith("e") and not base.endswith("ee"):
        stem = base[:-1]
    else:
        stem = base
    if base[-1] == "y" and base[-2] not in "aeiou":
        past = base[:-1] + "ied"
    else:
        past = stem + ("d" if stem.endswith("e") else "ed")
    past = parts[1] if len(parts) > 1 else past
    participle = parts[2] if len(parts) > 2 else past
    return {"base": base, "third": third, "past": past, "pp": participle,
            "ing": stem + "ing"}  # fmt: skip


_IRREGULAR_PLURALS = {
    "child": "children", "man": "men", "woman": "women", "mouse": "mice",
    "knife": "knives", "leaf": "leaves", "wolf": "wolves", "baby": "babies",
}  # fmt: skip


def _plural(noun: str) -> str:
    if noun in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _number(n: int) -> str:
    """1..999 spelled out: 342 -> "three hundred and forty two"."""
    hundreds, rest = divmod(n, 100)
    words = [_UNITS[hundreds - 1], "hundred"] if hundreds else []
    if rest and hundreds:
        words.append("and")
    if rest >= 20:
        words.append(_TENS[rest // 10 - 2])
        if rest % 10:
            words.append(_UNITS[rest % 10 - 1])
    elif rest >= 10:
        words.append(_TEENS[rest - 10])
    elif rest:
        words.append(_UNITS[rest - 1])
    return " ".join(words)


class _Grammar:
    """Random phrases and sentences; one instance per random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng
        self.vt = [_verb(s) for s in _VERBS_THING]
        self.vi = [_verb(s) for s in _VERBS_INTRANSITIVE]

    def pick(self, items: Sequence[str]) -> str:
        return self.r.choice(items)

    def maybe(self, p: float, text: str) -> str:
        return text if self.r.random() < p else ""

    def article(self, word: str) -> str:
        return "an" if word[0] in "aeiou" else "a"

    def count(self) -> int:
        return self.r.choice((2, 3, 4, 5, 6, 7, 8, 9, 10, 12, self.r.randint(2, 999)))

    def np_thing(self, plural: bool = False) -> str:
        noun = self.pick(_THINGS)
        adj = self.maybe(0.5, self.pick(_ADJ_THING + _ADJ_ANY))
        if plural:
            det = self.pick(("the", "these", "those", "some", "my", "our", "many"))
            return " ".join(filter(None, (det, adj, _plural(noun))))
        det = self.pick(("the", "the", "a", "this", "that", "my", "your", "her", "his"))
        if det == "a":
            det = self.article(adj or noun)
        return " ".join(filter(None, (det, adj, noun)))

    def agent(self) -> str:
        kind = self.r.random()
        if kind < 0.35:
            return self.pick(_NAMES)
        if kind < 0.45:
            return self.pick(("he", "she", "they", "we", "i", "you"))
        noun = self.pick(_PEOPLE + _ANIMALS)
        adj = self.maybe(0.4, self.pick(_ADJ_PERSON + _ADJ_ANY))
        det = self.pick(("the", "the", "a", "my", "our", "their", "that"))
        if det == "a":
            det = self.article(adj or noun)
        return " ".join(filter(None, (det, adj, noun)))

    def place(self) -> str:
        return f"{self.pick(_PREPOSITIONS)} the {self.pick(_PLACES)}"

    def when(self) -> str:
        return self.pick(_TIMES)

    def clause(self) -> str:
        """A short past-tense statement."""
        if self.r.random() < 0.5:
            return f"{self.agent()} {self.pick(self.vt)['past']} {self.np_thing()}"
        return f"{self.agent()} {self.pick(self.vi)['past']} {self.place()}"

    def sentence(self) -> str:
        r, pick, vt, vi = self.r, self.pick, self.vt, self.vi
        name, city = pick(_NAMES), pick(_CITIES)
        n = self.count()
        hour, minute = r.randint(1, 12), r.choice((0, 15, 30, 45, r.randint(1, 59)))
        templates = (
            lambda: (
                f"{self.agent()} {pick(vt)['past']} {self.np_thing()} "
                f"{self.maybe(0.6, self.place())} {self.maybe(0.4, self.when())}"
            ),
            lambda: (
                f"{self.agent()} {pick(vi)['past']} {self.place()} "
                f"{self.maybe(0.5, self.when())}"
            ),
            lambda: f"{name} will {pick(vt)['base']} {self.np_thing()} {self.when()}",
            lambda: (
                f"the {pick(_PEOPLE)} is {pick(vt)['ing']} {self.np_thing()} "
                f"{self.maybe(0.5, self.place())}"
            ),
            lambda: (
                f"did {self.agent()} {pick(vt)['base']} {self.np_thing()} "
                f"{self.maybe(0.5, self.when())}"
            ),
            lambda: f"where did {name} {pick(vt)['base']} {self.np_thing()}",
            lambda: f"why is the {pick(_THINGS)} so {pick(_ADJ_THING)}",
            lambda: (
                f"there are {_number(n)} {pick(_ADJ_THING)} "
                f"{_plural(pick(_THINGS))} {self.place()}"
            ),
            lambda: (
                f"{self.np_thing()} was {pick(_ADVERBS)} {pick(_ADJ_THING)} "
                f"{self.maybe(0.5, 'and ' + pick(_ADJ_THING))}"
            ),
            lambda: f"{name} has {_number(n)} {_plural(pick(_THINGS + _ANIMALS))}",
            lambda: (
                f"{pick(('he', 'she', 'they', 'i', 'we'))} "
                f"{pick(('said', 'thought', 'knew', 'heard'))} that {self.clause()}"
            ),
            lambda: f"please {pick(vt)['base']} {self.np_thing()} {self.place()}",
            lambda: (
                f"{self.np_thing()} was {pick(vt)['pp']} by {name} "
                f"{self.maybe(0.5, self.when())}"
            ),
            lambda: (
                f"{name} {pick(('flew', 'drove', 'travelled', 'walked'))} "
                f"from {city} to {pick(_CITIES)} {self.maybe(0.5, self.when())}"
            ),
            lambda: (
                f"{name} lives in {city} with "
                f"{pick(('his', 'her', 'their'))} {pick(_FAMILY + _ANIMALS)}"
            ),
            lambda: f"{name}'s {pick(_FAMILY)} {pick(vi)['past']} {self.place()}",
            lambda: f"i don't {pick(('like', 'want', 'need'))} {self.np_thing(True)}",
            lambda: f"we can't {pick(vt)['base']} {self.np_thing()} {self.when()}",
            lambda: f"it's {pick(_WEATHER)} in {city} {self.when()}",
            lambda: (
                f"the {pick(('train', 'bus', 'meeting', 'film', 'class'))} "
                f"{pick(('starts', 'leaves', 'ends'))} at {_number(hour)} "
                + (f"o'clock {self.when()}" if minute == 0 else _number(minute))
            ),
            lambda: (
                f"{name} paid {_number(n)} {pick(_CURRENCIES)} for {self.np_thing()}"
            ),
            lambda: (
                f"{self.agent()} {pick(vt)['past']} {self.np_thing()} and "
                f"{pick(vt)['past']} {self.np_thing()}"
            ),
            lambda: (
                f"if it's {pick(_WEATHER)} {pick(_TIMES[:4])} we will "
                f"{pick(vi)['base']} {self.place()}"
            ),
            lambda: (
                f"{name} and {pick(_NAMES)} {pick(vi)['past']} {self.place()} "
                f"{self.maybe(0.5, self.when())}"
            ),
            lambda: (
                f"can you {pick(vt)['base']} {self.np_thing()} "
                f"{pick(('for me', 'please', self.when(), self.place()))}"
            ),
            lambda: (
                f"{self.agent()} {pick(('ate', 'shared', 'made'))} "
                f"{pick(('the', 'some', 'a lot of'))} {pick(_FOODS)} {self.when()}"
            ),
            lambda: (
                f"{name} {pick(('drank', 'spilled', 'wanted'))} "
                f"{pick(('a cup of', 'a glass of', 'some'))} {pick(_DRINKS)}"
            ),
            lambda: (
                f"how many {_plural(pick(_THINGS))} did {name} "
                f"{pick(vt)['base']} {self.when()}"
            ),
            lambda: (
                f"{name} wanted to {pick(vt)['base']} {self.np_thing()} but "
                f"{pick(('she', 'he', 'they'))} {pick(("couldn't", "didn't", "wasn't able to"))}"
            ),
            lambda: (
                f"{self.agent()} {pick(vi)['past']} because "
                f"{pick(('he', 'she', 'they'))} {pick(('was', 'were', 'felt'))} "
                f"{pick(_ADVERBS)} {pick(_ADJ_PERSON)}"
            ),
            lambda: (
                f"my {pick(_FAMILY)} {pick(_FREQUENCY)} {pick(vt)['third']} "
                f"{self.np_thing(r.random() < 0.5)} {self.maybe(0.5, self.place())}"
            ),
            lambda: (
                f"the {pick(_ADJ_PERSON)} {pick(_PEOPLE)} "
                f"{pick(_FREQUENCY)} {pick(vi)['third']} {self.when()}"
            ),
        )
        text = pick(templates)()
        text = re.sub(r"\bthey was\b", "they were", text)
        return " ".join(text.split())


def _sentence_stream(seed: int | str) -> Iterator[str]:
    """Unique sentences of 4-14 words, in an order fixed by `seed`."""
    grammar = _Grammar(random.Random(f"asr-synthetic:{seed}"))
    seen: set[str] = set()
    misses = 0
    while misses < 10_000:
        text = grammar.sentence()
        if text in seen or not 4 <= len(text.split()) <= 14:
            misses += 1
            continue
        misses = 0
        seen.add(text)
        yield text
    raise ValueError(f"sentence generator exhausted after {len(seen)} sentences")


def generate_sentences(n: int, seed: int | str = 0) -> list[str]:
    """`n` distinct, normalised English sentences of 4-14 words.

    Deterministic, and a prefix of the same call with a larger `n`.

    Args:
        n: how many.
        seed: picks the stream.
    Returns:
        Lowercase a-z, apostrophes and single spaces (`text.normalise` leaves
        them unchanged).
    """
    stream = _sentence_stream(seed)
    return [next(stream) for _ in range(n)]


# ---------------------------------------------------------------------------
# Corpus preparation


@dataclass(frozen=True)
class _Job:
    index: int
    split: str
    path: str
    text: str
    voice: str
    rate_wpm: int
    pitch: int
    pitch_range: int
    level_dbfs: float


def _estimate_seconds(text: str, rate_wpm: int) -> float:
    """Rough clip length (measured on espeak-ng English: ~55 ms/char at 175 wpm)."""
    return 0.3 + 0.055 * len(text) * 175 / rate_wpm


def _plan(
    out: Path, hours: float, seed: int, voices: dict[str, list[str]]
) -> list[_Job]:
    """Every utterance of every split, fixed by (hours, seed, voices)."""
    streams = {s: _sentence_stream(f"{seed}:{s}") for s in SPLITS}
    taken: set[str] = set()
    jobs: list[_Job] = []
    # dev and test first: train skips their sentences, never the reverse.
    for split in ("dev", "test", "train"):
        rng = random.Random(f"asr-synthetic:{seed}:{split}:params")
        budget = hours * 3600 * SPLIT_HOURS[split]
        total, count = 0.0, 0
        while count == 0 or total < budget:
            text = next(streams[split])
            if text in taken:
                continue
            taken.add(text)
            job = _Job(
                index=len(jobs),
                split=split,
                path="",
                text=text,
                voice=rng.choice(voices[split]),
                rate_wpm=rng.randint(*RATE_WPM),
                pitch=rng.randint(*PITCH),
                pitch_range=rng.randint(*PITCH_RANGE),
                level_dbfs=round(rng.uniform(*LEVEL_DBFS), 1),
            )
            key = json.dumps([_VERSION, *asdict(job).values()][4:], sort_keys=True)
            digest = hashlib.sha1(f"{_VERSION}{key}".encode()).hexdigest()[:10]
            name = f"{split}-{count:06d}-{digest}.flac"
            path = out / "audio" / split / f"{count // 1000:03d}" / name
            jobs.append(_Job(**{**asdict(job), "path": str(path)}))
            total += _estimate_seconds(text, job.rate_wpm)
            count += 1
    return jobs


def _existing_frames(path: str) -> int | None:
    """Frames of a complete 16 kHz mono clip at `path`, or None."""
    if not os.path.exists(path):
        return None
    try:
        seconds, rate, channels = audio_info(path)
    except AudioLoadError:
        return None
    if rate != SAMPLE_RATE or channels != 1:
        return None
    return round(seconds * rate)


def _make_clip(job: _Job) -> tuple[int, int]:
    """Writes one clip unless a complete one exists. Returns (index, frames)."""
    frames = _existing_frames(job.path)
    if frames is None:
        audio = synthesize(
            job.text, job.voice, job.rate_wpm, job.pitch, job.pitch_range
        )
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        gain = 10 ** (job.level_dbfs / 20) / max(rms, 1e-6)
        gain = min(gain, 0.99 / max(float(np.abs(audio).max()), 1e-6))
        save_audio(job.path, (audio * gain).astype(np.float32))
        frames = len(audio)
    return job.index, frames


def _run_jobs(jobs: list[_Job], workers: int, progress: bool) -> dict[int, int]:
    bar = tqdm(
        total=len(jobs),
        desc="synthetic",
        unit="utt",
        disable=not (progress and sys.stderr.isatty()),
    )
    frames: dict[int, int] = {}
    with bar:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                index, n = _make_clip(job)
                frames[index] = n
                bar.update()
        else:
            # spawn: safe even if the parent has started threads (TensorFlow).
            context = multiprocessing.get_context("spawn")
            chunk = max(1, min(16, len(jobs) // (workers * 8)))
            with context.Pool(workers) as pool:
                for index, n in pool.imap_unordered(_make_clip, jobs, chunk):
                    frames[index] = n
                    bar.update()
    return frames


def prepare_synthetic(
    out: str | os.PathLike,
    hours: float = 1.0,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    voice_seed: int = 0,
    language_prefix: str = "en",
) -> dict[str, Path]:
    """Writes a synthetic corpus: FLAC clips and one manifest per split.

    Layout: `OUT/audio/<split>/NNN/<split>-NNNNNN-<hash>.flac`, `OUT/train.jsonl`,
    `OUT/dev.jsonl`, `OUT/test.jsonl` (relative paths, extra keys `voice`,
    `rate_wpm`, `pitch`, `pitch_range`), `OUT/metadata.json` (voices per split,
    held-out demo voices, hours) and `OUT/.completed`. Splits take ~90/5/5% of
    `hours` (estimated before synthesis, so totals are approximate) and share no
    voice family and no sentence. Existing complete clips are reused; a rerun with
    the same arguments after `.completed` is written does nothing.

    Args:
        out: output folder.
        hours: total audio, approximately.
        seed: fixes sentences and per-utterance voice, rate, pitch and level.
        workers: processes; default `os.cpu_count()`.
        progress: tqdm bar (shown only when stderr is a terminal).
        voice_seed: fixes the voice partition (`split_voices`); keep it fixed so
            `held_out_voices()` stays unheard by every model.
        language_prefix: espeak-ng language of the voices.
    Returns:
        {"train", "dev", "test"} -> manifest paths.
    Raises:
        ValueError: `hours` not positive.
        SynthesisError: espeak-ng is missing or fails.
    """
    if not hours > 0 or not math.isfinite(hours):
        raise ValueError(f"prepare_synthetic: hours={hours} must be positive")
    out = Path(out)
    manifests = {s: out / f"{s}.jsonl" for s in SPLITS}
    settings = {
        "version": _VERSION,
        "hours": hours,
        "seed": seed,
        "voice_seed": voice_seed,
        "language_prefix": language_prefix,
    }
    marker = out / ".completed"
    if marker.is_file() and all(p.is_file() for p in manifests.values()):
        try:
            done = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            done = None
        if done == settings:
            logger.info("%s: already prepared, skipping", out)
            return manifests
    marker.unlink(missing_ok=True)

    voices = split_voices(list_voices(language_prefix), voice_seed)
    jobs = _plan(out, hours, seed, voices)
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    logger.info("%s: %d utterances on %d workers", out, len(jobs), workers)
    frames = _run_jobs(jobs, workers, progress)

    summary: dict[str, dict] = {}
    for split in SPLITS:
        rows = [
            Utterance(
                audio_filepath=job.path,
                duration=round(frames[job.index] / SAMPLE_RATE, 4),
                text=job.text,
                extra=(
                    ("voice", job.voice),
                    ("rate_wpm", job.rate_wpm),
                    ("pitch", job.pitch),
                    ("pitch_range", job.pitch_range),
                ),
            )
            for job in jobs
            if job.split == split
        ]
        write_manifest(manifests[split], rows)
        summary[split] = {
            "utterances": len(rows),
            "hours": round(sum(r.duration for r in rows) / 3600, 4),
            "voices_used": sorted({job.voice for job in jobs if job.split == split}),
            "voices": voices[split],
        }
    metadata = {
        **settings,
        "espeak_ng": _catalog().version,
        "sample_rate": SAMPLE_RATE,
        "voice_partition": (
            "variant families (same formant table or name up to digits) are split "
            f"with split_voices(list_voices({language_prefix!r}), seed={voice_seed}); "
            "plain voices and the default vocal tract are train-only; accents are "
            "shared; 'demo' voices are in no split"
        ),
        "splits": summary,
        "demo_voices": voices["demo"],
    }
    atomic_write_text(out / "metadata.json", json.dumps(metadata, indent=1) + "\n")
    atomic_write_text(marker, json.dumps(settings, sort_keys=True))
    logger.info(
        "%s: %s", out, ", ".join(f"{s} {summary[s]['hours']:.3f} h" for s in SPLITS)
    )
    return manifests
