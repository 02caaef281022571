import json

import keras
import numpy as np
import pytest

from asr import text
from asr.checkpoint import load_keras_model
from asr.config import dump_yaml, load_config
from asr.model import build_model
from asr.training.averaging import (
    NBestSnapshots,
    average_models,
    average_snapshots,
    average_weights,
    read_index,
)
from asr.transcribe import load_model
from tests.conftest import TINY


def test_average_weights_means_floats_and_keeps_the_last_integers():
    a = [np.array([1.0, 2.0], np.float32), np.array(3, np.int64)]
    b = [np.array([3.0, 6.0], np.float32), np.array(7, np.int64)]
    out = average_weights([a, b])
    np.testing.assert_array_equal(out[0], [2.0, 4.0])
    assert out[0].dtype == np.float32 and out[1] == 7
    with pytest.raises(ValueError, match="not the same architecture"):
        average_weights([a, [np.zeros(3, np.float32), b[1]]])
    with pytest.raises(ValueError, match="nothing"):
        average_weights([])


def _dense():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    return model


def test_snapshots_keep_the_n_best_epochs_across_resumes(tmp_path):
    model = _dense()
    folder = tmp_path / "epochs"
    cb = NBestSnapshots(model, folder, n=2)
    values = [0.5, 0.3, 0.4, 0.6]
    weights = {}
    for epoch, v in enumerate(values[:2]):
        model.set_weights([w + 1.0 for w in model.get_weights()])
        weights[epoch + 1] = model.get_weights()
        cb.on_epoch_end(epoch, {"val_wer": v})
    # A resumed run reads what the first one kept.
    cb = NBestSnapshots(model, folder, n=2)
    for epoch, v in enumerate(values[2:], start=2):
        model.set_weights([w + 1.0 for w in model.get_weights()])
        weights[epoch + 1] = model.get_weights()
        cb.on_epoch_end(epoch, {"val_wer": v})
    assert [e["epoch"] for e in read_index(folder)] == [2, 3]
    assert sorted(p.name for p in folder.glob("*.h5")) == [
        "epoch_002.weights.h5",
        "epoch_003.weights.h5",
    ]
    assert average_snapshots(model, folder) == [2, 3]
    for got, w2, w3 in zip(model.get_weights(), weights[2], weights[3]):
        np.testing.assert_allclose(got, (w2 + w3) / 2, rtol=1e-6)


def _saved_run(folder, seed):
    cfg = load_config(overrides=TINY)
    keras.utils.set_random_seed(seed)
    network = build_model(cfg)
    folder.mkdir()
    network.save(folder / "model.keras")
    (folder / "config.yaml").write_text(dump_yaml(cfg))
    text.write_vocab(folder / "vocab.txt")
    return network.get_weights()


def test_average_models_writes_a_loadable_run_folder(tmp_path):
    wa = _saved_run(tmp_path / "a", 1)
    wb = _saved_run(tmp_path / "b", 2)
    path = average_models(
        [tmp_path / "a", tmp_path / "b" / "model.keras"], tmp_path / "avg"
    )
    got = load_keras_model(path).get_weights()
    for g, x, y in zip(got, wa, wb):
        np.testing.assert_allclose(
            g, (x.astype(np.float64) + y) / 2, rtol=1e-5, atol=1e-7
        )
    assert json.loads((tmp_path / "avg" / "averaged_from.json").read_text())[
        1
    ].endswith("b/model.keras")
    assert isinstance(
        load_model(tmp_path / "avg").transcribe(np.zeros(8000, np.float32)), str
    )
    with pytest.raises(ValueError, match="at least two"):
        average_models([tmp_path / "a"], tmp_path / "x")
