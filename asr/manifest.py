"""JSON-lines manifests with NeMo's keys.

One utterance a line: `{"audio_filepath": ..., "duration": ..., "text": ...}`.
Relative `audio_filepath` values are relative to the manifest's own folder.
An optional `offset` (seconds, >= 0) makes the row a cut of a longer file:
`duration` seconds from `offset` on (Kaldi `segments`; `Utterance.segment`
gives the arguments for `audio.load_audio`). Other extra keys are kept as they are.
Writes are atomic (temp file, fsync, rename), so a killed job never leaves half
a manifest behind.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from asr.files import atomic_write_text

logger = logging.getLogger(__name__)

REQUIRED_KEYS = ("audio_filepath", "duration", "text")


class ManifestError(ValueError):
    """A manifest is missing or has a bad line; the message names file and line."""


@dataclass(frozen=True)
class Utterance:
    """One manifest row, with `audio_filepath` resolved to an absolute path."""

    audio_filepath: str
    duration: float
    text: str
    extra: tuple[tuple[str, object], ...] = ()

    @property
    def segment(self) -> tuple[float, float | None]:
        """`(offset, duration)` for `audio.load_audio`: `(0.0, None)`, the whole
        file, unless the row has an `offset` key."""
        for key, value in self.extra:
            if key == "offset":
                return float(value), self.duration
        return 0.0, None

    def to_json(self, relative_to: Path | None = None) -> dict:
        path = self.audio_filepath
        if relative_to is not None:
            try:
                path = os.path.relpath(path, relative_to)
            except ValueError:  # other drive on Windows
                pass
        return {
            "audio_filepath": path,
            "duration": self.duration,
            "text": self.text,
            **dict(self.extra),
        }


def _bad(path: Path, lineno: int, problem: str) -> ManifestError:
    return ManifestError(f"{path}:{lineno}: {problem}")


def read_manifest(path: str | os.PathLike) -> list[Utterance]:
    """Reads a manifest; blank lines are ignored.

    Raises:
        ManifestError: `path:line: problem` for the first bad line.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    base = path.resolve().parent
    rows = []
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise _bad(path, lineno, f"not valid UTF-8 ({e.reason})") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise _bad(path, lineno, f"not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise _bad(path, lineno, "expected a JSON object")
            for key in REQUIRED_KEYS:
                if key not in obj:
                    raise _bad(path, lineno, f"missing key '{key}'")
            duration = obj["duration"]
            if isinstance(duration, bool) or not isinstance(duration, int | float):
                raise _bad(
                    path, lineno, f"'duration' must be a number, got {duration!r}"
                )
            if not (math.isfinite(duration) and duration >= 0):
                raise _bad(path, lineno, f"'duration' must be >= 0, got {duration!r}")
            if "offset" in obj:
                offset = obj["offset"]
                if (
                    isinstance(offset, bool)
                    or not isinstance(offset, int | float)
                    or not (math.isfinite(offset) and offset >= 0)
                ):
                    raise _bad(
                        path, lineno, f"'offset' must be a number >= 0, got {offset!r}"
                    )
            for key in ("audio_filepath", "text"):
                if not isinstance(obj[key], str):
                    raise _bad(
                        path, lineno, f"'{key}' must be a string, got {obj[key]!r}"
                    )
            if not obj["audio_filepath"]:
                raise _bad(path, lineno, "'audio_filepath' is empty")
            audio = os.path.normpath(os.path.join(base, obj["audio_filepath"]))
            extra = tuple((k, v) for k, v in obj.items() if k not in REQUIRED_KEYS)
            rows.append(Utterance(audio, float(duration), obj["text"], extra))
    return rows


def _json_default(value):
    """numpy scalars and paths, which `json` does not know."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_manifest(
    path: str | os.PathLike, rows: Iterable[Utterance | dict], relative: bool = True
) -> int:
    """Writes rows atomically; absolute paths become relative to the manifest's
    folder when `relative` is true. Returns the number of rows.

    Every row is serialised before the file is touched, so a bad row leaves an
    existing manifest as it was.

    Raises:
        ManifestError: `path: row N: problem` for a row that cannot be written
            as strict JSON (NaN duration, an object json does not know).
    """
    path = Path(path)
    base = path.resolve().parent if relative else None
    lines = []
    for i, row in enumerate(rows, 1):
        obj = row.to_json(base) if isinstance(row, Utterance) else dict(row)
        if "audio_filepath" in obj and isinstance(obj["audio_filepath"], os.PathLike):
            obj["audio_filepath"] = os.fspath(obj["audio_filepath"])
        if base is not None and not isinstance(row, Utterance):
            p = obj.get("audio_filepath")
            if isinstance(p, str) and os.path.isabs(p):
                obj["audio_filepath"] = os.path.relpath(p, base)
        try:
            line = json.dumps(
                obj, ensure_ascii=False, allow_nan=False, default=_json_default
            )
        except (TypeError, ValueError) as e:
            raise ManifestError(
                f"{path}: row {i}: cannot write as JSON ({e})"
            ) from None
        lines.append(line)
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def write_skipped_report(
    path: str | os.PathLike, skipped: list[dict], what: str
) -> None:
    """Writes the skip report `path` (`{"audio_filepath", "reason"}` per line),
    or removes a stale one when nothing was skipped, and logs a warning."""
    path = Path(path)
    if not skipped:
        path.unlink(missing_ok=True)
        return
    write_manifest(path, skipped)
    logger.warning(
        "%s: skipped %d file(s), listed in %s; first: %s: %s",
        what,
        len(skipped),
        path,
        skipped[0]["audio_filepath"],
        skipped[0]["reason"],
    )
