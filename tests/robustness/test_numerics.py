"""A corrupt batch that makes the loss non-finite: training stops or skips it
as `train.nan_policy` says, names the batch's files, and the weights of the
last good step are the ones kept."""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest

import asr.training.fit
import asr.training.pipeline
from asr.config import load_config
from asr.training.callbacks import NonFiniteLossError
from asr.training.fit import fit
from tests.conftest import TINY as BASE
from tests.conftest import tiny_corpus

TINY = [
    *BASE,
    "data.shuffle_buffer=1",  # manifest order: the poison is in step 2
    "train.epochs=2",
]
POISON = "u5.wav"


class WeightsAfterEachStep(keras.callbacks.Callback):
    """Stands in for the learning-curve callback (the last one in `fit`)."""

    seen: list = []

    def __init__(self, *args, **kwargs):
        super().__init__()
        WeightsAfterEachStep.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append([w.copy() for w in self.model.network.get_weights()])


@pytest.fixture
def poisoned_corpus(tmp_path, monkeypatch):
    tiny_corpus(tmp_path)
    load = asr.training.pipeline.load_audio

    def corrupt(path, *segment):  # finite samples whose power overflows float32
        audio = load(path, *segment)
        return audio * np.float32(1e30) if str(path).endswith(POISON) else audio

    monkeypatch.setattr(asr.training.pipeline, "load_audio", corrupt)
    monkeypatch.setattr(asr.training.fit, "LearningCurvePlot", WeightsAfterEachStep)
    return tmp_path / "train.jsonl"


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_stop_policy_stops_naming_the_files_and_keeps_the_last_good_weights(
    poisoned_corpus, tmp_path, caplog
):
    cfg = load_config(
        overrides=TINY
        + [f"data.train_manifest={poisoned_corpus}", "train.nan_policy=stop"]
    )
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match=POISON) as e:
        fit(cfg, run, verbose=0)
    assert "step 2" in str(e.value) and str(run / "backup") in str(e.value)
    steps = WeightsAfterEachStep.seen
    assert len(steps) == 2  # stopped right after the bad step
    assert _same(steps[1], steps[0])  # which changed nothing
    kept = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert _same(kept.get_weights(), steps[0])
    assert all(np.isfinite(w).all() for w in steps[0])
    assert any(
        POISON in r.getMessage() and "stopping" in r.getMessage()
        for r in caplog.records
    )


def test_skip_policy_skips_the_step_naming_the_files_and_trains_on(
    poisoned_corpus, tmp_path, caplog
):
    cfg = load_config(
        overrides=TINY
        + [f"data.train_manifest={poisoned_corpus}", "train.nan_policy=skip"]
    )
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        fit(cfg, run, verbose=0)
    steps = WeightsAfterEachStep.seen
    assert len(steps) == 4  # two epochs of two steps
    assert _same(steps[1], steps[0]) and _same(steps[3], steps[2])  # skipped
    assert not _same(steps[2], steps[1])  # the good steps still train
    skipped = [
        r.getMessage() for r in caplog.records if "step skipped" in r.getMessage()
    ]
    assert len(skipped) == 2 and all(POISON in m for m in skipped)
    history = (run / "history.csv").read_text().splitlines()
    header = history[0].split(",")
    col = header.index("nonfinite_steps")
    assert [float(row.split(",")[col]) for row in history[1:]] == [1.0, 1.0]
    last = keras.saving.load_model(run / "last.keras", safe_mode=True)
    assert _same(last.get_weights(), steps[3])
    assert all(np.isfinite(w).all() for w in steps[3])
