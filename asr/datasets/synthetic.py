"""Synthetic English speech from espeak-ng (or flite): a corpus that needs no
download.

`prepare_synthetic(out, hours)` speaks generated sentences with many espeak-ng
voices and writes FLAC clips plus `OUT/train.jsonl`, `OUT/dev.jsonl` and
`OUT/test.jsonl`, speaking through `asr.datasets.espeak` the sentences of
`asr.datasets.sentences`.

Voices (`asr.datasets.voices`) are espeak-ng accents with timbre variants;
`split_voices` partitions variant families, so no dev, test or demo timbre is
heard in training (demo voices, `held_out_voices`, are in no split). The 8
accents are shared by all splits: too few to hold out.

Sentences never repeat across the three splits. `vocabulary="open"` (the
default) draws them from about 47,700 English words with realistic frequencies
(`asr.datasets.wordlist`): a fraction `old_fraction` (20%) of train sentences
come from the old template generator, the rest from the open word list; dev and
test sentences are all open and each holds at least one word that no train
sentence contains: a hash of the word and `word_seed` holds out about 2.5% of
the less frequent words for dev and as many for test (listed in
`OUT/held_out_words.dev.txt` and `.test.txt`). So test measures spelling of
unheard words, and dev, with other unheard words, can pick checkpoints for it.
`vocabulary="closed"` gives the former corpus, file for file: template
sentences (`generate_sentences`) of about 950 words. With `texts="digits"` each
clip says one digit word instead ("zero" .. "nine", as in Speech Commands /
FSDD), so digit models hear many voices; only voices are then disjoint across
splits (ten words cannot be).

Each utterance draws its voice, rate, pitch, pitch range and level at random
(closed and digits: 130-210 words/min, pitch and range 30-70). Open corpora
vary more: rate 120-220, pitch 20-80, range 15-85, a pause between words of
0-60 ms (half the clips none), and a vocal tract length factor of 0.87-1.15
(`synthesize(formant_scale=...)`), so each of the ~830 voices is heard with
many tract sizes. Everything follows from `seed`, so two runs write the same
files and manifests. Clips are synthesised in parallel over processes.

`engine="flite"` speaks the same kinds of sentences with flite's five voices
(`asr.datasets.flite`; recorded American and Scottish speakers, closer to
human speech than espeak-ng's formant synthesis) instead: too few voices to
hold out, so its splits share voices (never sentences), and no word gaps.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
from pathlib import Path

from asr.audio import SAMPLE_RATE
from asr.datasets.clips import ClipJob, run_jobs
from asr.datasets.espeak import SynthesisError, _catalog, list_voices, synthesize
from asr.datasets.flite import flite_version, flite_voices, is_flite_voice
from asr.datasets.sentences import (
    _sentence_stream,
    closed_vocabulary,
    generate_sentences,
)
from asr.datasets.texts import DIGITS, digit_stream, open_streams, tagged
from asr.datasets.voices import held_out_voices, split_voices

__all__ = [  # with what it re-exports, so one import serves a user
    "DIGITS",
    "ENGINES",
    "SPLITS",
    "SynthesisError",
    "VOCABULARIES",
    "generate_sentences",
    "held_out_voices",
    "list_voices",
    "prepare_synthetic",
    "split_voices",
    "synthesize",
]
from asr.datasets.wordlist import (
    N_WORDS,
    WordList,
    split_vocabulary,
    word_list,
    wordfreq_version,
)
from asr.files import atomic_write_text
from asr.manifest import Utterance, write_manifest

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
SPLIT_HOURS = {"train": 0.90, "dev": 0.05, "test": 0.05}  # fractions of `hours`
RATE_WPM = (130, 210)
PITCH = (30, 70)
PITCH_RANGE = (30, 70)
LEVEL_DBFS = (-28.0, -18.0)  # RMS level of a clip, drawn per utterance
_VERSION = 1  # bump when the audio for the same parameters changes
TEXTS = ("sentences", "digits")
ENGINES = ("espeak", "flite")
VOCABULARIES = ("open", "closed")
OLD_FRACTION = 0.2  # of open train sentences, from the template generator
# Open corpora: wider prosody, word gaps and vocal tract lengths.
OPEN_RATE_WPM = (120, 220)
OPEN_PITCH = (20, 80)
OPEN_PITCH_RANGE = (15, 85)
WORD_GAP = (1, 6)  # x 10 ms, in half the clips; none in the others
FORMANT_SCALE = (0.87, 1.15)  # log-uniform


def _estimate_seconds(text: str, rate_wpm: int, word_gap: int = 0) -> float:
    """Rough clip length, fitted on espeak-ng English clips with 150 ms padding."""
    gaps = 0.01 * word_gap * text.count(" ")
    return 0.48 + (0.0485 * len(text) + gaps) * 175 / rate_wpm


def _plan(
    out: Path,
    hours: float,
    seed: int,
    voices: dict[str, list[str]],
    texts: str = "sentences",
    words: dict[str, WordList] | None = None,
    old_fraction: float = OLD_FRACTION,
) -> list[ClipJob]:
    """Every utterance of every split, fixed by the arguments. `words` (train,
    dev and test vocabularies) makes an open corpus; None the closed one."""
    is_open = texts == "sentences" and words is not None
    if texts == "digits":
        streams = {s: tagged(digit_stream(f"{seed}:{s}")) for s in SPLITS}
    elif is_open:
        streams = open_streams(seed, old_fraction, words)
    else:
        streams = {s: tagged(_sentence_stream(f"{seed}:{s}")) for s in SPLITS}
    taken: set[str] = set()
    jobs: list[ClipJob] = []
    # dev and test first: train skips their sentences, never the reverse.
    for split in ("dev", "test", "train"):
        rng = random.Random(f"asr-synthetic:{seed}:{split}:params")
        budget = hours * 3600 * SPLIT_HOURS[split]
        total, count = 0.0, 0
        while count == 0 or total < budget:
            text, kind = next(streams[split])
            if texts == "sentences":  # splits never share a sentence
                if text in taken:
                    continue
                taken.add(text)
            voice = rng.choice(voices[split])
            if is_open:
                rate, pitch = rng.randint(*OPEN_RATE_WPM), rng.randint(*OPEN_PITCH)
                pitch_range = rng.randint(*OPEN_PITCH_RANGE)
            else:
                rate, pitch = rng.randint(*RATE_WPM), rng.randint(*PITCH)
                pitch_range = rng.randint(*PITCH_RANGE)
            level = round(rng.uniform(*LEVEL_DBFS), 1)
            # The name changes with anything that changes the audio, so a clip on
            # disk is reused only when it is exactly the one asked for.
            params: list = [_VERSION, text, voice, rate, pitch, pitch_range, level]
            gap, scale = 0, 1.0
            if is_open:
                gap = rng.randint(*WORD_GAP) if rng.random() < 0.5 else 0
                gap = 0 if is_flite_voice(voice) else gap  # flite has no word gap
                low, high = (math.log(x) for x in FORMANT_SCALE)
                scale = round(math.exp(rng.uniform(low, high)), 3)
                params += [gap, scale]
            digest = hashlib.sha1(json.dumps(params).encode()).hexdigest()[:10]
            name = f"{split}-{count:06d}-{digest}.flac"
            path = out / "audio" / split / f"{count // 1000:03d}" / name
            jobs.append(
                ClipJob(
                    index=len(jobs),
                    split=split,
                    path=str(path),
                    text=text,
                    voice=voice,
                    rate_wpm=rate,
                    pitch=pitch,
                    pitch_range=pitch_range,
                    level_dbfs=level,
                    word_gap=gap,
                    formant_scale=scale,
                    kind=kind if is_open else "",
                )
            )
            total += _estimate_seconds(text, rate, gap)
            count += 1
    return jobs


def prepare_synthetic(
    out: str | os.PathLike,
    hours: float = 1.0,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    voice_seed: int = 0,
    language_prefix: str = "en",
    texts: str = "sentences",
    vocabulary: str = "open",
    old_fraction: float = OLD_FRACTION,
    word_seed: int = 0,
    engine: str = "espeak",
) -> dict[str, Path]:
    """Writes a synthetic corpus: FLAC clips and one manifest per split.

    Layout: `OUT/audio/<split>/NNN/<split>-NNNNNN-<hash>.flac`, `OUT/train.jsonl`,
    `OUT/dev.jsonl`, `OUT/test.jsonl` (relative paths, extra keys `voice`,
    `rate_wpm`, `pitch`, `pitch_range`; open corpora also `word_gap`,
    `formant_scale` and `text_kind`: "template", "words" or "frames"),
    `OUT/metadata.json` (voices per split, held-out demo voices, hours, word
    counts), for open corpora `OUT/held_out_words.dev.txt` and `.test.txt` (one
    word a line), and `OUT/.completed`. Splits take ~90/5/5% of `hours`
    (estimated before synthesis, so totals are approximate) and share no voice
    family and no sentence. Existing complete clips are reused; a rerun with the
    same arguments after `.completed` is written does nothing. Workers are
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
        texts: "sentences" (generated English) or "digits" (one digit word per
            clip; splits then share words but still no voice).
        vocabulary: for sentences, "open" (wordfreq words, held-out words in
            dev and test) or "closed" (the template generator alone, the corpus
            of earlier versions).
        old_fraction: open only: share of train sentences from the template
            generator, 0-1.
        word_seed: open only: fixes the held-out words; keep it fixed so they
            stay unheard by every model, whatever `seed`.
        engine: "espeak" (espeak-ng's ~830 voices, disjoint across splits) or
            "flite" (its 5 voices in every split; needs the `flite` program).
    Returns:
        {"train", "dev", "test"} -> manifest paths.
    Raises:
        ValueError: `hours` not positive, unknown `texts`, `vocabulary` or
            `engine`, or `old_fraction` outside [0, 1].
        ImportError: an open vocabulary without wordfreq installed.
        SynthesisError: espeak-ng (or flite) is missing or fails.
    """
    if not hours > 0 or not math.isfinite(hours):
        raise ValueError(f"prepare_synthetic: hours={hours} must be positive")
    if texts not in TEXTS:
        raise ValueError(f"prepare_synthetic: texts={texts!r}; known: {TEXTS}")
    if vocabulary not in VOCABULARIES:
        raise ValueError(
            f"prepare_synthetic: vocabulary={vocabulary!r}; known: {VOCABULARIES}"
        )
    if engine not in ENGINES:
        raise ValueError(f"prepare_synthetic: engine={engine!r}; known: {ENGINES}")
    if not 0 <= old_fraction <= 1:
        raise ValueError(
            f"prepare_synthetic: old_fraction={old_fraction} outside [0, 1]"
        )
    is_open = texts == "sentences" and vocabulary == "open"
    out = Path(out)
    manifests = {s: out / f"{s}.jsonl" for s in SPLITS}
    settings = {
        "version": _VERSION,
        "hours": hours,
        "seed": seed,
        "voice_seed": voice_seed,
        "language_prefix": language_prefix,
        **({"texts": texts} if texts != "sentences" else {}),  # old markers hold
        **({"engine": engine} if engine != "espeak" else {}),
    }
    if is_open:
        settings.update(
            vocabulary="open",
            old_fraction=old_fraction,
            word_seed=word_seed,
            wordfreq=wordfreq_version(),  # its data fixes the word list
        )
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

    if engine == "flite":
        every = flite_voices()  # raises when flite is missing, before any work
        voices = {"train": every, "dev": every, "test": every, "demo": []}
    else:
        voices = split_voices(list_voices(language_prefix), voice_seed)
    words = None
    if is_open:
        logger.info("%s: building the open vocabulary", out)
        words = split_vocabulary(word_list(), word_seed, keep=closed_vocabulary())
    jobs = _plan(out, hours, seed, voices, texts, words, old_fraction)
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    logger.info("%s: %d utterances on %d workers", out, len(jobs), workers)
    frames = run_jobs(jobs, workers, progress)

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
                    *(
                        (
                            ("word_gap", job.word_gap),
                            ("formant_scale", job.formant_scale),
                            ("text_kind", job.kind),
                        )
                        if is_open
                        else ()
                    ),
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
            "distinct_words": len({w for r in rows for w in r.text.split()}),
        }
    open_facts = {}
    if words is not None:
        for split in ("dev", "test"):
            atomic_write_text(
                out / f"held_out_words.{split}.txt",
                "".join(w + "\n" for w in words[split].words),
            )
        open_facts = {
            "vocabulary": (
                f"{sum(len(w.words) for w in words.values())} words of wordfreq "
                f"{settings['wordfreq']} (top {N_WORDS}, spellable, spoken as words); "
                f"train {len(words['train'].words)}, held out for dev "
                f"{len(words['dev'].words)} and test {len(words['test'].words)} "
                f"(held_out_words.<split>.txt, word_seed={word_seed}); every dev "
                "and test sentence has at least one of its split's held-out words"
            ),
        }
    metadata = {
        **settings,
        **(
            {"flite": flite_version()}
            if engine == "flite"
            else {"espeak_ng": _catalog().version}
        ),
        "sample_rate": SAMPLE_RATE,
        "voice_partition": (
            "flite's voices are shared by every split (too few to hold out)"
            if engine == "flite"
            else "variant families (same formant table or name up to digits) are "
            f"split with split_voices(list_voices({language_prefix!r}), "
            f"seed={voice_seed}); plain voices and the default vocal tract are "
            "train-only; accents are shared; 'demo' voices are in no split"
        ),
        **open_facts,
        "splits": summary,
        "demo_voices": voices["demo"],
    }
    atomic_write_text(out / "metadata.json", json.dumps(metadata, indent=1) + "\n")
    atomic_write_text(marker, json.dumps(settings, sort_keys=True))
    logger.info(
        "%s: %s", out, ", ".join(f"{s} {summary[s]['hours']:.3f} h" for s in SPLITS)
    )
    return manifests
