"""JSON-lines manifests with NeMo's keys.

One utterance a line: `{"audio_filepath": ..., "duration": ..., "text": ...}`.
Relative `audio_filepath` values are relative to the manifest's own folder.
Writes are atomic (temp file, fsync, rename), so a killed job never leaves half
a manifest behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

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

    def to_json(self, relative_to: Path | None = None) -> dict:
        path = self.audio_filepath
        if relative_to is not None:
            try:
                path = os.path.relpath(path, relative_to)
            except ValueError:  # other drive on Windows
                pass
        return {"audio_filepath": path, "duration": self.duration, "text": self.text,
                **dict(self.extra)}


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
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{path}:{lineno}: not valid JSON ({e.msg})") from None
            if not isinstance(obj, dict):
                raise ManifestError(f"{path}:{lineno}: expected a JSON object")
            for key in REQUIRED_KEYS:
                if key not in obj:
                    raise ManifestError(f"{path}:{lineno}: missing key '{key}'")
            duration = obj["duration"]
            if isinstance(duration, bool) or not isinstance(duration, int | float):
                raise ManifestError(f"{path}:{lineno}: 'duration' must be a number")
            if not isinstance(obj["text"], str) or not isinstance(obj["audio_filepath"], str):
                raise ManifestError(
                    f"{path}:{lineno}: 'audio_filepath' and 'text' must be strings"
                )
            audio = Path(obj["audio_filepath"])
            if not audio.is_absolute():
                audio = base / audio
            extra = tuple((k, v) for k, v in obj.items() if k not in REQUIRED_KEYS)
            rows.append(Utterance(str(audio), float(duration), obj["text"], extra))
    return rows


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes `text` to `path` so that readers see the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_manifest(
    path: str | os.PathLike, rows: Iterable[Utterance | dict], relative: bool = True
) -> int:
    """Writes rows atomically; paths become relative to the manifest's folder
    when `relative` is true. Returns the number of rows."""
    path = Path(path)
    base = path.resolve().parent if relative else None
    lines = []
    for row in rows:
        obj = row.to_json(base) if isinstance(row, Utterance) else dict(row)
        if base is not None and not isinstance(row, Utterance):
            p = obj["audio_filepath"]
            if os.path.isabs(p):
                obj["audio_filepath"] = os.path.relpath(p, base)
        lines.append(json.dumps(obj, ensure_ascii=False))
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)
