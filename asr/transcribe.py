"""Loading models and turning audio into text.

    model = asr.load_model("synth-en")        # bundled name, run dir or .keras file
    model.transcribe("clip.flac")             # -> str
    model.transcribe_batch(["a.wav", "b.wav"])

Short inputs are batched by length through one compiled function. Long files
are read block by block and recognised in windows with 2 s of context on each
side; only each window's centre frames are kept, so memory stays flat in the
file's length and the stitched output matches a single pass.

A batch of one (a single file, each window of a long one) is dispatch-bound:
thousands of tiny per-step ops. On CPU, from `xla_min_seconds` (8 s) of audio
up, it therefore runs a copy of the network whose recurrences are XLA-compiled
loops (`asr.rnn.FusedRNN` with `jit_compile`), about 3.5x faster
(`scripts/benchmark.py`: `offline_rtf` vs `offline_rtf_graph`). XLA compiles
once per length bucket (0.5-2 s, once per process), which a shorter clip would
not win back. Larger batches are matmul-bound and keep the plain graph.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from asr import ctc
from asr.audio import SAMPLE_RATE, iter_audio_blocks, load_audio
from asr.config import ConfigError, ExperimentConfig, load_config
from asr.features import num_frames
from asr.model import make_predict_fn, output_lengths, time_stride

logger = logging.getLogger(__name__)

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
DEFAULT_MODEL = "synth-en"
BEAM_WIDTH = 16  # prefix beam search without an LM
LM_BEAM_WIDTH = 32  # with an LM or hotwords


class ModelNotFoundError(FileNotFoundError):
    """A model name or path does not point at a trained model."""


PACKED_WEIGHTS = "weights.npz"  # float16 weights + config.yaml: bundled models
_MODEL_FILES = ("model.keras", PACKED_WEIGHTS)


def bundled_models() -> list[str]:
    if not PRETRAINED_DIR.is_dir():
        return []
    return sorted(
        p.name
        for p in PRETRAINED_DIR.iterdir()
        if any((p / name).is_file() for name in _MODEL_FILES)
    )


def resolve_model_path(model: str | os.PathLike) -> Path:
    """A bundled name, a run directory or a `.keras` file -> the model file
    (`model.keras`, or `weights.npz` for a packed model)."""
    path = Path(model)
    if path.suffix in (".keras", ".npz") and path.is_file():
        return path
    if path.is_dir():
        for name in _MODEL_FILES:
            if (path / name).is_file():
                return path / name
        raise ModelNotFoundError(
            f"{path}: no model.keras in this folder (not trained yet?)"
        )
    for name in _MODEL_FILES:
        if (PRETRAINED_DIR / str(model) / name).is_file():
            return PRETRAINED_DIR / str(model) / name
    names = ", ".join(bundled_models()) or "none installed"
    raise ModelNotFoundError(
        f"{model}: not a bundled model ({names}), a run directory or a .keras file"
    )


def load_keras_model(path: Path) -> keras.Model:
    """Loads with `safe_mode=True`; a damaged file raises a clear error."""
    import asr.augment  # noqa: F401  (registers the custom layers)
    import asr.model  # noqa: F401

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as e:  # zip, h5 and deserialisation errors differ by cause
        raise ModelNotFoundError(
            f"{path}: cannot load the model (truncated, tampered or not a Keras "
            f"model file): {type(e).__name__}: {e}"
        ) from None


@dataclass(frozen=True)
class Segment:
    """Recognised text of one input with word timings (seconds)."""

    text: str
    words: list[dict]
    duration: float


class Recognizer:
    """A trained model with its config and decoders; see the module docstring."""

    window_seconds = 20.0  # long files: frames kept per window
    context_seconds = 2.0  # long files: context on each side of a window
    xla_min_seconds = 8.0  # a batch of one this long runs XLA loops (CPU)

    def __init__(
        self,
        network: keras.Model,
        cfg: ExperimentConfig,
        name: str = "",
        xla_loops: bool | None = None,
    ):
        """`xla_loops`: run batches of one with XLA-compiled recurrences (see
        the module docstring); None = on CPU only (on a GPU, Keras's cuDNN
        layers are faster). The XLA copy is made on the first batch of one, so
        it does not see later changes to `network`'s weights."""
        self.network, self.cfg, self.name = network, cfg, name
        self._predict = make_predict_fn(network)
        if xla_loops is None:
            xla_loops = not tf.config.list_physical_devices("GPU")
        self.xla_loops = xla_loops
        self._predict_one: Callable | None = None
        self.xla_network: keras.Model | None = None  # made by _single_predict
        self.samples_per_frame = time_stride(cfg.model) * cfg.features.hop_length
        self.frame_seconds = self.samples_per_frame / SAMPLE_RATE
        self._lm_decoders: dict = {}

    @property
    def is_classifier(self) -> bool:
        return self.cfg.model.head == "classifier"

    # -- acoustic model ---------------------------------------------------------
    def warmup(self) -> None:
        """Traces the compiled function once, so timings exclude tracing."""
        self.logits_batch([np.zeros(SAMPLE_RATE, np.float32)])

    def logits_batch(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Per-utterance (frames, classes) logits, batched by similar length."""
        out: list[np.ndarray | None] = [None] * len(waves)
        order = np.argsort([len(w) for w in waves])
        budget = 16 * 20 * SAMPLE_RATE  # samples per batch: ~16 x 20 s
        i = 0
        while i < len(order):
            longest = max(len(waves[order[i]]), 1)
            n = max(1, min(32, budget // longest))
            idx = order[i : i + n]
            width = max(len(waves[j]) for j in idx)
            width = max(
                self.cfg.features.win_length, -(-width // SAMPLE_RATE) * SAMPLE_RATE
            )
            batch = np.zeros((len(idx), width), np.float32)
            lengths = np.zeros(len(idx), np.int32)
            for k, j in enumerate(idx):
                batch[k, : len(waves[j])] = waves[j]
                lengths[k] = len(waves[j])
            single = len(idx) == 1 and width >= self.xla_min_seconds * SAMPLE_RATE
            predict = self._single_predict() if single else self._predict
            logits, logit_lengths = predict(batch, lengths)
            logits, logit_lengths = logits.numpy(), logit_lengths.numpy()
            for k, j in enumerate(idx):
                out[j] = (
                    logits[k] if self.is_classifier else logits[k, : logit_lengths[k]]
                )
            i += n
        return out  # type: ignore[return-value]

    def _single_predict(self) -> Callable:
        """The compiled function for a batch of one (built on first use)."""
        if self._predict_one is None:
            self._predict_one = self._predict
            if self.xla_loops:
                from asr.fuse import fuse_model

                try:
                    self.xla_network = fuse_model(self.network, jit_compile=True)
                    self._predict_one = make_predict_fn(self.xla_network)
                except ValueError as e:  # a recurrent layer FusedRNN cannot run
                    logger.debug("%s: no XLA loops: %s", self.name, e)
        return self._predict_one

    def logits_long(
        self,
        blocks: Iterable[np.ndarray],
        progress: Callable[[float], None] | None = None,
    ) -> np.ndarray:
        """Logits of a signal of any length, from its blocks.

        Returns:
            ((frames, classes) float32 logits, number of samples read).
        """
        spf = self.samples_per_frame
        core = int(self.window_seconds * SAMPLE_RATE) // spf * spf
        ctx = int(self.context_seconds * SAMPLE_RATE) // spf * spf
        buf = np.zeros(0, np.float32)
        buf_start = 0  # absolute sample index of buf[0]
        next_core = 0  # absolute start of the next window's kept region
        pieces, total = [], 0
        exhausted = False
        it = iter(blocks)
        while True:
            need = next_core + core + ctx
            while not exhausted and buf_start + len(buf) < need:
                try:
                    block = next(it)
                except StopIteration:
                    exhausted = True
                    break
                buf = np.concatenate([buf, block])
                total += len(block)
            end = min(need, buf_start + len(buf))
            if next_core >= end:
                break
            left = max(0, next_core - ctx)
            wave = buf[left - buf_start : end - buf_start]
            logits = self.logits_batch([wave])[0]
            first = (next_core - left) // spf
            keep = logits[first : first + core // spf]
            pieces.append(keep)
            if progress:
                progress(min(next_core + core, end) / SAMPLE_RATE)
            next_core += core
            drop = max(0, next_core - ctx - buf_start)
            buf, buf_start = buf[drop:], buf_start + drop
            if exhausted and next_core >= buf_start + len(buf):
                break
        logits = np.concatenate(pieces) if pieces else np.zeros((0, 1), np.float32)
        n_out = int(
            output_lengths(num_frames(total, self.cfg.features), self.cfg.model)
        )
        return logits[:n_out], total

    # -- decoding ---------------------------------------------------------------
    def decode(
        self,
        logits: np.ndarray,
        decoder: str = "greedy",
        beam_width: int | None = None,
        lm: str | None = None,
        hotwords: tuple[str, ...] = (),
    ) -> str:
        """Text of one utterance's (frames, classes) logits.

        `beam_width` None means 32 with an LM or hotwords, 16 without (the LM
        decoder is cheap per beam, and the LM needs room to change the words).
        """
        if self.is_classifier:
            return self.cfg.model.classes[int(np.argmax(logits))]
        if lm or hotwords:
            return self.lm_decoder(lm, beam_width, hotwords).decode(logits)
        if decoder == "beam":
            return ctc.beam_search(logits, beam_width=beam_width or BEAM_WIDTH)[0][0]
        return ctc.greedy_decode_batch(logits[None], np.array([len(logits)]))[0]

    def lm_decoder(
        self,
        lm: str | None,
        beam_width: int | None = None,
        hotwords: tuple[str, ...] = (),
    ):
        """The (cached) `asr.lm.LMDecoder` that `decode` uses for these options."""
        key = (lm, beam_width or LM_BEAM_WIDTH, tuple(hotwords))
        if key not in self._lm_decoders:
            from asr.lm import LMDecoder

            self._lm_decoders[key] = LMDecoder(
                lm, beam_width=key[1], hotwords=list(hotwords) or None
            )
        return self._lm_decoders[key]

    # -- public API -------------------------------------------------------------
    def transcribe(
        self, audio: str | os.PathLike | np.ndarray, **decode_options
    ) -> str:
        """Text of one file or float32 16 kHz array."""
        return self.transcribe_batch([audio], **decode_options)[0]

    def transcribe_batch(self, inputs: list, **decode_options) -> list[str]:
        """Texts of files or arrays, in order."""
        return [s.text for s in self.transcribe_segments(inputs, **decode_options)]

    def transcribe_segments(
        self, inputs: list, progress: Callable | None = None, **decode_options
    ) -> list[Segment]:
        """Text, word times and duration of each input. Files longer than one
        window are recognised in windows (bounded memory)."""
        results: list[Segment | None] = [None] * len(inputs)
        short_idx, short_waves = [], []
        for i, item in enumerate(inputs):
            if isinstance(item, np.ndarray):
                wave = np.asarray(item, np.float32)
                if (
                    len(wave)
                    > (self.window_seconds + self.context_seconds) * SAMPLE_RATE
                ):
                    logits, _ = self.logits_long(_split(wave))
                    results[i] = self._segment(logits, len(wave), decode_options)
                    continue
                short_idx.append(i)
                short_waves.append(wave)
                continue
            from asr.audio import audio_info

            duration, _, _ = audio_info(item)
            if (
                duration > self.window_seconds + self.context_seconds
                and not self.is_classifier
            ):
                logits, total = self.logits_long(iter_audio_blocks(item), progress)
                results[i] = self._segment(logits, total, decode_options)
            else:
                short_idx.append(i)
                short_waves.append(load_audio(item))
        if short_waves:
            for i, wave, logits in zip(
                short_idx, short_waves, self.logits_batch(short_waves)
            ):
                results[i] = self._segment(logits, len(wave), decode_options)
        return results  # type: ignore[return-value]

    def _segment(self, logits, num_samples, decode_options) -> Segment:
        text = self.decode(logits, **decode_options)
        words = (
            []
            if self.is_classifier
            else ctc.word_timestamps(logits, len(logits), self.frame_seconds)
        )
        return Segment(text, words, num_samples / SAMPLE_RATE)


def _split(wave: np.ndarray, block: int = 30 * SAMPLE_RATE) -> Iterator[np.ndarray]:
    for i in range(0, len(wave), block):
        yield wave[i : i + block]


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


def pack_model(
    network: keras.Model, cfg: ExperimentConfig, out_dir: str | os.PathLike
) -> Path:
    """Writes `config.yaml` + float16 `weights.npz` (half the size of a
    `.keras` file); `load_model(out_dir)` rebuilds the network from them.

    The recurrent layers are packed as `FusedRNN` (`model.rnn_impl: fused`,
    the fast one on CPU) whichever implementation the network was trained
    with: the weight layout must match the config it is rebuilt from."""
    from asr.config import dump_yaml
    from asr.fuse import fuse_model
    from asr.manifest import atomic_write_text

    if any(
        isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional)
        for layer in network.layers
    ):
        network = fuse_model(network)
    cfg = dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, rnn_impl="fused")
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = {
        f"w{i:03d}": w.astype(np.float16) if w.dtype.kind == "f" else w
        for i, w in enumerate(network.get_weights())
    }
    tmp = out_dir / f".{PACKED_WEIGHTS}.tmp.npz"
    np.savez_compressed(tmp, **weights)
    os.replace(tmp, out_dir / PACKED_WEIGHTS)
    atomic_write_text(out_dir / "config.yaml", dump_yaml(cfg))
    return out_dir / PACKED_WEIGHTS


def _load_packed(path: Path, cfg: ExperimentConfig) -> keras.Model:
    from asr.model import build_model

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


def load_model(model: str | os.PathLike = DEFAULT_MODEL) -> Recognizer:
    """A bundled model name, a run directory or a `.keras` file -> Recognizer."""
    path = resolve_model_path(model)
    cfg = load_config_for(path)
    if path.suffix == ".npz":
        return Recognizer(_load_packed(path, cfg), cfg, name=str(model))
    return Recognizer(load_keras_model(path), cfg, name=str(model))
