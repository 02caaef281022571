"""Noise-robustness evaluation: one model, one manifest, several conditions.

A condition is the clean audio or the audio mixed with noise at one SNR
(`asr.mixing.mix_at_snr`), each clip optionally padded with `pad_seconds`
before and after: the padding carries the noise in a noisy condition and a
white-noise floor at `pad_level_dbfs` (-inf: digital silence) in the clean
one. The SNR is measured against the clean speech, before padding.

Every random choice (noise file, offset, floor) comes from
`utterance_rng(seed, key)`, the key being the row's `audio_filepath` relative
to the manifest's folder: a rerun, a reordered manifest or a subset written
beside it gives the same mixes, and every condition uses the same noise
segment for an utterance (only its level changes).

`run_conditions` decodes each condition once with the same recogniser and
writes:

- `OUT/<condition>/summary.json, recogs.jsonl, errs.txt` (`asr.evaluate`);
- `OUT/summary.json`: the settings and `conditions`, a table
  `{name: {"snr_db", "wer", "cer", "num_utterances", "word_errors", ...}}`;
- `OUT/noise_robustness.png`: WER and CER against SNR, clean WER dashed.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.audio import (
    AUDIO_EXTENSIONS,
    SAMPLE_RATE,
    AudioLoadError,
    audio_info,
    load_audio,
)
from asr.files import atomic_write_bytes, atomic_write_text
from asr.manifest import Utterance, read_manifest
from asr.mixing import mix_at_snr, pad_silence, power, utterance_rng

logger = logging.getLogger(__name__)

CLEAN = "clean"
PLOT_NAME = "noise_robustness.png"
_CACHED_NOISE_FILES = 64


class ConditionError(ValueError):
    """Conditions asked for that cannot be run (e.g. an SNR without noise)."""


@dataclass(frozen=True)
class Condition:
    """`snr_db` None is the clean audio (padded, if padding is asked for)."""

    snr_db: float | None = None

    @property
    def name(self) -> str:
        """`clean`, `snr_10`, `snr_-5`, `snr_7.5`: also the sub-folder."""
        return CLEAN if self.snr_db is None else f"snr_{self.snr_db:g}"


def parse_snr_list(text: str) -> list[Condition]:
    """`"clean,20,10,0"` -> conditions in that order; `clean` or `inf` is the
    clean condition.

    Raises:
        ValueError: an empty list, a value that is not a number, `-inf`/NaN,
            or a condition given twice.
    """
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise ValueError(f"empty item in {text!r} (e.g. 20,10,5,0 or clean,10)")
    out = []
    for t in items:
        if t.lower() in (CLEAN, "inf", "+inf"):
            cond = Condition()
        else:
            try:
                value = float(t)
            except ValueError:
                raise ValueError(
                    f"{t!r} is not a number or 'clean' (e.g. 20,10,5,0)"
                ) from None
            if not math.isfinite(value):
                raise ValueError(f"{t!r}: an SNR must be finite, or 'clean'")
            cond = Condition(value)
        if cond in out:
            raise ValueError(f"{cond.name} is given twice in {text!r}")
        out.append(cond)
    return out


def find_noise_files(path: str | os.PathLike) -> list[Path]:
    """The noise files: `path` itself, or the audio files (.wav, .flac, .ogg,
    .mp3) anywhere under the folder `path`, sorted.

    Raises:
        FileNotFoundError: `path` does not exist, or the folder holds no audio.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.exists():
        raise FileNotFoundError(f"{path}: noise file or folder not found")
    files = sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
    )
    if not files:
        raise FileNotFoundError(
            f"{path}: no noise audio in this folder ({', '.join(AUDIO_EXTENSIONS)})"
        )
    return files


class NoiseBank:
    """Noise files, read on first use (the last 64 kept in memory)."""

    def __init__(self, files: Sequence[Path], source: str | os.PathLike = ""):
        if not files:
            raise ValueError("NoiseBank needs at least one file")
        self.files = list(files)
        self.source = str(source or files[0])
        self._cache: dict[Path, np.ndarray] = {}

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> NoiseBank:
        """The bank of `find_noise_files(path)`, every header read, so that a
        missing or unreadable file is reported before any decoding starts.

        Raises:
            FileNotFoundError: as `find_noise_files`.
            AudioLoadError: the first unreadable file.
        """
        files = find_noise_files(path)
        for f in files:
            audio_info(f)
        return cls(files, path)

    def pick(self, rng: np.random.Generator) -> np.ndarray:
        """A noise signal chosen with `rng`: (samples,) float32, 16 kHz.

        Raises:
            AudioLoadError: the file cannot be read, or is silent.
        """
        path = self.files[int(rng.integers(len(self.files)))]
        noise = self._cache.pop(path, None)
        if noise is None:
            noise = load_audio(path)
            if power(noise) == 0.0:
                raise AudioLoadError(f"{path}: noise file is silent (all zeros)")
        self._cache[path] = noise  # most recently used last
        while len(self._cache) > _CACHED_NOISE_FILES:
            del self._cache[next(iter(self._cache))]
        return noise


def make_transform(
    condition: Condition,
    manifest: str | os.PathLike,
    noise: NoiseBank | None = None,
    pad_seconds: float = 0.0,
    pad_level_dbfs: float = -60.0,
    seed: int = 0,
) -> Callable[[np.ndarray, Utterance], np.ndarray] | None:
    """The per-utterance audio change of `condition` for `asr.evaluate`, or
    None when there is nothing to change (clean, no padding).

    Raises:
        ConditionError: a noisy condition without `noise`, a negative pad.
    """
    if pad_seconds < 0 or not math.isfinite(pad_seconds):
        raise ConditionError(f"pad must be a finite number >= 0, got {pad_seconds}")
    pad = round(pad_seconds * SAMPLE_RATE)
    if condition.snr_db is not None and noise is None:
        raise ConditionError(f"{condition.name} needs noise (--noise FILE|DIR)")
    if condition.snr_db is None and not pad:
        return None
    base = Path(manifest).resolve().parent

    def transform(wave: np.ndarray, row: Utterance) -> np.ndarray:
        key = Path(os.path.relpath(row.audio_filepath, base)).as_posix()
        rng = utterance_rng(seed, key)
        if condition.snr_db is None:
            return pad_silence(wave, pad, pad_level_dbfs, rng)
        return mix_at_snr(wave, noise.pick(rng), condition.snr_db, rng, pad)

    return transform


def run_conditions(
    recognizer,
    manifest: str | os.PathLike,
    out_dir: str | os.PathLike,
    conditions: Sequence[Condition],
    noise: NoiseBank | None = None,
    pad_seconds: float = 0.0,
    pad_level_dbfs: float = -60.0,
    seed: int = 0,
    group_by: Sequence[str] = (),
    **evaluate_kwargs,
) -> dict:
    """Evaluates `recognizer` on `manifest` under each condition; writes the
    files listed in the module docstring and returns the top summary.

    Args:
        recognizer: an `asr.transcribe.Recognizer` (loaded once, used for all).
        noise: `NoiseBank.from_path(file or folder)`, needed for any SNR.
        pad_seconds: added before and after each clip, >= 0.
        pad_level_dbfs: the floor in the padding of the clean condition;
            -inf for digital silence.
        evaluate_kwargs: `decoder`, `beam_width`, `lm`, `progress`, passed on
            to `asr.evaluate.evaluate`.

    Raises:
        ConditionError: bad settings, before anything is decoded.
        AudioLoadError: a noise file that cannot be read or is silent.
        ManifestError: as `asr.evaluate.evaluate`.
    """
    from asr.evaluate import evaluate  # TensorFlow; this module stays light

    if not conditions:
        raise ConditionError("no condition to evaluate")
    transforms = [
        make_transform(c, manifest, noise, pad_seconds, pad_level_dbfs, seed)
        for c in conditions
    ]
    rows = read_manifest(manifest)
    out_dir = Path(out_dir)
    table = {}
    for cond, transform in zip(conditions, transforms, strict=True):
        logger.info("condition %s", cond.name)
        s = evaluate(
            recognizer,
            manifest,
            out_dir / cond.name,
            transform=transform,
            group_by=group_by,
            rows=rows,
            **evaluate_kwargs,
        )
        table[cond.name] = {
            "snr_db": cond.snr_db,
            "wer": s["wer"],
            "cer": s["cer"],
            "num_utterances": s["num_utterances"],
            "num_skipped": s["num_skipped"],
            "ref_words": s["ref_words"],
            "word_errors": s["substitutions"] + s["deletions"] + s["insertions"],
            "substitutions": s["substitutions"],
            "deletions": s["deletions"],
            "insertions": s["insertions"],
            "char_errors": s["char_errors"],
            "ref_chars": s["ref_chars"],
            "rtf": s["rtf"],
            "dir": cond.name,
            **({"groups": s["groups"]} if group_by else {}),
        }
    summary = {
        "model": recognizer.name,
        "manifest": str(manifest),
        "noise": noise.source if noise is not None else None,
        "noise_files": len(noise.files) if noise is not None else 0,
        "seed": seed,
        "pad_seconds": pad_seconds,
        # JSON has no -inf: null means digital silence.
        "pad_level_dbfs": pad_level_dbfs if math.isfinite(pad_level_dbfs) else None,
        "decoder": s["decoder"],
        "group_by": list(group_by),
        "conditions": table,
    }
    atomic_write_text(
        out_dir / "summary.json",
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
    )
    if any(c.snr_db is not None for c in conditions):
        plot_robustness(summary, out_dir / PLOT_NAME)
    return summary


def plot_robustness(summary: dict, png: str | os.PathLike) -> None:
    """WER and CER (%) against SNR (dB) from `summary["conditions"]`, the
    clean WER as a dashed line; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(
        (r for r in summary["conditions"].values() if r["snr_db"] is not None),
        key=lambda r: r["snr_db"],
    )
    snrs = [r["snr_db"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(snrs, [100 * r["wer"] for r in rows], "o-", label="WER")
    ax.plot(snrs, [100 * r["cer"] for r in rows], "s-", label="CER")
    clean = summary["conditions"].get(CLEAN)
    if clean is not None:
        ax.axhline(100 * clean["wer"], color="k", ls="--", lw=1, label="clean WER")
    ax.set(xlabel="SNR (dB)", ylabel="error rate (%)", title="Noise robustness")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    atomic_write_bytes(png, buf.getvalue())


def format_table(summary: dict) -> str:
    """The conditions (and their groups) as an aligned text table."""
    lines = [_row("condition", "WER", "CER", "utts", "errors/words")]
    for name, r in summary["conditions"].items():
        lines.append(_cells(name, r))
    for key in summary.get("group_by", []):
        for name, r in summary["conditions"].items():
            lines += ["", f"{name} by {key}:"]
            for value, g in r["groups"][key].items():
                lines.append(_cells(f"  {value}", g))
    return "\n".join(lines)


def format_groups(summary: dict) -> str:
    """`summary["groups"]` of one `asr.evaluate` summary as a text table."""
    lines = []
    for key, table in summary.get("groups", {}).items():
        lines += [f"by {key}:", _row("  " + key, "WER", "CER", "utts", "errors/words")]
        lines += [_cells(f"  {value}", g) for value, g in table.items()]
    return "\n".join(lines)


def _cells(label: str, r: dict) -> str:
    return _row(
        label,
        f"{100 * r['wer']:.2f}%",
        f"{100 * r['cer']:.2f}%",
        str(r["num_utterances"]),
        f"{r['word_errors']}/{r['ref_words']}",
    )


def _row(label: str, *cells: str) -> str:
    return f"{label:<20} " + " ".join(f"{c:>9}" for c in cells[:3]) + f"  {cells[3]}"
