"""Model files: finding, loading, saving and packing trained networks.

A model is named by a bundled name (`asr/pretrained/NAME/`), a run folder or a
model file, and is one of:

- `model.keras` (a Keras file, what training writes) + `config.yaml`;
- `weights.npz` (float16 weights, what the bundled models ship) +
  `config.yaml`, rebuilt with `asr.model.build_model`.

    path = resolve_model_path("synth-en")      # -> .../synth-en/weights.npz
    network, cfg = load_network("runs/ds2")    # a Keras model and its config
    save_model(network, run / "model.keras")   # atomic
    pack_model(network, cfg, "out/")           # -> out/weights.npz

Training (`--init-from`, distillation teachers, checkpoint averaging) and
inference (`asr.transcribe.load_model`) both load models through here.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import keras
import numpy as np

from asr.config import ConfigError, ExperimentConfig, dump_yaml, load_config
from asr.files import atomic_path, atomic_write_text
from asr.model import build_model
from asr.rnn.convert import fuse_model

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
PACKED_WEIGHTS = "weights.npz"  # float16 weights + config.yaml: bundled models
MODEL_FILES = ("model.keras", PACKED_WEIGHTS)


class ModelNotFoundError(FileNotFoundError):
    """A model name or path does not point at a trained model."""


def bundled_models() -> list[str]:
    """Names of the models in `asr/pretrained/`, sorted."""
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(
        p.name
        for p in PRETRAINED_DIR.iterdir()
        if any((p / name).is_file() for name in MODEL_FILES)
    )


def resolve_model_path(model: str | os.PathLike) -> Path:
    """A bundled name, a run directory or a `.keras` file -> the model file
    (`model.keras`, or `weights.npz` for a packed model).

    Raises:
        ModelNotFoundError: none of these.
    """
    path = Path(model)
    if path.suffix in (".keras", ".npz") and path.is_file():
        return path
    if path.is_dir():
        for name in MODEL_FILES:
            if (path / name).is_file():
                return path / name
        raise ModelNotFoundError(
            f"{path}: no model.keras in this folder (not trained yet?)"
        )
    for name in MODEL_FILES:
        if (PRETRAINED_DIR / str(model) / name).is_file():
            return PRETRAINED_DIR / str(model) / name
    names = ", ".join(bundled_models()) or "none installed"
    raise ModelNotFoundError(
        f"{model}: not a bundled model ({names}), a run directory or a .keras file"
    )


def load_keras_model(path: Path) -> keras.Model:
    """Loads a `.keras` file with `safe_mode=True` (the custom layers are
    registered by importing `asr.model`).

    Raises:
        ModelNotFoundError: the file is damaged or not a Keras model.
    """
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # zip, h5 and deserialisation errors differ by cause
        raise ModelNotFoundError(
            f"{path}: cannot load the model (truncated, tampered or not a Keras "
            f"model file): {type(e).__name__}: {e}"
        ) from None


def load_config_for(model_path: Path) -> ExperimentConfig:
    """The resolved `config.yaml` beside a model file.

    Raises:
        ModelNotFoundError: it is missing.
        ConfigError: it is empty, not YAML or not a valid config; the message
            names the file.
    """
    cfg_path = model_path.parent / "config.yaml"
    if not cfg_path.exists():
        raise ModelNotFoundError(f"{cfg_path}: missing (every model folder has one)")
    try:
        empty = not cfg_path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{cfg_path}: cannot read the model's config ({e})") from None
    if empty:
        raise ConfigError(f"{cfg_path}: empty (it should hold the model's config)")
    try:
        return load_config(cfg_path)
    except ConfigError as e:
        message = str(e)
        if not message.startswith(str(cfg_path)):
            message = f"{cfg_path}: {message}"
        raise ConfigError(message) from None


def load_network(
    model: str | os.PathLike,
) -> tuple[keras.Model, ExperimentConfig]:
    """A bundled model name, a run directory or a `.keras` file -> the network
    and its config (`resolve_model_path`, then `.keras` or packed weights).

    Raises:
        ModelNotFoundError, ConfigError: see `resolve_model_path`,
            `load_keras_model` and `load_config_for`.
    """
    path = resolve_model_path(model)
    cfg = load_config_for(path)
    if path.suffix == ".npz":
        return _load_packed(path, cfg), cfg
    return load_keras_model(path), cfg


def save_model(network: keras.Model, path: str | os.PathLike) -> None:
    """Saves `network` as a `.keras` file, atomically (`asr.files`)."""
    with atomic_path(path, ".keras") as tmp:
        network.save(tmp)


def pack_model(
    network: keras.Model, cfg: ExperimentConfig, out_dir: str | os.PathLike
) -> Path:
    """Writes `config.yaml` + float16 `weights.npz` (half the size of a
    `.keras` file); `load_network(out_dir)` rebuilds the network from them.

    The recurrent layers are packed as `FusedRNN` (`model.rnn_impl: fused`,
    the fast one on CPU) whichever implementation the network was trained
    with: the weight layout must match the config it is rebuilt from."""
    if any(
        isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional)
        for layer in network.layers
    ):
        network = fuse_model(network)
    cfg = dataclasses.replace(
        cfg,
        model=dataclasses.replace(cfg.model, rnn_impl="fused"),
        data=dataclasses.replace(
            cfg.data,
            train_manifest=_portable(cfg.data.train_manifest),
            val_manifest=_portable(cfg.data.val_manifest),
        ),
        augment=dataclasses.replace(
            cfg.augment, noise_dir=_portable(cfg.augment.noise_dir)
        ),
    )
    out_dir = Path(out_dir)
    weights = {
        f"w{i:03d}": w.astype(np.float16) if w.dtype.kind == "f" else w
        for i, w in enumerate(network.get_weights())
    }
    with atomic_path(out_dir / PACKED_WEIGHTS) as tmp, tmp.open("wb") as f:
        np.savez_compressed(f, **weights)
    atomic_write_text(out_dir / "config.yaml", dump_yaml(cfg))
    return out_dir / PACKED_WEIGHTS


def _portable(path: str | None) -> str | None:
    """`path` relative to the working directory when it lies under it: `asr
    train` records its `--train`/`--val` paths absolute, and a bundled model's
    config should not name the machine it was trained on."""
    if not path or not os.path.isabs(path):
        return path
    try:
        return Path(path).relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path


def _load_packed(path: Path, cfg: ExperimentConfig) -> keras.Model:
    network = build_model(cfg)
    try:
        with np.load(path) as data:
            weights = [
                data[k].astype(np.float32) if data[k].dtype.kind == "f" else data[k]
                for k in sorted(data.files)
            ]
        network.set_weights(weights)
    except Exception as e:
        raise ModelNotFoundError(
            f"{path}: cannot load the packed weights (truncated or not made for "
            f"this config): {type(e).__name__}: {e}"
        ) from None
    return network
