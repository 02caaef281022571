"""Kaldi data directories -> JSON-lines manifests.

A Kaldi data directory `DIR` holds, one entry a line, first field the id:

- `text` (required): `<utt-id> <transcript>`;
- `wav.scp` (required): `<rec-id> <audio path>`, relative paths resolved
  against `DIR`; a command pipe (`... |`) is not supported;
- `segments` (optional): `<utt-id> <rec-id> <start> <end>` in seconds, `end`
  -1 meaning the end of the recording. Without it every `wav.scp` line is one
  utterance (utterance id = recording id);
- `utt2spk`, `spk2gender` (`m`/`f`), `spk2age` (whole years), all optional.

`prepare_kaldi` writes one manifest row per usable utterance, sorted by id:
`audio_filepath` (absolute), `duration` (from the audio header, not decoded;
for a segment its length), `text` (`text.normalise`d), then `offset` (segments
only: the row is `duration` seconds of the file from `offset` on, which
`audio.load_audio` honours through `Utterance.segment`), `id`, `speaker`
(from `utt2spk`, else the utterance id up to its first `-` or `_`), and, when
known, `gender`, `age` and `age_group` (`"child"` under 18, else `"adult"`).

Broken input is logged as a warning naming `file:line`, left out and listed in
the returned summary; the rest is written. Blank lines are ignored. A segment
may run up to 0.5 s past the end of its recording (cut to the end, as Kaldi's
`extract-segments --max-overshoot` does); further is an error.

With `dev_speakers` N > 0, N whole speakers are held out into `dev.jsonl`,
picked round-robin over (gender, age group) groups, shuffled with `seed`
(`hold_out_speakers`); the rest go to `train.jsonl`. Otherwise all rows go to
`all.jsonl`.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from asr.audio import AudioLoadError, audio_info
from asr.manifest import write_manifest
from asr.text import normalise, out_of_vocabulary

logger = logging.getLogger(__name__)

MAX_OVERSHOOT = 0.5  # seconds a segment may run past its recording's end
ADULT_AGE = 18


class KaldiDataError(ValueError):
    """A Kaldi data directory cannot give manifests at all (no usable
    utterance, or too few speakers to hold out)."""


@dataclass(frozen=True)
class _Entry:
    fields: tuple[str, ...]  # the line's fields after the id
    where: str  # "path:line"


class _Report:
    """Problems met, each logged once as `file:line: reason`."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, where: str, kind: str, reason: str, id_: str | None = None) -> None:
        self.rows.append({"where": where, "id": id_, "kind": kind, "reason": reason})
        logger.warning("%s: %s", where, reason)


def _read_table(path: Path, fields: int | None, report: _Report) -> dict[str, _Entry]:
    """id -> entry for each line of `path`. `fields` is the exact field count
    after the id; None keeps the rest of the line (stripped) as one field,
    possibly empty. Malformed and duplicate lines are reported and left out."""
    table: dict[str, _Entry] = {}
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
            table[key] = _Entry(values, where)
    return table


def _speaker_of(utt: str) -> str:
    """The speaker an utterance id names without `utt2spk`."""
    return re.split(r"[-_]", utt, maxsplit=1)[0] or utt


def _age_group(age: int) -> str:
    return "child" if age < ADULT_AGE else "adult"


def hold_out_speakers(
    speakers: list[str],
    n: int,
    seed: int,
    gender: dict[str, str] | None = None,
    age: dict[str, int] | None = None,
) -> list[str]:
    """The `n` speakers to hold out, in the order they were picked.

    Speakers are grouped by (gender or "", age group or ""); each group is
    sorted, then shuffled by one `random.Random(seed)` in sorted key order;
    speakers are then taken round-robin over the groups in sorted key order,
    the head of each group first, until `n` are taken.
    """
    gender, age = gender or {}, age or {}
    groups: dict[tuple[str, str], list[str]] = {}
    for spk in set(speakers):
        key = (gender.get(spk) or "", _age_group(age[spk]) if spk in age else "")
        groups.setdefault(key, []).append(spk)
    for key in groups:
        groups[key].sort()
    rng = random.Random(seed)
    for key in sorted(groups):
        rng.shuffle(groups[key])
    chosen: list[str] = []
    while len(chosen) < n and any(groups.values()):
        for key in sorted(groups):
            if groups[key] and len(chosen) < n:
                chosen.append(groups[key].pop(0))
    return chosen


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _read_segments(
    path: Path, report: _Report
) -> dict[str, tuple[str, float, float, str]]:
    """seg id -> (rec id, start, end or -1, where); bad numbers are reported."""
    out = {}
    for seg, e in _read_table(path, 3, report).items():
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


def _read_speaker_facts(
    data_dir: Path, report: _Report
) -> tuple[dict[str, str] | None, dict[str, str], dict[str, int]]:
    """utt2spk (None when absent), spk2gender and spk2age, bad lines reported."""
    utt2spk = None
    if (data_dir / "utt2spk").is_file():
        utt2spk = {
            u: e.fields[0]
            for u, e in _read_table(data_dir / "utt2spk", 1, report).items()
        }
    gender: dict[str, str] = {}
    if (data_dir / "spk2gender").is_file():
        for spk, e in _read_table(data_dir / "spk2gender", 1, report).items():
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
        for spk, e in _read_table(data_dir / "spk2age", 1, report).items():
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


def _recordings(
    data_dir: Path, wav: dict[str, _Entry], used: set[str], report: _Report
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


def _utterances(
    data_dir: Path, report: _Report
) -> tuple[list[dict], dict[str, str], dict[str, int]]:
    """Rows (sorted by id, without speaker facts), spk2gender, spk2age."""
    text = _read_table(data_dir / "text", None, report)
    wav = _read_table(data_dir / "wav.scp", None, report)
    seg_file = data_dir / "segments"
    segments = _read_segments(seg_file, report) if seg_file.is_file() else None
    utt2spk, gender, age = _read_speaker_facts(data_dir, report)

    # utt id -> (rec id, start, end or None, where of the utt's audio line)
    if segments is None:
        units = {u: (u, 0.0, None, wav[u].where) for u in wav}
        unit_file = "wav.scp"
    else:
        units = {s: (r, a, b, w) for s, (r, a, b, w) in segments.items()}
        unit_file = "segments"
        for rec in sorted(wav.keys() - {r for r, *_ in units.values()}):
            report.add(
                wav[rec].where,
                "no transcript",
                f"recording {rec} has no segment in segments",
                rec,
            )
    # An utterance whose own audio line was bad is reported there, not again.
    reported = {r["id"] for r in report.rows if r["where"].startswith(f"{seg_file}:")}
    for utt in sorted(text.keys() - units.keys() - reported):
        report.add(
            text[utt].where,
            "no audio",
            f"utterance {utt} has no line in {unit_file}",
            utt,
        )
    for utt in sorted(units.keys() - text.keys()):
        report.add(
            units[utt][3], "no transcript", f"utterance {utt} has no line in text", utt
        )

    ids = sorted(text.keys() & units.keys())
    recs = _recordings(data_dir, wav, {units[u][0] for u in ids}, report)
    rows = []
    for utt in ids:
        rec, start, end, where = units[utt]
        if rec not in recs:
            if segments is not None:
                why = (
                    "no line in wav.scp"
                    if rec not in wav
                    else "an unusable wav.scp line"
                )
                report.add(
                    where, "no audio", f"segment {utt}: recording {rec} has {why}", utt
                )
            continue  # without segments the wav.scp line was reported already
        path, length = recs[rec]
        if segments is not None:
            if start >= length:
                report.add(
                    where,
                    "segment out of range",
                    f"segment {utt} starts at {start:g} s, at or after the end of "
                    f"recording {rec} ({length:.3f} s)",
                    utt,
                )
                continue
            if end == -1 or length < end <= length + MAX_OVERSHOOT:
                end = length
            elif end > length:
                report.add(
                    where,
                    "segment out of range",
                    f"segment {utt} ends at {end:g} s, more than {MAX_OVERSHOOT} s "
                    f"past the end of recording {rec} ({length:.3f} s)",
                    utt,
                )
                continue
        transcript = normalise(text[utt].fields[0])
        if not transcript:
            report.add(
                text[utt].where,
                "empty transcript",
                f"transcript of {utt} is empty after normalisation",
                utt,
            )
            continue
        if bad := out_of_vocabulary(transcript):
            report.add(
                text[utt].where,
                "bad transcript",
                f"transcript of {utt} has characters outside the vocabulary {bad}",
                utt,
            )
            continue
        if utt2spk is not None and utt not in utt2spk:
            report.add(
                text[utt].where,
                "no speaker",
                f"utterance {utt} has no line in utt2spk",
                utt,
            )
            continue
        row = {"audio_filepath": path}
        if segments is None:
            row.update(duration=length, text=transcript)
        else:
            row.update(duration=round(end - start, 6), text=transcript, offset=start)
        row["id"] = utt
        row["speaker"] = utt2spk[utt] if utt2spk is not None else _speaker_of(utt)
        rows.append(row)
    return rows, gender, age


def prepare_kaldi(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    dev_speakers: int = 0,
    seed: int = 0,
) -> dict:
    """Writes `out_dir/all.jsonl`, or with `dev_speakers` > 0 `train.jsonl` and
    `dev.jsonl` holding out that many whole speakers (see the module docstring).

    Returns:
        {"manifests": {name: path}, "written": {name: rows},
         "seconds": {name: total duration}, "speakers": {name: count},
         "dev_speakers": [{"speaker", "gender", "age_group"}, ...] in the order
         picked (empty without dev_speakers),
         "skipped": [{"where": "file:line", "id", "kind", "reason"}, ...]},
        `kind` one of: malformed line, duplicate id, command pipe, audio
        missing, audio unreadable, no audio, no transcript, no speaker, empty
        transcript, bad transcript, segment out of range.
    Raises:
        NotADirectoryError: `data_dir` is not a folder.
        FileNotFoundError: `text` or `wav.scp` is missing (checked first).
        ValueError: `dev_speakers` < 0.
        KaldiDataError: no usable utterance, or `dev_speakers` not below the
            number of speakers with usable utterances.
    """
    data_dir = Path(os.path.abspath(data_dir))
    out_dir = Path(out_dir)
    if dev_speakers < 0:
        raise ValueError(f"dev_speakers must be >= 0, got {dev_speakers}")
    if not data_dir.is_dir():
        raise NotADirectoryError(
            f"{data_dir}: not a Kaldi data directory (no such folder)"
        )
    missing = [n for n in ("text", "wav.scp") if not (data_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{data_dir}: not a Kaldi data directory: missing " + " and ".join(missing)
        )
    report = _Report()
    rows, gender, age = _utterances(data_dir, report)
    for row in rows:
        spk = row["speaker"]
        if spk in gender:
            row["gender"] = gender[spk]
        if spk in age:
            row["age"] = age[spk]
            row["age_group"] = _age_group(age[spk])
    if not rows:
        first = report.rows[0] if report.rows else None
        detail = f"; first: {first['where']}: {first['reason']}" if first else ""
        raise KaldiDataError(
            f"{data_dir}: no usable utterances ({len(report.rows)} problem(s){detail})"
        )
    speakers = sorted({r["speaker"] for r in rows})
    chosen: list[str] = []
    if dev_speakers:
        if dev_speakers >= len(speakers):
            raise KaldiDataError(
                f"{data_dir}: cannot hold out {dev_speakers} dev speaker(s): only "
                f"{len(speakers)} speaker(s) have usable utterances, and train "
                "needs at least one"
            )
        chosen = hold_out_speakers(speakers, dev_speakers, seed, gender, age)
        held = set(chosen)
        splits = {
            "train": [r for r in rows if r["speaker"] not in held],
            "dev": [r for r in rows if r["speaker"] in held],
        }
    else:
        splits = {"all": rows}
    summary: dict = {
        "manifests": {},
        "written": {},
        "seconds": {},
        "speakers": {},
        "dev_speakers": [
            {
                "speaker": s,
                "gender": gender.get(s),
                "age_group": _age_group(age[s]) if s in age else None,
            }
            for s in chosen
        ],
        "skipped": report.rows,
    }
    for name, split in splits.items():
        path = out_dir / f"{name}.jsonl"
        write_manifest(path, split, relative=False)
        summary["manifests"][name] = path
        summary["written"][name] = len(split)
        summary["seconds"][name] = sum(r["duration"] for r in split)
        summary["speakers"][name] = len({r["speaker"] for r in split})
        logger.info("%s: %d utterances", path, len(split))
    if report.rows:
        kinds = Counter(r["kind"] for r in report.rows)
        logger.warning(
            "%s: %d line(s) skipped: %s",
            data_dir,
            len(report.rows),
            ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())),
        )
    return summary
