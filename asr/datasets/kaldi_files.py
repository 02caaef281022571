"""The files of a Kaldi data directory, read into tables keyed by id.

A Kaldi data directory `DIR` holds, one entry a line, first field the id:

- `text` (required): `<utt-id> <transcript>`;
- `wav.scp` (required): `<rec-id> <audio path>`, relative paths resolved
  against `DIR`; a command pipe (`... |`) is not supported;
- `segments` (optional): `<utt-id> <rec-id> <start> <end>` in seconds, `end`
  -1 meaning the end of the recording;
- `utt2spk`, `spk2gender` (`m`/`f`), `spk2age` (whole years), all optional.

Each reader leaves out a broken line (not UTF-8, a wrong field count, a
duplicate id, a bad number, gender or age, an unusable recording) and adds it
to a `Report`, which logs it as a warning naming `file:line` (on the
`asr.datasets.kaldi` logger, the module that reports them). Blank lines are
ignored; a first-line UTF-8 BOM is dropped.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from asr.audio import AudioLoadError, audio_info

logger = logging.getLogger("asr.datasets.kaldi")


@dataclass(frozen=True)
class Entry:
    """One line of a table file, keyed by its id in `read_table`."""

    fields: tuple[str, ...]  # the line's fields after the id
    where: str  # "path:line"


class Report:
    """Problems met, each logged once as `file:line: reason`."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, where: str, kind: str, reason: str, id_: str | None = None) -> None:
        self.rows.append({"where": where, "id": id_, "kind": kind, "reason": reason})
        logger.warning("%s: %s", where, reason)


def read_table(path: Path, fields: int | None, report: Report) -> dict[str, Entry]:
    """id -> entry for each line of `path`. `fields` is the exact field count
    after the id; None keeps the rest of the line (stripped) as one field,
    possibly empty. Malformed and duplicate lines are reported and left out."""
    table: dict[str, Entry] = {}
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            where = f"{path}:{lineno}"
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                report.add(where, "malformed line", f"not valid UTF-8 ({e.reason})")
                continue
            if not line.strip():
                continue
            if fields is None:
                parts = line.strip().split(maxsplit=1)
                key, rest = parts[0], (parts[1].strip() if len(parts) > 1 else "")
                values: tuple[str, ...] = (rest,)
            else:
                parts = line.split()
                if len(parts) != fields + 1:
                    report.add(
                        where,
                        "malformed line",
                        f"expected {fields + 1} fields, got {len(parts)}: "
                        f"{line.strip()!r}",
                        parts[0],
                    )
                    continue
                key, values = parts[0], tuple(parts[1:])
            if key in table:
                report.add(
                    where,
                    "duplicate id",
                    f"duplicate id {key!r} (first at {table[key].where})",
                    key,
                )
                continue
            table[key] = Entry(values, where)
    return table


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read_segments(
    path: Path, report: Report
) -> dict[str, tuple[str, float, float, str]]:
    """seg id -> (rec id, start, end or -1, where); bad numbers are reported."""
    out = {}
    for seg, e in read_table(path, 3, report).items():
        rec, start, end = e.fields[0], _number(e.fields[1]), _number(e.fields[2])
        if start is None or end is None:
            report.add(
                e.where,
                "malformed line",
                f"start/end are not numbers: {e.fields[1:]}",
                seg,
            )
        elif start < 0 or not (end > start or end == -1):
            report.add(
                e.where,
                "malformed line",
                f"segment {seg}: need 0 <= start < end (or end -1), got "
                f"{e.fields[1]} {e.fields[2]}",
                seg,
            )
        else:
            out[seg] = (rec, start, end, e.where)
    return out


def read_speaker_facts(
    data_dir: Path, report: Report
) -> tuple[dict[str, str] | None, dict[str, str], dict[str, int]]:
    """utt2spk (None when absent), spk2gender and spk2age, bad lines reported."""
    utt2spk = None
    if (data_dir / "utt2spk").is_file():
        utt2spk = {
            u: e.fields[0]
            for u, e in read_table(data_dir / "utt2spk", 1, report).items()
        }
    gender: dict[str, str] = {}
    if (data_dir / "spk2gender").is_file():
        for spk, e in read_table(data_dir / "spk2gender", 1, report).items():
            g = e.fields[0].lower()
            if g in ("m", "f"):
                gender[spk] = g
            else:
                report.add(
                    e.where,
                    "malformed line",
                    f"gender must be m or f, got {e.fields[0]!r}",
                    spk,
                )
    age: dict[str, int] = {}
    if (data_dir / "spk2age").is_file():
        for spk, e in read_table(data_dir / "spk2age", 1, report).items():
            try:
                age[spk] = int(e.fields[0])
                if age[spk] < 0:
                    raise ValueError
            except ValueError:
                age.pop(spk, None)
                report.add(
                    e.where,
                    "malformed line",
                    f"age must be a whole number >= 0, got {e.fields[0]!r}",
                    spk,
                )
    return utt2spk, gender, age


def read_recordings(
    data_dir: Path, wav: dict[str, Entry], used: set[str], report: Report
) -> dict[str, tuple[str, float]]:
    """rec id -> (absolute path, duration from the header) for the recordings
    in `used` that can be read; the others are reported."""
    out = {}
    for rec in sorted(used & wav.keys()):
        e = wav[rec]
        spec = e.fields[0]
        if not spec:
            report.add(
                e.where, "malformed line", f"recording {rec} has no audio path", rec
            )
            continue
        if spec.endswith("|"):
            report.add(
                e.where,
                "command pipe",
                f"recording {rec}: command pipes ({spec!r}) are not supported; "
                "write the audio to files and list their paths",
                rec,
            )
            continue
        path = os.path.normpath(os.path.join(data_dir, spec))
        try:
            duration = audio_info(path)[0]
        except AudioLoadError as err:
            problem = str(err).removeprefix(f"{path}: ")
            kind = (
                "audio missing" if problem == "file not found" else "audio unreadable"
            )
            report.add(e.where, kind, f"recording {rec}: {path}: {problem}", rec)
            continue
        out[rec] = (path, duration)
    return out
