"""Synthesis jobs: one espeak-ng or flite clip each, written as FLAC, in parallel.

    frames = run_jobs(jobs, workers=4, progress=True)   # {job.index: frames}

A `ClipJob` fixes everything about one clip (text, voice, prosody, level, path);
`run_jobs` synthesises each (`asr.datasets.espeak.synthesize`, or
`asr.datasets.flite.synthesize_flite` for a `flite:` voice), scales it to
its RMS level `level_dbfs` (peaks kept under 0.99) and saves it, unless a
complete 16 kHz mono clip is already at its path (so an interrupted run
resumes). Workers are spawned processes, so a calling script needs
`if __name__ == "__main__":`. Used by the synthetic corpus and the keyword
corpus's synthetic `_unknown_` words.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from asr.audio import SAMPLE_RATE, AudioLoadError, audio_info, save_audio
from asr.datasets.espeak import synthesize
from asr.datasets.flite import is_flite_voice, synthesize_flite


@dataclass(frozen=True)
class ClipJob:
    """One clip to synthesise; `index` keys its frame count in `run_jobs`."""

    index: int
    split: str
    path: str
    text: str
    voice: str
    rate_wpm: int
    pitch: int
    pitch_range: int
    level_dbfs: float
    word_gap: int = 0
    formant_scale: float = 1.0
    kind: str = ""  # open corpora: "template", "words" or "frames"


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


def _speak(job: ClipJob) -> np.ndarray:
    if is_flite_voice(job.voice):
        return synthesize_flite(
            job.text,
            job.voice,
            job.rate_wpm,
            job.pitch,
            formant_scale=job.formant_scale,
        )
    return synthesize(
        job.text,
        job.voice,
        job.rate_wpm,
        job.pitch,
        job.pitch_range,
        word_gap=job.word_gap,
        formant_scale=job.formant_scale,
    )


def make_clip(job: ClipJob) -> tuple[int, int]:
    """Writes one clip unless a complete one exists. Returns (index, frames)."""
    frames = _existing_frames(job.path)
    if frames is None:
        audio = _speak(job)
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        gain = 10 ** (job.level_dbfs / 20) / max(rms, 1e-6)
        gain = min(gain, 0.99 / max(float(np.abs(audio).max()), 1e-6))
        save_audio(job.path, (audio * gain).astype(np.float32))
        frames = len(audio)
    return job.index, frames


def run_jobs(jobs: list[ClipJob], workers: int, progress: bool) -> dict[int, int]:
    """Writes every job's clip on `workers` processes (1: in this one);
    returns {job.index: frames}. `progress`: a tqdm bar when stderr is a
    terminal."""
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
                index, n = make_clip(job)
                frames[index] = n
                bar.update()
        else:
            # spawn: safe even if the parent has started threads (TensorFlow).
            context = multiprocessing.get_context("spawn")
            chunk = max(1, min(16, len(jobs) // (workers * 8)))
            with context.Pool(workers) as pool:
                for index, n in pool.imap_unordered(make_clip, jobs, chunk):
                    frames[index] = n
                    bar.update()
    return frames
