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
partitions families, never single voices: about 10% of the variants go to dev,
10% to test and 5% to "demo" (used by no split; see `held_out_voices`), counted per
gender so each has female voices; the rest, always including the plain voices and
the default vocal tract (`klatt*`), go to train. So no dev, test or demo timbre is
heard in training. The 8 accents are shared by all splits: too few to hold out.

Sentences are generated (`generate_sentences`) from templates and a word list, and
the three splits never share a sentence. Each utterance draws its voice, rate
(130-210 words/min), pitch and pitch range (30-70) and level at random; everything
follows from `seed`, so two runs write the same files and manifests.

Determinism needs two tricks. espeak-ng keeps synthesis state (pitch flutter
phase, gain control, echo buffer) in C statics that `espeak_Terminate` and
`espeak_Initialize` do not reset, so a clip would depend on what the process said
before it; and it seeds its noise from the clock (Klatt voices use libc `rand()`).
So each call loads a fresh copy of the library (dlopen, initialise, seed espeak's
and libc's generators with 0, speak, dlclose; about 4 ms). The library is not
thread-safe: calls hold a process-wide lock, and `prepare_synthetic` runs in
parallel over processes.
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from asr.audio import SAMPLE_RATE, AudioLoadError, audio_info, save_audio, to_mono_16k
from asr.manifest import Utterance, atomic_write_text, write_manifest

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
SPLIT_HOURS = {"train": 0.90, "dev": 0.05, "test": 0.05}  # fractions of `hours`
VOICE_SPLIT = {"dev": 0.10, "test": 0.10, "demo": 0.05}  # of variants, per gender
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
def _collect(wav, n_samples, events):
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
        # Initialisation seeds breath noise from the clock, and the Klatt
        # voices draw noise from libc's rand(): fix both seeds.
        if hasattr(lib, "espeak_ng_SetRandSeed"):  # espeak-ng >= 1.52
            lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
            lib.espeak_ng_SetRandSeed(0)
        if os.name == "posix":
            ctypes.CDLL(None).srand(0)
        return self

    def __exit__(self, *exc) -> None:
        self.lib.espeak_Terminate()
        self._unload()

    def _unload(self) -> None:
        close = getattr(_ctypes, "dlclose", None) or _ctypes.FreeLibrary  # Windows
        handle = self.lib._handle
        del self.lib
        close(handle)

    def list_voices(self, languages: bytes | None = None) -> list[_Voice]:
        spec = None
        if languages is not None:
            buffer = ctypes.create_string_buffer(languages)  # alive until return
            spec = _Voice()
            spec.languages = ctypes.addressof(buffer)
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
    female: frozenset[str]  # variants whose file says `gender female`
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
        variants, female = [], set()
        for v in es.list_voices(b"variant"):
            if v.identifier.startswith(b"!v/"):
                variants.append(v.identifier.decode()[3:])
                if v.gender == 2:
                    female.add(variants[-1])
        version = es.lib.espeak_Info(None).decode()
        return _Catalog(
            accents=accents,
            aliases=aliases,
            variants=tuple(sorted(set(variants) - _SKIPPED_VARIANTS, key=str.lower)),
            female=frozenset(female),
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
        stem = re.sub(r"\d+$", "", v.lower())
        keys = [f"stem:{stem}"] if len(stem) > 1 else []
        try:
            text = (voices_dir / v).read_text(encoding="utf-8", errors="replace")
        except OSError:  # not an espeak-ng variant: a family of its own
            text = None
        if text is not None:
            formants = sorted(
                " ".join(line.split("//")[0].split())
                for line in text.splitlines()
                if re.match(r"\s*formant\s", line)
            )
            keys.append("formants:" + "|".join(formants) if formants else "default")
        for key in keys:
            groups.setdefault(key, []).append(v)
    for members in groups.values():
        for v in members[1:]:
            parent[find(v)] = find(members[0])
    default = {find(v) for v in groups.get("default", [])}
    return {v: "" if find(v) in default else find(v) for v in variants}


def split_voices(voices: Sequence[str], seed: int = 0) -> dict[str, list[str]]:
    """Partitions voices into train / dev / test / demo by variant family.

    Plain voices and the default vocal tract always go to train. The other
    families, in an order shuffled by `seed`, fill dev, test and demo up to
    fractions `VOICE_SPLIT` of the variants, counted separately for female and
    male variants (at least one family each); families too big for the room left
    go to train. A family's voices, all accents included, land in one split.

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
    members: dict[str, list[str]] = {}
    for v in variants:
        if family[v]:
            members.setdefault(family[v], []).append(v)
    if len(members) < 4:
        raise ValueError(
            f"split_voices: {len(members)} variant families, need at least 4 "
            "(pass voices with more variants, e.g. list_voices())"
        )
    keys = sorted(members)
    random.Random(seed).shuffle(keys)
    # Quotas per gender, so no held-out split ends up all male; a family is
    # female when most of its variants are.
    female = _catalog().female
    is_female = {
        k: 2 * sum(v in female for v in members[k]) > len(members[k]) for k in keys
    }
    room, in_train = {}, {}
    for g in (False, True):
        size = sum(len(members[k]) for k in keys if is_female[k] == g)
        in_train[g] = sum(is_female[k] == g for k in keys)
        room.update({(s, g): max(1, round(f * size)) for s, f in VOICE_SPLIT.items()})
    where: dict[str, str] = dict.fromkeys(["", *keys], "train")
    for key in keys:  # families too big for the room left stay in train
        g, size = is_female[key], len(members[key])
        split = next((s for s in VOICE_SPLIT if size <= room[s, g]), "train")
        if split != "train" and in_train[g] > 1:  # train keeps both genders
            where[key] = split
            room[split, g] -= size
            in_train[g] -= 1
    for split in VOICE_SPLIT:  # small voice sets: still one family each if possible
        spare = [k for k in keys if where[k] == "train"]
        if split not in where.values() and len(spare) > 1:
            where[min(spare, key=lambda k: len(members[k]))] = split
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

_NAMES = """
    alice bob carol daniel emma frank grace henry isabel jack kate lucy mark nina
    oliver paul rachel sam sophie tom anna ben chloe david ella george hannah james
    laura michael olivia peter ruth simon thomas victoria william zoe maria carlos
    yuki ahmed priya chen fatima ivan leo mia noah ethan amelia jacob lily oscar ruby
    """.split()
_CITIES = """
    london paris tokyo boston chicago berlin madrid rome dublin cairo sydney toronto
    denver seattle glasgow lisbon vienna prague oslo delhi lagos nairobi lima canada
    france spain japan brazil mexico italy egypt kenya norway india ireland scotland
    wales peru chile
    """.split()
_PEOPLE = """
    boy girl man woman child baby teacher doctor farmer nurse pilot sailor singer
    soldier student writer painter cook king queen neighbour friend driver waiter
    baker guard stranger captain
    """.split()
_ANIMALS = "dog cat horse fox rabbit mouse bird lion tiger monkey wolf cow".split()
_THINGS = """
    apple bag ball basket bell bicycle boat book bottle box bucket button cake camera
    candle car card carpet chair clock coat coin computer cup desk door dress drum egg
    engine flag flower glass glove guitar hammer hat jacket kettle key kite knife
    ladder lamp leaf letter map mirror orange pencil piano picture plate pocket radio
    rock rope shell shirt shoe spoon stone sweater table telephone tent towel truck
    umbrella violin wagon watch window wallet ticket blanket envelope newspaper
    suitcase pillow ring necklace helmet parcel
    """.split()
_FOODS = "bread cheese soup rice pizza salad sandwiches cookies bananas pie".split()
_DRINKS = "coffee tea milk water juice lemonade".split()
_PLACES = """
    garden kitchen forest market station library park office hospital museum village
    classroom hall harbour street field river lake mountain cave castle hotel bakery
    restaurant airport beach bridge farm church shop
    """.split()
_FAMILY = "mother father brother sister uncle aunt cousin grandmother son".split()
_ADJ_ANY = "big small old new strange famous tiny huge quiet lucky little nice".split()
_ADJ_PERSON = """
    happy sad brave clever careful gentle angry tired hungry friendly funny lonely
    proud rich poor polite busy lazy tall young calm noisy kind shy sleepy
    """.split()
_ADJ_THING = """
    red blue green yellow black white brown grey heavy light warm cold hot wet dry
    clean dirty long empty full broken shiny soft hard sharp round fresh simple cheap
    expensive beautiful wooden golden silver ancient modern narrow wide sweet pale
    dusty bright dark
    """.split()
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_MONTHS = """
    january february march april may june july august september october november
    december
    """.split()
_ANYTIME = [
    *(f"on {d}" for d in _WEEKDAYS), *(f"in {m}" for m in _MONTHS),
    "at noon", "at midnight", "after dinner", "before breakfast", "this evening",
]  # fmt: skip
_UNITS = "one two three four five six seven eight nine".split()
_TEENS = """
    ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen
    """.split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
# Slots filled with a word or phrase from a list; `_Grammar` adds built phrases.
_LISTS = {
    "name": _NAMES,
    "city": _CITIES,
    "person": _PEOPLE,
    "family": _FAMILY,
    "food": _FOODS,
    "drink": _DRINKS,
    "adj_thing": _ADJ_THING,
    "adj_person": _ADJ_PERSON,
    "adverb": "very really quite rather too so".split(),
    "freq": "always never often sometimes usually rarely".split(),
    "weather": "sunny rainy windy cloudy cold warm hot foggy snowy stormy".split(),
    "currency": "dollars pounds euros".split(),
    "past": [
        *_ANYTIME, "yesterday", "last night", "last week", "last month", "last year",
        "this morning", "an hour ago", "a long time ago", "two days ago",
    ],
    "future": [
        *_ANYTIME, "tomorrow", "tonight", "next week", "next month", "next year",
        "later today", "in an hour", "the day after tomorrow",
    ],
    "soon": ["tomorrow", "tonight", "next week", "on saturday", "this weekend"],
    "now": ["today", "tonight", "this morning", "this afternoon", "this evening"],
    "habit": [
        "every day", "every morning", "at night", "on weekends", "in the evening",
        "after school", "before work", "on sundays", "in the summer", "in winter",
    ],
    "prep": """
        in on under behind near beside inside across through over along around above
        """.split(),
}  # fmt: skip

# `{slot}` is filled from `_Grammar.slots`; `{slot?}` half the time; `[a|b]` picks
# one alternative (alternatives may hold slots).
_TEMPLATES = (
    "{agent} {vt_past} {thing} {place?} {past?}",
    "{agent} {vi_past} {place} {past?}",
    "{name} will {vt_base} {thing} {future}",
    "the {person} is {vt_ing} {thing} {place?}",
    "did {agent} {vt_base} {thing} {past?}",
    "where did {name} {vt_base} {thing}",
    "why is the {thing_noun} so {adj_thing}",
    "is the {thing_noun} {adverb?} {adj_thing}",
    "there are {count} {adj_thing} {things_noun} {place}",
    "{thing} was {adverb} {adj_thing} [and {adj_thing}|]",
    "{name} has {count} [{things_noun}|{animals}]",
    "[he|she|they|i|we] [said|thought|knew|heard] that {clause}",
    "please {vt_base} {thing} {place}",
    "{thing} was {vt_pp} by {name} {past?}",
    "{name} [flew|drove|travelled|walked] from {city} to {city} {past?}",
    "{name} lives in {city} with [his|her|their] [{family}|{animal}]",
    "{name}'s {family} {vi_past} {place}",
    "i don't [like|want|need] {things}",
    "we can't {vt_base} {thing} {future}",
    "let's {vt_base} {thing} {future}",
    "it's {weather} in {city} {now}",
    "the [train|bus|meeting|film|class] [starts|leaves|ends] at {clock} {future?}",
    "{name} paid {count} {currency} for {thing}",
    "{agent} {vt_past} {thing} and {vt_past} {thing}",
    "if it's {weather} {soon} we will {vi_base} {place}",
    "{name} and {name} {vi_past} {place} {past?}",
    "can you {vt_base} {thing} [for me|please|{future}|{place}]",
    "{agent} [ate|shared|made] [the|some|a lot of] {food} {past}",
    "{name} [drank|spilled|wanted] [a cup of|a glass of|some] {drink}",
    "how many {things_noun} did {name} {vt_base} {past}",
    "{name} wanted to {vt_base} {thing} but [she|he|they] [couldn't|didn't|forgot]",
    "{agent} {vi_past} because [he was|she was|they were|i felt] {adverb} {adj_person}",
    "my {family} {freq} {vt_third} [{thing}|{things}] {habit?}",
    "the {adj_person} {person} {freq} {vi_third} {habit}",
    "{agent} [can't|won't|didn't] {vi_base} {place}",
    "{name} gave {name} {thing} {past?}",
    "we need {count} {things_noun} for {name}'s party",
    "the {person} asked {name} to {vt_base} {thing}",
    "[yes|no|okay] i'll {vt_base} {thing} {future}",
)
_CLAUSES = (
    "{agent} {vt_past} {thing}",
    "{agent} {vi_past} {place}",
    "{thing} was {adj_thing}",
    "{name} would {vi_base} {future}",
)

# base[:past[:participle]]; a missing form follows the regular rules.
_VERBS_THING = """
    find:found take:took:taken bring:brought buy:bought sell:sold carry open close
    clean paint wash fix drop hold:held lose:lost keep:kept move push pull
    throw:threw:thrown catch:caught build:built break:broke:broken hide:hid:hidden
    borrow lend:lent need want like see:saw:seen choose:chose:chosen order return
    check fill forget:forgot:forgotten steal:stole:stolen wrap pack drag polish
    """.split()
_VERBS_INTRANSITIVE = """
    sleep:slept laugh smile sing:sang:sung dance run:ran:run walk swim:swam:swum
    jump wait rest cry shout whistle arrive leave:left travel work play sit:sat
    stand:stood fall:fell:fallen hurry wander listen climb
    """.split()
_DOUBLED = {"run", "swim", "sit", "drop", "wrap", "drag", "forget", "travel"}
_IRREGULAR_PLURALS = {
    "child": "children", "man": "men", "woman": "women", "mouse": "mice",
    "knife": "knives", "leaf": "leaves", "wolf": "wolves", "baby": "babies",
}  # fmt: skip


def _verb(spec: str) -> dict[str, str]:
    """Forms of a verb from `base[:past[:participle]]`."""
    base, *irregular = spec.split(":")
    consonant_y = base.endswith("y") and base[-2] not in "aeiou"
    if base.endswith(("s", "x", "z", "o", "ch", "sh")):
        third = base + "es"
    else:
        third = base[:-1] + "ies" if consonant_y else base + "s"
    if base in _DOUBLED:
        stem = base + base[-1]
    elif base.endswith("e") and not base.endswith("ee"):
        stem = base[:-1]
    else:
        stem = base
    past = base[:-1] + "ied" if consonant_y else stem + "ed"
    if base.endswith("e"):
        past = base + "d"
    past = irregular[0] if irregular else past
    participle = irregular[1] if len(irregular) > 1 else past
    return {"base": base, "third": third, "past": past, "pp": participle,
            "ing": stem + "ing"}  # fmt: skip


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
    """Fills `_TEMPLATES` from one random stream."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng
        self.used: set[str] = set()
        self.slots: dict[str, Callable[[], str]] = {
            key: functools.partial(self.fresh, words) for key, words in _LISTS.items()
        }
        for kind, specs in (("vt", _VERBS_THING), ("vi", _VERBS_INTRANSITIVE)):
            verbs = [_verb(s) for s in specs]
            for form in verbs[0]:
                self.slots[f"{kind}_{form}"] = functools.partial(self.form, verbs, form)
        self.slots.update(
            agent=self.agent,
            thing=self.thing,
            things=lambda: self.thing(plural=True),
            thing_noun=lambda: rng.choice(_THINGS),
            things_noun=lambda: _plural(rng.choice(_THINGS)),
            animal=lambda: rng.choice(_ANIMALS),
            animals=lambda: _plural(rng.choice(_ANIMALS)),
            place=lambda: f"{self.fresh(_LISTS['prep'])} the {self.fresh(_PLACES)}",
            count=lambda: _number(rng.choice((2, 3, 4, 5, 6, 10, rng.randint(2, 999)))),
            clock=self.clock,
            clause=lambda: self.expand(rng.choice(_CLAUSES)),
        )

    def fresh(self, words: Sequence[str]) -> str:
        """A word not yet used in this sentence (no "from paris to paris")."""
        for _ in range(8):
            word = self.r.choice(words)
            if word not in self.used:
                break
        self.used.add(word)
        return word

    def form(self, verbs: list[dict[str, str]], form: str) -> str:
        return self.r.choice(verbs)[form]

    def noun_phrase(self, dets: Sequence[str], adj: str, noun: str) -> str:
        det = self.r.choice(dets)
        if det == "a" and (adj or noun)[0] in "aeiou":
            det = "an"
        return " ".join(w for w in (det, adj, noun) if w)

    def thing(self, plural: bool = False) -> str:
        adj = self.fresh(_ADJ_THING + _ADJ_ANY) if self.r.random() < 0.5 else ""
        noun = self.fresh(_THINGS)
        if plural:
            dets = ("the", "these", "those", "some", "my", "our", "many")
            return self.noun_phrase(dets, adj, _plural(noun))
        dets = ("the", "the", "a", "this", "that", "my", "your", "her", "his")
        return self.noun_phrase(dets, adj, noun)

    def agent(self) -> str:
        kind = self.r.random()
        if kind < 0.35:
            return self.fresh(_NAMES)
        if kind < 0.45:
            return self.r.choice(("he", "she", "they", "we", "i", "you"))
        adj = self.fresh(_ADJ_PERSON + _ADJ_ANY) if self.r.random() < 0.4 else ""
        noun = self.fresh(_PEOPLE + _ANIMALS)
        return self.noun_phrase(("the", "the", "a", "my", "our", "that"), adj, noun)

    def clock(self) -> str:
        hour = self.r.randint(1, 12)
        minute = self.r.choice((0, 0, 15, 30, 45, self.r.randint(1, 59)))
        if minute == 0:
            return f"{_number(hour)} o'clock"
        if minute == 30 and self.r.random() < 0.5:
            return f"half past {_number(hour)}"
        return f"{_number(hour)} {'oh ' if minute < 10 else ''}{_number(minute)}"

    def expand(self, template: str) -> str:
        text = re.sub(
            r"\[([^\]]*)\]", lambda m: self.r.choice(m.group(1).split("|")), template
        )

        def fill(m: re.Match) -> str:
            if m.group(2) and self.r.random() < 0.5:
                return ""
            return self.slots[m.group(1)]()

        return re.sub(r"\{(\w+)(\?)?\}", fill, text)

    def sentence(self) -> str:
        self.used.clear()
        return " ".join(self.expand(self.r.choice(_TEMPLATES)).split())


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
    """Rough clip length, fitted on espeak-ng English clips with 150 ms padding."""
    return 0.48 + 0.0485 * len(text) * 175 / rate_wpm


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
            voice = rng.choice(voices[split])
            rate, pitch = rng.randint(*RATE_WPM), rng.randint(*PITCH)
            pitch_range = rng.randint(*PITCH_RANGE)
            level = round(rng.uniform(*LEVEL_DBFS), 1)
            # The name changes with anything that changes the audio, so a clip on
            # disk is reused only when it is exactly the one asked for.
            key = json.dumps([_VERSION, text, voice, rate, pitch, pitch_range, level])
            digest = hashlib.sha1(key.encode()).hexdigest()[:10]
            name = f"{split}-{count:06d}-{digest}.flac"
            path = out / "audio" / split / f"{count // 1000:03d}" / name
            jobs.append(
                _Job(
                    index=len(jobs),
                    split=split,
                    path=str(path),
                    text=text,
                    voice=voice,
                    rate_wpm=rate,
                    pitch=pitch,
                    pitch_range=pitch_range,
                    level_dbfs=level,
                )
            )
            total += _estimate_seconds(text, rate)
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
    the same arguments after `.completed` is written does nothing. Workers are
    spawned processes, so a calling script needs `if __name__ == "__main__":`.

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
