"""Shared fixtures. Slow tests run only with --run-slow (as keras-hub's --run_large)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# A seconds-fast training config for tests: --set items over the defaults.
TINY = [
    "model.rnn_units=8",
    "model.rnn_layers=1",
    "model.conv_filters=[2,2]",
    "data.batch_size=4",
    "data.num_buckets=1",
    "train.warmup_steps=2",
]


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def run_script(name: str, *args: str, timeout: float = 120):
    """Runs `scripts/NAME` with this Python; the finished process (text
    output captured)."""
    script = Path(__file__).resolve().parents[1] / "scripts" / name
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def speechlike(seconds: float, seed: int = 0, sr: int = 16000) -> np.ndarray:
    """Harmonic tones with a moving pitch and amplitude envelope plus a little
    noise: cheap audio whose spectrum changes over time, like speech."""
    r = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t + r.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    wave = sum(np.sin(k * phase) / k for k in range(1, 6))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t + r.uniform(0, 6)) ** 2
    return (0.1 * wave * env + 0.005 * r.standard_normal(len(t))).astype(np.float32)


def tiny_corpus(folder, n: int = 8, seconds: float = 0.5):
    """`n` speech-like clips under `folder` with alternating "ab" / "ba"
    transcripts, and their manifest `folder/train.jsonl` (returned)."""
    import soundfile as sf

    from asr.manifest import Utterance, write_manifest

    rows = []
    for i in range(n):
        path = folder / f"u{i}.wav"
        sf.write(path, speechlike(seconds, seed=i), 16000)
        rows.append(Utterance(str(path), seconds, ["ab", "ba"][i % 2]))
    write_manifest(folder / "train.jsonl", rows)
    return folder / "train.jsonl"


def _collapse_ctc_path(path) -> tuple[int, ...]:
    out = []
    prev = None
    for s in path:
        if s != prev and s != 0:  # blank
            out.append(s)
        prev = s
    return tuple(out)


def brute_force_ctc(log_probs: np.ndarray) -> dict[tuple[int, ...], float]:
    """CTC by enumeration: the log-probability of every label sequence of a
    (frames, vocab) log-prob matrix, summing all vocab^frames paths."""
    frames, vocab = log_probs.shape
    probs: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(vocab), repeat=frames):
        p = np.exp(sum(log_probs[t, s] for t, s in enumerate(path)))
        key = _collapse_ctc_path(path)
        probs[key] = probs.get(key, 0.0) + p
    return {k: float(np.log(p)) for k, p in probs.items()}
