"""Kaldi data directories -> JSON-lines manifests.

A Kaldi data directory `DIR` holds `text` and `wav.scp` (required),
`segments`, `utt2spk`, `spk2gender` and `spk2age` (optional); their formats
and how each is read are in `asr.datasets.kaldi_files`. Without `segments`
every `wav.scp` line is one utterance (utterance id = recording id).

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
import os
import random
import re
from collections import Counter
from pathlib import Path

from asr.datasets.kaldi_files import (
    Report,
    read_recordings,
    read_segments,
    read_speaker_facts,
    read_table,
)
from asr.manifest import write_manifest
from asr.text import normalise, out_of_vocabulary

logger = logging.getLogger(__name__)

MAX_OVERSHOOT = 0.5  # seconds a segment may run past its recording's end
ADULT_AGE = 18


class KaldiDataError(ValueError):
    """A Kaldi data directory cannot give manifests at all (no usable
    utterance, or too few speakers to hold out)."""


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


def _utterances(
    data_dir: Path, report: Report
) -> tuple[list[dict], dict[str, str], dict[str, int]]:
    """Rows (sorted by id, without speaker facts), spk2gender, spk2age."""
    text = read_table(data_dir / "text", None, report)
    wav = read_table(data_dir / "wav.scp", None, report)
    seg_file = data_dir / "segments"
    segments = read_segments(seg_file, report) if seg_file.is_file() else None
    utt2spk, gender, age = read_speaker_facts(data_dir, report)

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
    recs = read_recordings(data_dir, wav, {units[u][0] for u in ids}, report)
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
    report = Report()
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
