"""Model files (`asr.checkpoint`): finding, loading, saving and packing."""

import keras
import numpy as np
import pytest

from asr import text
from asr.checkpoint import (
    ModelNotFoundError,
    bundled_models,
    load_network,
    pack_model,
    resolve_model_path,
    save_model,
)
from asr.config import dump_yaml, load_config
from asr.model import build_model, make_predict_fn
from tests.conftest import speechlike

TINY = ["model.rnn_units=8", "model.rnn_layers=1", "model.conv_filters=[2,2]"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    keras.utils.set_random_seed(2)
    cfg = load_config(overrides=TINY)
    path = tmp_path_factory.mktemp("run")
    save_model(build_model(cfg), path / "model.keras")
    (path / "config.yaml").write_text(dump_yaml(cfg))
    return path


def _logits(network, wave):
    logits, lengths = make_predict_fn(network)(
        wave[None], np.array([len(wave)], np.int32)
    )
    return logits.numpy()[0, : int(lengths[0])]


def test_a_run_folder_a_file_and_a_bundled_name_resolve(run_dir):
    assert resolve_model_path(run_dir) == run_dir / "model.keras"
    assert resolve_model_path(run_dir / "model.keras") == run_dir / "model.keras"
    for name in bundled_models():
        assert resolve_model_path(name).parent.name == name
    network, cfg = load_network(run_dir)
    assert cfg == load_config(overrides=TINY)
    assert network.get_layer("logits").units == text.vocab_size()
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []


def test_unknown_model_names_the_choices(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not a bundled model"):
        load_network("no-such-model")
    with pytest.raises(ModelNotFoundError, match="no model.keras"):
        load_network(tmp_path)


def test_damaged_model_file_gives_a_clear_error(run_dir, tmp_path):
    bad = tmp_path / "run"
    bad.mkdir()
    data = (run_dir / "model.keras").read_bytes()
    (bad / "model.keras").write_bytes(data[: len(data) // 2])
    (bad / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    with pytest.raises(ModelNotFoundError, match="cannot load the model"):
        load_network(bad)


def test_packed_float16_model_gives_the_same_logits(run_dir, tmp_path):
    network, cfg = load_network(run_dir)
    packed = pack_model(network, cfg, tmp_path / "packed")
    assert packed.stat().st_size < (run_dir / "model.keras").stat().st_size
    again, again_cfg = load_network(tmp_path / "packed")
    assert again_cfg.model.rnn_impl == "fused"
    wave = speechlike(1.1, seed=9)
    a, b = _logits(network, wave), _logits(again, wave)
    np.testing.assert_allclose(a, b, atol=2e-2)


def test_packed_config_names_data_relative_to_the_working_directory(
    run_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    network, cfg = load_network(run_dir)
    cfg = load_config(
        overrides=[
            *TINY,
            f"data.train_manifest={tmp_path / 'data' / 'train.jsonl'}",
            "data.val_manifest=/elsewhere/dev.jsonl",
            f"augment.noise_dir={tmp_path / 'data' / 'noise'}",
        ]
    )
    pack_model(network, cfg, tmp_path / "packed")
    _, packed = load_network(tmp_path / "packed")
    assert packed.data.train_manifest == "data/train.jsonl"
    assert packed.data.val_manifest == "/elsewhere/dev.jsonl"  # not under it: kept
    assert packed.augment.noise_dir == "data/noise"
