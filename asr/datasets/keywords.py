"""Manifests for a keyword classifier in the Speech Commands style.

`prepare_keywords(out, keywords, sources)` writes one manifest per split,
`OUT/<split>.jsonl`, whose `text` is a class label (`model.head: classifier`):

- a keyword: every source row whose normalised transcript is exactly that
  word (`source: "keyword"`; Speech Commands, FSDD, `asr prepare synthetic
  --texts digits`), as it is;
- `_unknown_`: speech that is no keyword. Half from the split's source rows
  whose transcript has no keyword and no word that sounds like one ("to",
  "for", "won", "ate"), cut to at most `clip_seconds` at a random offset (a row
  with `offset`; `source: "unknown_real"`), the rest single words spoken by
  espeak-ng (`source: "unknown_synthetic"`): words of the closed synthetic
  vocabulary (`asr.datasets.sentences`) but those, in the voices of the
  split's share of the synthetic voice partition
  (`asr.datasets.voices.split_voices`: "train" -> train voices, "test" ->
  test voices, any other split -> dev voices), `OUT/unknown/<split>/*.flac`.
  Without real rows all are synthetic; with `synthetic=False`, all real.
- `_silence_`: `clip_seconds` clips written to `OUT/silence/<split>/*.wav`:
  crops of the noise files at a random offset and RMS level (-65 to -25 dBFS;
  `source: "silence_noise"`), digital zeros (`"silence_zeros"`) and a faint
  white-noise floor (-90 to -60 dBFS, `"silence_floor"`), in shares 3:1:1
  (1:1 zeros and floor without noise files).

`unknown_fraction` and `silence_fraction` are shares of the rows written
(Speech Commands uses about 10 % each). Everything follows from `seed`; a
rerun reuses the synthetic clips already on disk and rewrites the rest.
`OUT/metadata.json` holds the classes and the rows per split and source.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from asr.audio import AUDIO_EXTENSIONS, SAMPLE_RATE, load_audio, save_audio
from asr.classification import SILENCE, UNKNOWN
from asr.files import atomic_write_text
from asr.manifest import Utterance, read_manifest, write_manifest
from asr.text import normalise

logger = logging.getLogger(__name__)

DIGITS = tuple("zero one two three four five six seven eight nine".split())
# Words heard as a keyword: never `_unknown_` examples.
SOUNDS_LIKE = {
    "zero": ("oh",),
    "one": ("won", "wan"),
    "two": ("to", "too"),
    "four": ("for", "fore"),
    "eight": ("ate",),
    "nine": ("nein",),
}
NOISE_LEVEL_DBFS = (-65.0, -25.0)
FLOOR_LEVEL_DBFS = (-90.0, -60.0)
_VERSION = 1  # bump when the audio for the same parameters changes


def keyword_classes(keywords: Sequence[str]) -> tuple[str, ...]:
    """The classifier's classes: the keywords, `_unknown_`, `_silence_`."""
    return (*keywords, UNKNOWN, SILENCE)


def _blocked_words(keywords: Sequence[str]) -> set[str]:
    return set(keywords) | {w for k in keywords for w in SOUNDS_LIKE.get(k, ())}


def unknown_words(keywords: Sequence[str]) -> list[str]:
    """Single words spoken for synthetic `_unknown_` clips: the closed
    synthetic vocabulary without the keywords and their sound-alikes, sorted."""
    from asr.datasets.sentences import closed_vocabulary

    blocked = _blocked_words(keywords)
    return sorted(w for w in closed_vocabulary() if " " not in w and w not in blocked)


def noise_files(folder: str | os.PathLike) -> list[Path]:
    """Audio files under `folder` (recursively), sorted.

    Raises:
        FileNotFoundError: no such folder, or no audio in it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: noise folder not found")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise FileNotFoundError(
            f"{folder}: no noise audio in this folder ({', '.join(AUDIO_EXTENSIONS)})"
        )
    return files


def _level(wave: np.ndarray, dbfs: float) -> np.ndarray:
    """`wave` scaled to an RMS of `dbfs` (peaks kept under 1)."""
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
    gain = 10 ** (dbfs / 20) / max(rms, 1e-9)
    gain = min(gain, 0.99 / max(float(np.abs(wave).max()), 1e-9))
    return (wave * gain).astype(np.float32)


def silence_clip(
    kind: str, rng: random.Random, samples: int, noises: Sequence[np.ndarray] = ()
) -> np.ndarray:
    """One (samples,) float32 `_silence_` clip of `kind` "noise" (a crop of
    one of `noises`, tiled if short), "zeros" or "floor"."""
    if kind == "zeros":
        return np.zeros(samples, np.float32)
    if kind == "floor":
        nrng = np.random.default_rng(rng.getrandbits(32))
        white = nrng.standard_normal(samples).astype(np.float32)
        return _level(white, rng.uniform(*FLOOR_LEVEL_DBFS))
    if kind != "noise" or not noises:
        raise ValueError(f"silence kind {kind!r} needs noise files" if noises else kind)
    noise = noises[rng.randrange(len(noises))]
    if len(noise) < samples:
        noise = np.tile(noise, -(-samples // len(noise)))
    start = rng.randrange(len(noise) - samples + 1)
    return _level(noise[start : start + samples], rng.uniform(*NOISE_LEVEL_DBFS))


def _voice_split(split: str) -> str:
    return split if split in ("train", "test") else "dev"


def _synthetic_jobs(out: Path, split: str, n: int, words: list[str], seed: int):
    """The synthesis jobs of `n` single-word clips of `split`."""
    from asr.datasets.clips import ClipJob
    from asr.datasets.espeak import list_voices
    from asr.datasets.synthetic import LEVEL_DBFS, PITCH, PITCH_RANGE, RATE_WPM
    from asr.datasets.voices import split_voices

    voices = split_voices(list_voices())[_voice_split(split)]
    rng = random.Random(f"asr-keywords:{seed}:{split}:synthetic")
    jobs = []
    for i in range(n):
        word, voice = rng.choice(words), rng.choice(voices)
        rate, pitch = rng.randint(*RATE_WPM), rng.randint(*PITCH)
        pitch_range = rng.randint(*PITCH_RANGE)
        level = round(rng.uniform(*LEVEL_DBFS), 1)
        params = [_VERSION, word, voice, rate, pitch, pitch_range, level]
        digest = hashlib.sha1(json.dumps(params).encode()).hexdigest()[:10]
        path = out / "unknown" / split / f"{split}-{i:05d}-{digest}.flac"
        jobs.append(
            ClipJob(i, split, str(path), word, voice, rate, pitch, pitch_range, level)
        )
    return jobs


def _real_unknown(
    rows: list[Utterance], n: int, clip_seconds: float, rng: random.Random
) -> list[Utterance]:
    """`n` (or all, if fewer) of `rows` as `_unknown_` rows, each cut to at most
    `clip_seconds` at a random offset."""
    chosen = rng.sample(rows, min(n, len(rows)))
    out = []
    for row in chosen:
        extra = {k: v for k, v in row.extra if k != "source"}
        duration = row.duration
        if duration > clip_seconds:
            offset = float(extra.get("offset", 0.0))
            offset += rng.uniform(0.0, duration - clip_seconds)
            extra["offset"] = round(offset, 4)
            duration = clip_seconds
        extra["source"] = "unknown_real"
        extra["transcript"] = row.text
        out.append(
            Utterance(
                row.audio_filepath, round(duration, 4), UNKNOWN, tuple(extra.items())
            )
        )
    return out


def prepare_keywords(
    out: str | os.PathLike,
    keywords: Sequence[str],
    sources: Mapping[str, Sequence[str | os.PathLike]],
    noise_dir: str | os.PathLike | None = None,
    unknown_fraction: float = 0.1,
    silence_fraction: float = 0.1,
    synthetic: bool = True,
    clip_seconds: float = 1.0,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Writes `OUT/<split>.jsonl` for each split of `sources` (module docstring).

    Args:
        out: output folder.
        keywords: the keyword classes, e.g. `DIGITS`.
        sources: split name -> manifests whose rows give the keywords and the
            real `_unknown_` speech of that split.
        noise_dir: folder of noise audio for `_silence_` crops (e.g. Speech
            Commands' `_background_noise_`, `asr prepare noise`); None: zeros
            and a noise floor only.
        unknown_fraction, silence_fraction: shares of the rows written.
        synthetic: synthesise `_unknown_` words with espeak-ng.
        clip_seconds: length of `_silence_` clips, longest `_unknown_` cut.
        seed: fixes every choice.
        workers: synthesis processes (default: all cores).
        progress: show a progress bar (only when stderr is a terminal).
    Returns:
        Split name -> manifest path.
    Raises:
        ValueError: no keywords, a keyword that is not one normalised word, a
            label clash, fractions outside [0, 1) or summing to 1 or more.
        ManifestError: a source manifest is missing.
        FileNotFoundError: `noise_dir` is missing or holds no audio.
        SynthesisError: `synthetic` and espeak-ng is missing or fails.
    """
    keywords = list(keywords)
    if not keywords:
        raise ValueError("prepare_keywords: no keywords")
    for k in keywords:
        if normalise(k) != k or " " in k:
            raise ValueError(
                f"prepare_keywords: keyword {k!r} is not one lowercase word"
            )
    if len(set(keywords)) != len(keywords):
        raise ValueError(f"prepare_keywords: repeated keywords in {keywords}")
    if not (0 <= unknown_fraction < 1 and 0 <= silence_fraction < 1) or (
        unknown_fraction + silence_fraction >= 1
    ):
        raise ValueError(
            "prepare_keywords: unknown_fraction and silence_fraction must be in "
            f"[0, 1) with a sum under 1, got {unknown_fraction}, {silence_fraction}"
        )
    if not clip_seconds > 0 or not math.isfinite(clip_seconds):
        raise ValueError(f"prepare_keywords: clip_seconds={clip_seconds} must be > 0")
    out = Path(out)
    noises = (
        [load_audio(p) for p in noise_files(noise_dir)] if noise_dir is not None else []
    )
    blocked = _blocked_words(keywords)
    words = unknown_words(keywords) if synthetic else []
    samples = round(clip_seconds * SAMPLE_RATE)
    silence_kinds = ["noise"] * 3 + ["zeros", "floor"] if noises else ["zeros", "floor"]

    plans: dict[str, dict] = {}
    jobs = []
    for split, manifests in sources.items():
        rows = [r for m in manifests for r in read_manifest(m, bad_lines=[])]
        rng = random.Random(f"asr-keywords:{seed}:{split}")
        kept, real = [], []
        for row in rows:
            said = normalise(row.text)
            if said in keywords:
                extra = tuple((k, v) for k, v in row.extra if k != "source")
                kept.append(
                    Utterance(
                        row.audio_filepath,
                        row.duration,
                        said,
                        (*extra, ("source", "keyword")),
                    )
                )
            elif said and not blocked.intersection(said.split()):
                real.append(row)
        total = len(kept) / (1 - unknown_fraction - silence_fraction)
        n_unknown = round(total * unknown_fraction)
        n_silence = round(total * silence_fraction)
        share = n_unknown if not words else -(-n_unknown // 2)
        unknown = _real_unknown(real, share, clip_seconds, rng)
        n_synth = n_unknown - len(unknown) if words else 0
        split_jobs = (
            _synthetic_jobs(out, split, n_synth, words, seed) if n_synth else []
        )
        jobs += split_jobs
        if len(unknown) + n_synth < n_unknown:
            logger.warning(
                "%s: %d of %d _unknown_ rows (no more non-keyword speech in the "
                "sources; synthetic words are off)",
                split,
                len(unknown),
                n_unknown,
            )
        silence = []
        for i in range(n_silence):
            kind = rng.choice(silence_kinds)
            path = out / "silence" / split / f"{split}-{i:05d}.wav"
            save_audio(path, silence_clip(kind, rng, samples, noises))
            silence.append(
                Utterance(
                    str(path),
                    round(samples / SAMPLE_RATE, 4),
                    SILENCE,
                    (("source", f"silence_{kind}"),),
                )
            )
        plans[split] = {"rows": kept + unknown + silence}

    if jobs:
        from asr.datasets.clips import run_jobs

        n = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
        logger.info("%s: %d synthetic _unknown_ words on %d workers", out, len(jobs), n)
        ordered = [dataclasses.replace(j, index=i) for i, j in enumerate(jobs)]
        frames = run_jobs(ordered, n, progress)
        for i, job in enumerate(ordered):
            plans[job.split]["rows"].append(
                Utterance(
                    job.path,
                    round(frames[i] / SAMPLE_RATE, 4),
                    UNKNOWN,
                    (
                        ("source", "unknown_synthetic"),
                        ("voice", job.voice),
                        ("transcript", job.text),
                    ),
                )
            )

    manifests, summary = {}, {}
    for split, plan in plans.items():
        rng = random.Random(f"asr-keywords:{seed}:{split}:order")
        rows = plan["rows"]
        rng.shuffle(rows)
        manifests[split] = out / f"{split}.jsonl"
        write_manifest(manifests[split], rows)
        summary[split] = {
            "rows": len(rows),
            "by_label": dict(sorted(Counter(r.text for r in rows).items())),
            "by_source": dict(
                sorted(Counter(dict(r.extra)["source"] for r in rows).items())
            ),
            "seconds": round(sum(r.duration for r in rows), 2),
        }
        logger.info("%s: %d rows", manifests[split], len(rows))
    metadata = {
        "version": _VERSION,
        "classes": list(keyword_classes(keywords)),
        "sources": {s: [str(m) for m in ms] for s, ms in sources.items()},
        "noise_dir": str(noise_dir) if noise_dir is not None else None,
        "unknown_fraction": unknown_fraction,
        "silence_fraction": silence_fraction,
        "synthetic": synthetic,
        "clip_seconds": clip_seconds,
        "seed": seed,
        "splits": summary,
    }
    atomic_write_text(out / "metadata.json", json.dumps(metadata, indent=1) + "\n")
    return manifests
