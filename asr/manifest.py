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


MAX_LINE_BYTES = 1 << 20  # 1 MiB: a longer line is reported, never held whole


def read_manifest(
    path: str | os.PathLike, bad_lines: list[ManifestError] | None = None
) -> list[Utterance]:
    """Reads a manifest; blank lines are ignored.

    Every problem a line can have (not UTF-8, not JSON, a number too large or
    JSON nested too deep for Python, not an object, a missing key, a value of
    the wrong type, a line over `MAX_LINE_BYTES`) is a `ManifestError` naming
    `path:line`; no other exception comes out of a readable file.

    Args:
        bad_lines: None: the first bad line raises. A list: each bad line's
            error is appended to it, logged as a warning and the line skipped
            (what `train`, `evaluate` and `prepare` do: one bad line does not
            stop a long job).

    Raises:
        ManifestError: the file is missing or unreadable, or (without
            `bad_lines`) `path:line: problem` for the first bad line.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    base = path.resolve().parent
    rows = []
    try:
        with path.open("rb") as f:
            for lineno, raw in enumerate(_lines(f), 1):
                try:
                    row = _parse_line(path, lineno, raw, base)
                except ManifestError as e:
                    if bad_lines is None:
                        raise
                    bad_lines.append(e)
                    logger.warning("%s; line skipped", e)
                    continue
                if row is not None:
                    rows.append(row)
    except OSError as e:
        raise ManifestError(f"{path}: cannot read ({e.strerror or e})") from None
    return rows


def _lines(f) -> Iterable[bytes | None]:
    """The file's lines; None for a line over `MAX_LINE_BYTES` (read on to
    its end in pieces, never held whole)."""
    while True:
        raw = f.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = f.readline(MAX_LINE_BYTES)
            yield None
            continue
        yield raw


def _number(obj: dict, key: str) -> float | None:
    """`obj[key]` as a finite float >= 0, or None when it is not one."""
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        value = float(value)  # an int too large for a float raises
    except OverflowError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _parse_line(path: Path, lineno: int, raw: bytes | None, base: Path):
    """One manifest line -> an `Utterance` (None for a blank line)."""
    if raw is None:
        raise _bad(path, lineno, f"line longer than {MAX_LINE_BYTES} bytes")
    try:
        line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
    except UnicodeDecodeError as e:
        raise _bad(path, lineno, f"not valid UTF-8 ({e.reason})") from None
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise _bad(path, lineno, f"not valid JSON ({e.msg})") from None
    except (ValueError, RecursionError) as e:  # a 5,000-digit int, [[[[...]]]]
        raise _bad(path, lineno, f"not usable JSON ({type(e).__name__})") from None
    if not isinstance(obj, dict):
        raise _bad(path, lineno, "expected a JSON object")
    for key in REQUIRED_KEYS:
        if key not in obj:
            raise _bad(path, lineno, f"missing key '{key}'")
    duration = obj["duration"]
    if isinstance(duration, bool) or not isinstance(duration, int | float):
        raise _bad(path, lineno, f"'duration' must be a number, got {_short(duration)}")
    if _number(obj, "duration") is None:
        raise _bad(path, lineno, f"'duration' must be >= 0, got {_short(duration)}")
    if "offset" in obj and _number(obj, "offset") is None:
        raise _bad(
            path, lineno, f"'offset' must be a number >= 0, got {_short(obj['offset'])}"
        )
    for key in ("audio_filepath", "text"):
        if not isinstance(obj[key], str):
            raise _bad(
                path, lineno, f"'{key}' must be a string, got {_short(obj[key])}"
            )
    if not obj["audio_filepath"]:
        raise _bad(path, lineno, "'audio_filepath' is empty")
    if "\x00" in obj["audio_filepath"]:
        raise _bad(path, lineno, "'audio_filepath' holds a NUL character")
    audio = os.path.normpath(os.path.join(base, obj["audio_filepath"]))
    extra = tuple((k, v) for k, v in obj.items() if k not in REQUIRED_KEYS)
    return Utterance(audio, _number(obj, "duration"), obj["text"], extra)


def _short(value: object, limit: int = 60) -> str:
    """`repr(value)`, cut to `limit` characters (a huge value in a message)."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        return f"a {type(value).__name__} too large to print"
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
