"""`asr demo`: the bundled models on speech they never heard, and (`--train`) a
small model trained from scratch on a freshly synthesised corpus.

The clips are spoken by espeak-ng voices held out of every split of the
synthetic corpus (`synthetic.held_out_voices`), with sentences drawn from a
seed the corpus never uses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.metrics import error_rates

logger = logging.getLogger(__name__)

DEMO_SEED = "demo-2026"  # sentence stream no corpus split uses
DIGITS = "zero one two three four five six seven eight nine".split()


@dataclass
class ModelResult:
    model: str
    refs: list[str]
    hyps: list[str]
    wer: float
    cer: float
    rtf: float


@dataclass
class DemoClips:
    texts: list[str]
    voices: list[str]
    waves: list[np.ndarray] = field(repr=False)


def make_clips(n: int = 5, digits: bool = False, seed: int = 0) -> DemoClips:
    """`n` sentences (or digit strings) spoken by held-out voices."""
    from asr.datasets.synthetic import generate_sentences, held_out_voices, synthesize

    rng = np.random.default_rng(seed)
    voices = held_out_voices()
    picked = [voices[i] for i in rng.choice(len(voices), n, replace=len(voices) < n)]
    if digits:
        texts = [str(rng.choice(DIGITS)) for _ in range(n)]  # one word, as trained
    else:
        texts = generate_sentences(n, seed=f"{DEMO_SEED}-{seed}")
    waves = [
        synthesize(
            t,
            voice=v,
            rate_wpm=int(rng.integers(140, 190)),
            pitch=int(rng.integers(35, 65)),
        )
        for t, v in zip(texts, picked)
    ]
    return DemoClips(texts, picked, waves)


def keyword_clips(digits: DemoClips, seed: int = 0) -> DemoClips:
    """`digits` plus what a keyword model must refuse: a second of quiet room
    noise (`_silence_`) and a sentence by a held-out voice (`_unknown_`)."""
    rng = np.random.default_rng(seed)
    quiet = (10 ** (-70 / 20) * rng.standard_normal(16000)).astype(np.float32)
    sentence = make_clips(1, seed=seed)
    return DemoClips(
        [*digits.texts, "_silence_", "_unknown_"],
        [*digits.voices, "room noise, -70 dBFS", sentence.voices[0]],
        [*digits.waves, quiet, sentence.waves[0]],
    )


def with_quiet(
    clips: DemoClips, seconds: float = 1.0, level_dbfs: float = -60.0, seed: int = 0
) -> DemoClips:
    """`clips` with `seconds` of quiet room noise (white, `level_dbfs` RMS)
    before and after each: what a recording made by a person starts and ends
    with, and what the first bundled models could not bear."""
    from asr.mixing import pad_silence

    rng = np.random.default_rng(seed)
    pad = round(seconds * 16000)
    return DemoClips(
        clips.texts,
        [f"{v}, {seconds:g} s of quiet around" for v in clips.voices],
        [pad_silence(w, pad, level_dbfs, rng) for w in clips.waves],
    )


ASSETS_DIR = Path(__file__).resolve().parent / "assets"
REAL_CLIPS = ASSETS_DIR / "speechocean762"  # CC BY 4.0; see ATTRIBUTION.md there


def real_clips(folder: Path = REAL_CLIPS) -> DemoClips:
    """The bundled real recordings (`clips.tsv`: file, text, speaker, gender,
    age): read English by speakers no bundled model was trained on."""
    from asr.audio import load_audio

    lines = (folder / "clips.tsv").read_text(encoding="utf-8").splitlines()
    texts, labels, waves = [], [], []
    for line in lines[1:]:
        name, text, speaker, gender, age = line.split("\t")
        texts.append(text)
        labels.append(f"speaker {speaker}, {gender}, age {age}")
        waves.append(load_audio(folder / name))
    return DemoClips(texts, labels, waves)


def bundled_lm(name: str) -> Path | None:
    """The n-gram LM bundled beside a model (`lm.arpa`), if the `[lm]` extra
    that decodes with it is installed."""
    from asr.checkpoint import PRETRAINED_DIR

    path = PRETRAINED_DIR / name / "lm.arpa"
    try:
        import pyctcdecode  # noqa: F401
    except ImportError:
        return None
    return path if path.is_file() else None


def score_model(name: str, clips: DemoClips, lm: Path | None = None) -> ModelResult:
    """Transcribes the clips with a bundled model (offline or streaming);
    offline models decode greedily, or with beam search and `lm`."""
    from asr.transcribe import load_model

    recognizer = load_model(name)
    audio_seconds = sum(len(w) for w in clips.waves) / 16000
    if recognizer.cfg.model.bidirectional:
        options = {"lm": str(lm)} if lm else {}
        recognizer.transcribe_batch(clips.waves[:1], **options)  # trace, not timed
        t0 = time.perf_counter()
        hyps = recognizer.transcribe_batch(clips.waves, **options)
        if lm:
            name = f"{name} + {lm.name} (beam search)"
    else:
        from asr.streaming.recognizer import StreamingRecognizer

        stream = StreamingRecognizer(recognizer)
        stream.accept_waveform(clips.waves[0][:1600])
        stream.finalize()
        t0 = time.perf_counter()
        hyps = []
        for wave in clips.waves:
            for chunk in np.array_split(wave, max(1, len(wave) // 1600)):
                stream.accept_waveform(chunk)
            hyps.append(stream.finalize())
    rtf = (time.perf_counter() - t0) / audio_seconds
    rates = error_rates(clips.texts, hyps)
    return ModelResult(name, clips.texts, hyps, rates["wer"], rates["cer"], rtf)


def streaming_partials(
    name: str, wave: np.ndarray, chunk_ms: int = 100
) -> Iterator[tuple[float, str]]:
    """(seconds into the clip, partial text) each time the partial changes,
    then (-1, final text)."""
    from asr.streaming.recognizer import StreamingRecognizer
    from asr.transcribe import load_model

    stream = StreamingRecognizer(load_model(name), chunk_ms=chunk_ms)
    step = 16 * chunk_ms
    last = ""
    for start in range(0, len(wave), step):
        partial = stream.accept_waveform(wave[start : start + step])
        if partial != last:
            last = partial
            yield (start + step) / 16000, partial
    yield -1.0, stream.finalize()


def train_small(
    out_dir: str | Path, hours: float = 0.4, epochs: int = 12, verbose: int = 2
):
    """Synthesises a small corpus and trains a small model on it from scratch.
    Returns (history, run folder)."""
    from asr.config import load_config
    from asr.datasets.synthetic import prepare_synthetic
    from asr.training.fit import fit

    out_dir = Path(out_dir)
    data = prepare_synthetic(
        out_dir / "data", hours=hours, seed=7, progress=False, vocabulary="closed"
    )
    cfg = load_config(
        overrides=[
            "model.rnn_units=128",
            "model.rnn_layers=2",
            "model.conv_filters=[16,16]",
            f"data.train_manifest={data['train']}",
            f"data.val_manifest={data['dev']}",
            f"train.epochs={epochs}",
            "train.learning_rate=0.002",
            "train.warmup_steps=50",
            "train.val_max_utterances=100",
        ]
    )
    run = out_dir / "run"
    return fit(cfg, run, verbose=verbose), run
