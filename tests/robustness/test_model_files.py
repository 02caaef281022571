"""Damaged model files: loading uses Keras `safe_mode`, and a tampered or
truncated `.keras` file or packed `weights.npz` gives one clear error naming
the file (exit 2 from the command line), never a traceback."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import soundfile as sf

from asr.checkpoint import ModelNotFoundError, pack_model
from asr.cli import main
from asr.config import ConfigError, dump_yaml, load_config
from asr.manifest import Utterance, write_manifest
from asr.model import build_model
from asr.transcribe import load_model
from tests.conftest import speechlike


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A run folder with model.keras, and a packed folder with weights.npz."""
    cfg = load_config(
        overrides=[
            "model.rnn_units=8",
            "model.rnn_layers=1",
            "model.conv_filters=[2,2]",
        ]
    )
    root = tmp_path_factory.mktemp("models")
    network = build_model(cfg)
    (root / "run").mkdir()
    network.save(root / "run" / "model.keras")
    (root / "run" / "config.yaml").write_text(dump_yaml(cfg))
    pack_model(network, cfg, root / "packed")
    return root


def _copy(good: Path, kind: str, dst: Path, data: bytes) -> Path:
    name = "model.keras" if kind == "run" else "weights.npz"
    dst.mkdir()
    (dst / "config.yaml").write_text((good / kind / "config.yaml").read_text())
    (dst / name).write_bytes(data)
    return dst


def _rezip(data: bytes, edit) -> bytes:
    """The zip `data` with each member's bytes passed through `edit(name, b)`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, edit(info.filename, src.read(info.filename)))
    return out.getvalue()


def _lambda_config(name: str, blob: bytes) -> bytes:
    """config.json with a Lambda layer (marshalled Python code) spliced in."""
    if name != "config.json":
        return blob
    config = json.loads(blob)
    layers = config["config"]["layers"]
    victim = next(layer for layer in layers if layer["class_name"] == "Dense")
    victim.update(
        class_name="Lambda",
        module="keras.layers",
        config={
            "name": victim["config"]["name"],
            "function": {
                "class_name": "__lambda__",
                "config": {
                    "code": "4wEAAAAAAAAAAAAAAAEAAAADAAAA",
                    "defaults": None,
                    "closure": None,
                },
            },
        },
    )
    return json.dumps(config).encode()


def _flip_weights(name: str, blob: bytes) -> bytes:
    if not name.endswith(".h5"):
        return blob
    mid = bytearray(blob)
    for i in range(len(mid) // 3, len(mid) // 3 + 4096):
        mid[i] ^= 0xFF
    return bytes(mid)


TAMPERED_KERAS = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "not a zip": lambda data: b"definitely not a keras file\n" * 10,
    "lambda layer with code": lambda data: _rezip(data, _lambda_config),
    "config.json not json": lambda data: _rezip(
        data, lambda n, b: b"{broken" if n == "config.json" else b
    ),
    "weights overwritten": lambda data: _rezip(data, _flip_weights),
}


@pytest.mark.parametrize("damage", sorted(TAMPERED_KERAS))
def test_damaged_keras_file_gives_a_clear_error(good, tmp_path, damage):
    data = TAMPERED_KERAS[damage]((good / "run" / "model.keras").read_bytes())
    bad = _copy(good, "run", tmp_path / "bad", data)
    with pytest.raises(ModelNotFoundError) as e:
        load_model(bad)
    assert str(bad / "model.keras") in str(e.value) and "\n" not in str(e.value)


def test_code_in_a_model_file_is_refused_by_safe_mode(good, tmp_path):
    data = _rezip((good / "run" / "model.keras").read_bytes(), _lambda_config)
    bad = _copy(good, "run", tmp_path / "bad", data)
    with pytest.raises(ModelNotFoundError, match="safe_mode"):
        load_model(bad)


def _npz_with(weights: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **weights)
    return buf.getvalue()


def _packed(good: Path) -> dict:
    with np.load(good / "packed" / "weights.npz") as data:
        return {k: data[k] for k in data.files}


TAMPERED_NPZ = {
    "truncated": lambda good: (good / "packed" / "weights.npz").read_bytes()[:500],
    "empty": lambda good: b"",
    "pickled object": lambda good: _npz_with(
        {**_packed(good), "w000": np.array([object()], dtype=object)}
    ),
    "one array missing": lambda good: _npz_with(
        {k: v for k, v in _packed(good).items() if k != "w003"}
    ),
    "wrong shape": lambda good: _npz_with(
        {**_packed(good), "w002": np.zeros((3, 3), np.float16)}
    ),
}


@pytest.mark.parametrize("damage", sorted(TAMPERED_NPZ))
def test_damaged_packed_weights_give_a_clear_error(good, tmp_path, damage):
    bad = _copy(good, "packed", tmp_path / "bad", TAMPERED_NPZ[damage](good))
    with pytest.raises(ModelNotFoundError) as e:
        load_model(bad)
    assert str(bad / "weights.npz") in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "config", ["", "model: [unclosed\n", "- a list\n", "model: {rnn_units: x}\n"]
)
def test_damaged_config_beside_the_model_gives_a_clear_error(good, tmp_path, config):
    bad = _copy(
        good, "run", tmp_path / "bad", (good / "run" / "model.keras").read_bytes()
    )
    (bad / "config.yaml").write_text(config)
    with pytest.raises(ConfigError) as e:
        load_model(bad)
    assert str(bad / "config.yaml") in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "kind, damage", [("run", "truncated"), ("packed", "truncated"), ("run", "lambda")]
)
def test_cli_exits_2_naming_the_damaged_file(good, tmp_path, capsys, kind, damage):
    if kind == "run":
        data = (good / "run" / "model.keras").read_bytes()
        data = _rezip(data, _lambda_config) if damage == "lambda" else data[:1000]
    else:
        data = (good / "packed" / "weights.npz").read_bytes()[:1000]
    bad = _copy(good, kind, tmp_path / "bad", data)
    clip = tmp_path / "clip.wav"
    sf.write(clip, np.zeros(8000, np.float32), 16000)
    manifest = tmp_path / "m.jsonl"  # inputs are checked before the model loads
    manifest.write_text(
        f'{{"audio_filepath": "{clip}", "duration": 0.5, "text": "a"}}\n'
    )
    for argv in (
        ["transcribe", "--model", str(bad), str(clip)],
        [
            "evaluate",
            "--model",
            str(bad),
            "--manifest",
            str(manifest),
            "--out",
            str(tmp_path),
        ],
        [
            "export",
            "--model",
            str(bad),
            "--format",
            "tflite",
            "--out",
            str(tmp_path / "m"),
        ],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and str(bad) in err[0] and "Traceback" not in err[0]


def test_intact_files_still_load(good):
    for kind in ("run", "packed"):
        text = load_model(good / kind).transcribe(np.zeros(8000, np.float32))
        assert isinstance(text, str)
    keras.saving.load_model(good / "run" / "model.keras", safe_mode=True)


def test_train_init_from_a_damaged_model_exits_2_naming_it(good, tmp_path, capsys):
    data = (good / "run" / "model.keras").read_bytes()[:2000]
    bad = _copy(good, "run", tmp_path / "bad", data)
    rows = []
    for i in range(2):
        sf.write(tmp_path / f"u{i}.wav", speechlike(0.5, seed=i), 16000)
        rows.append(Utterance(str(tmp_path / f"u{i}.wav"), 0.5, "ab"))
    write_manifest(tmp_path / "train.jsonl", rows)
    argv = [
        "train",
        "-c",
        "configs/ds2_small.yaml",
        "--train",
        str(tmp_path / "train.jsonl"),
        "--val",
        str(tmp_path / "train.jsonl"),
    ]
    argv += ["--epochs", "1", "--out", str(tmp_path / "run"), "--init-from", str(bad)]
    for item in ("model.rnn_units=8", "model.rnn_layers=1", "model.conv_filters=[2,2]"):
        argv += ["--set", item]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert str(bad) in err[-1] and "Traceback" not in "".join(err)
