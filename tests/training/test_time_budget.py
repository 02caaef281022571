"""`train.max_minutes`: training stops after the step that spends the budget,
with a checkpoint of that step (not of the epoch's end), and resumes there."""

import json

import keras
import numpy as np
import pytest

from asr.config import ConfigError, load_config
from asr.training.backup import Backup, BackupStore, Position
from asr.training.callbacks import TimeBudget
from asr.training.fit import fit
from tests.conftest import TINY, tiny_corpus


def test_budget_stops_after_the_step_that_spends_it_and_saves_that_step(tmp_path):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    m.compile(optimizer="adam", loss="mse")
    now = [0.0]
    tick = keras.callbacks.LambdaCallback(  # each step takes 25 s
        on_train_batch_end=lambda b, logs: now.__setitem__(0, now[0] + 25)
    )
    budget = TimeBudget(1.0, clock=lambda: now[0])
    store = BackupStore(tmp_path / "backup")
    backup = Backup(store, Position(), steps_per_epoch=4)
    steps = []
    count = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: steps.append(b)
    )
    history = m.fit(
        np.zeros((8, 3)),
        np.zeros((8, 2)),
        batch_size=2,
        epochs=2,
        callbacks=[tick, budget, backup, count],
        verbose=0,
    )
    assert steps == [0, 1, 2]  # 75 s >= 60 after the third step
    assert budget.spent and budget.steps == 3 and len(history.epoch) == 1
    meta = json.loads((store.read_dir / "training_metadata.json").read_text())
    assert (meta["epoch"], meta["batch"], meta["step"]) == (0, 3, 3)
    assert meta["steps_per_epoch"] == 4
    assert store.restore(m) == Position(0, 3)  # not the epoch's end


def test_negative_budget_is_a_config_error():
    with pytest.raises(ConfigError, match="train.max_minutes"):
        load_config(overrides=["train.max_minutes=-1"])


@pytest.mark.slow  # two tiny trainings: ~16 s on a loaded 2-core VM
def test_fit_with_a_spent_budget_stops_and_resumes_where_it_stopped(tmp_path):
    manifest = tiny_corpus(tmp_path)  # 8 clips, batch 4: 2 steps per epoch
    cfg = load_config(
        overrides=TINY
        + [
            f"data.train_manifest={manifest}",
            "train.epochs=3",
            "train.max_minutes=1e-9",  # spent by the first step
        ]
    )
    run = tmp_path / "run"
    fit(cfg, run, verbose=0)
    meta = json.loads((run / "backup" / "training_metadata.json").read_text())
    assert (meta["epoch"], meta["batch"]) == (0, 1)
    assert (run / "model.keras").exists() and (run / "last.keras").exists()
    fit(cfg, run, verbose=0)  # the rest of epoch 1, then the budget again
    meta = json.loads((run / "backup" / "training_metadata.json").read_text())
    assert (meta["epoch"], meta["batch"], meta["step"]) == (1, 0, 2)
    rows = (run / "history.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("0,")  # epoch 1 once
