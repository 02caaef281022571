"""espeak-ng speech through ctypes: `synthesize(text, voice)`, `list_voices()` and
`phonemize(words)`.

The library comes from the `espeakng-loader` wheel; no system package or
`espeak-ng` binary is needed.

Voices. A voice is an accent (an espeak-ng language voice such as `en-us`,
`en-gb-scotland`) optionally followed by `+variant`, one of the ~100 timbre files
in `espeak-ng-data/voices/!v` (`en-us+f3`, `en-029+klatt4`).

Determinism needs two tricks. espeak-ng keeps synthesis state (pitch flutter
phase, gain control, echo buffer) in C statics that `espeak_Terminate` and
`espeak_Initialize` do not reset, so a clip would depend on what the process said
before it; and it seeds its noise from the clock (Klatt voices use libc `rand()`).
So each call loads a fresh copy of the library (dlopen, initialise, seed espeak's
and libc's generators with 0, speak, dlclose; about 4 ms). The library is not
thread-safe: calls hold a process-wide lock (`asr.datasets.synthetic` runs in
parallel over processes).
"""

from __future__ import annotations

import _ctypes
import ctypes
import functools
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from asr.audio import SAMPLE_RATE, to_mono_16k

# en-shaw reads the Shavian alphabet; on Latin text it is exactly en-gb.
_SKIPPED_ACCENTS = {"en-shaw"}
# `fast` only sets a speed tweak and sounds exactly like the plain voice.
_SKIPPED_VARIANTS = {"fast"}

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH, _RANGE, _WORDGAP = 1, 3, 4, 7  # espeak_PARAMETER
_PHONEMES_IPA = 2  # espeak_TextToPhonemes phonememode: IPA, no separators


class SynthesisError(RuntimeError):
    """espeak-ng could not be loaded, rejected a voice, or produced no audio."""


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
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int,
        ]  # fmt: skip
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

    def set_voice(self, name: str) -> None:
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise SynthesisError(f"espeak-ng has no voice {name!r}")

    def speak(
        self, name: str, text: str, rate: int, pitch: int, rng: int, gap: int = 0
    ) -> bytes:
        self.set_voice(name)
        for param, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, rng)):
            self.lib.espeak_SetParameter(param, value, 0)
        if gap:  # 0 is the default: not setting it keeps older clips unchanged
            self.lib.espeak_SetParameter(_WORDGAP, gap, 0)
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

    def phonemes(self, text: str) -> str:
        """IPA of `text`, clauses joined by spaces (stress marks kept)."""
        buffer = ctypes.c_char_p(text.encode())
        clauses = []
        while buffer.value:  # espeak advances the pointer clause by clause
            out = self.lib.espeak_TextToPhonemes(
                ctypes.byref(buffer), _CHARS_UTF8, _PHONEMES_IPA
            )
            if out is None:
                break
            clauses.append(out.decode("utf-8", errors="replace"))
        return " ".join(clauses)


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


def trim_silence(audio: np.ndarray, pad_ms: float) -> np.ndarray:
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
    word_gap: int = 0,
    formant_scale: float = 1.0,
) -> np.ndarray:
    """Speaks `text` with espeak-ng.

    The same arguments always give the same samples.

    `formant_scale` changes the vocal tract length by resampling: espeak speaks
    at `rate_wpm / s` and at a pitch lower by a factor `s` (its pitch scale is
    an octave per 50 units), then the samples, read as if taken at `s` times
    espeak's rate, are converted to 16 kHz. Formants move by `s` while pitch
    and duration come back to about what was asked.

    Args:
        text: what to say.
        voice: a name from `list_voices()`, e.g. `"en-gb-scotland+f3"`.
        rate_wpm: speaking rate in words per minute, 80-450.
        pitch: base pitch, 0-99 (50 is the voice's normal pitch).
        pitch_range: intonation range, 0-99 (0 is monotone).
        pad_ms: silence kept (or added) before and after the speech.
        word_gap: extra pause between words, 0-50, in units of 10 ms at the
            normal speed.
        formant_scale: 0.7-1.4; above 1 a shorter vocal tract (formants up),
            below 1 a longer one; 1 leaves the voice as it is.
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
        ("word_gap", word_gap, 0, 50),
        ("formant_scale", formant_scale, 0.7, 1.4),
    ):
        if not low <= value <= high:
            raise ValueError(f"synthesize: {name}={value} outside [{low}, {high}]")
    name = _espeak_name(voice)
    scale = float(formant_scale)
    if scale != 1.0:
        rate_wpm = min(450, max(80, round(rate_wpm / scale)))
        pitch = min(99, max(0, round(pitch - 50 * math.log2(scale))))
    with _LOCK, _Espeak() as es:
        raw = es.speak(
            name, text, int(rate_wpm), int(pitch), int(pitch_range), int(word_gap)
        )
        rate = es.rate
    if not raw:
        raise SynthesisError(f"espeak-ng produced no audio for {text!r} ({voice})")
    samples = np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0
    if scale != 1.0:
        samples = np.clip(to_mono_16k(samples, rate * scale, voice), -1.0, 1.0)
        return trim_silence(samples.astype(np.float32), pad_ms)
    return trim_silence(to_mono_16k(samples, rate, f"espeak-ng {voice}"), pad_ms)


def phonemize(words: Sequence[str], voice: str = "en-us") -> list[str]:
    """How espeak-ng would say each of `words`, in IPA with stress marks.

    One library load for the whole list (about 30 us a word). Clauses are
    joined by a space, so a word espeak reads as several ("xvi" -> "roman
    sixteen") comes back with spaces inside.

    Args:
        words: texts, each phonemized on its own.
        voice: a name from `list_voices()`; its accent picks the pronunciation.
    Returns:
        One IPA string per word, e.g. "hello" -> "həlˈoʊ".
    Raises:
        ValueError: unknown voice.
        SynthesisError: espeak-ng is missing.
    """
    name = _espeak_name(voice)
    with _LOCK, _Espeak() as es:
        es.set_voice(name)
        return [es.phonemes(w) if w.strip() else "" for w in words]
