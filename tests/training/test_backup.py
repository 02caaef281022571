"""`asr.training.backup`: checkpoints that survive damage and signals."""

import json
import logging

import keras
import numpy as np
import pytest

from asr.interrupts import StopRequests
from asr.training.backup import (
    Backup,
    BackupStore,
    DamagedBackupError,
    Position,
    TrainingInterrupted,
)


def model(seed):
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    m.compile(optimizer="adam", loss="mse")
    m.optimizer.build(m.trainable_variables)
    return m


def saved_twice(tmp_path):
    """A backup holding checkpoints of step 4 (seed 1) and 8 (seed 2)."""
    store = BackupStore(tmp_path / "backup")
    store.save(model(1), Position(1, 0), 4)
    store.save(model(2), Position(1, 2), 8)
    return store


def weights_of(seed):
    return model(seed).get_weights()


def test_resume_loads_the_newest_and_keeps_two(tmp_path):
    store = saved_twice(tmp_path)
    store.save(model(3), Position(2, 0), 12)
    names = sorted(p.name for p in store.read_dir.iterdir())
    assert names == [
        "ckpt-000000008.json",
        "ckpt-000000008.weights.h5",
        "ckpt-000000012.json",
        "ckpt-000000012.weights.h5",
        "training_metadata.json",
    ]
    m = model(0)
    assert store.restore(m) == Position(2, 0)
    for a, b in zip(m.get_weights(), weights_of(3), strict=True):
        np.testing.assert_array_equal(a, b)


def _truncate(p):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _empty(p):
    p.write_bytes(b"")


def _other(p):
    other = "ckpt-000000004" + p.name.removeprefix("ckpt-000000008")
    data = p.with_name(other).read_bytes()
    p.write_bytes(data if p.suffix == ".h5" else b'["not", "a", "checkpoint"]')


@pytest.mark.parametrize("damage", [_truncate, _empty, _other])
@pytest.mark.parametrize("which", ["weights.h5", "json"])
def test_damaged_newest_checkpoint_falls_back_naming_it(
    tmp_path, caplog, damage, which
):
    store = saved_twice(tmp_path)
    damage(store.read_dir / f"ckpt-000000008.{which}")
    m = model(0)
    with caplog.at_level(logging.WARNING):
        assert store.restore(m) == Position(1, 0)
    assert (
        f"{store.read_dir / 'ckpt-000000008.json'}: damaged checkpoint" in caplog.text
    )
    for a, b in zip(m.get_weights(), weights_of(1), strict=True):
        np.testing.assert_array_equal(a, b)


def test_all_checkpoints_damaged_is_an_error_not_a_fresh_start(tmp_path):
    store = saved_twice(tmp_path)
    for p in store.read_dir.glob("*.weights.h5"):
        p.write_bytes(b"\0" * 10)
    with pytest.raises(DamagedBackupError, match="no usable checkpoint.*ckpt-"):
        store.restore(model(0))


def test_weights_without_their_json_are_ignored(tmp_path):
    store = saved_twice(tmp_path)
    (store.read_dir / "ckpt-000000008.json").unlink()  # killed between the writes
    assert store.restore(model(0)) == Position(1, 0)
    assert BackupStore(tmp_path / "empty").restore(model(0)) == Position()


def test_legacy_backup_resumes(tmp_path):
    folder = tmp_path / "backup"
    folder.mkdir()
    model(5).save_weights(folder / "latest.weights.h5")
    (folder / "training_metadata.json").write_text('{"epoch": 3, "batch": 0}')
    m = model(0)
    assert BackupStore(folder).restore(m) == Position(3, 0)
    np.testing.assert_array_equal(m.get_weights()[0], weights_of(5)[0])


def test_signal_saves_the_step_and_stops(tmp_path):
    m = model(1)
    store = BackupStore(tmp_path / "backup")
    stop = StopRequests()
    x, y = np.zeros((8, 3)), np.zeros((8, 2))
    signal = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: (
            setattr(stop, "requested", "SIGTERM") if b == 1 else None
        )
    )
    backup = Backup(store, Position(), steps_per_epoch=4, stop=stop)
    with pytest.raises(TrainingInterrupted, match="SIGTERM at epoch 1, step 2 of 4"):
        m.fit(x, y, batch_size=2, epochs=2, callbacks=[signal, backup], verbose=0)
    meta = json.loads((store.read_dir / "training_metadata.json").read_text())
    assert (meta["epoch"], meta["batch"]) == (0, 2)
    again = model(0)
    assert store.restore(again) == Position(0, 2)
    assert int(again.optimizer.iterations.numpy()) == 2  # the optimizer's state too
