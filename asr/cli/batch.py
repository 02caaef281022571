"""`asr transcribe`'s inputs and output files: files, folders and stdin in,
one file per input and format out.

- `collect_inputs`: FILE arguments -> inputs; a folder gives its audio files
  (recursive, `asr.audio.AUDIO_EXTENSIONS`, sorted), `-` the audio bytes on
  stdin (any format soundfile reads), copied to a temp file.
- `output_stems`: where each input's outputs go under `--output-dir`: like
  whisper, `DIR/<stem>.<ext>`; inputs sharing a stem keep their folders
  relative to the inputs' common folder (`DIR/a/x.txt`, `DIR/b/x.txt`).
- `write_outputs`: every asked format of one result, each written atomically.
- `batches` / `recognise_batch`: consecutive short files recognised together
  (one `Recognizer.transcribe_segments` call for up to `BATCH_FILES` files /
  `BATCH_SECONDS` of audio), a batch with a broken file redone file by file.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

STDIN = "-"


@dataclass(frozen=True)
class Input:
    """One audio input: `path` to read, `name` to report (`-` for stdin)."""

    path: str
    name: str

    @property
    def is_stdin(self) -> bool:
        return self.name == STDIN


def collect_inputs(items: list[str], tmp_dir: str | os.PathLike) -> list[Input]:
    """The inputs the FILE arguments name, in order, duplicates dropped.

    Args:
        items: files, folders, or `-` (at most once).
        tmp_dir: where stdin's bytes are written.

    Raises:
        ValueError: `-` given twice.
        FileNotFoundError: a folder holds no audio file.
    """
    from asr.audio import AUDIO_EXTENSIONS

    out: list[Input] = []
    seen: set[str] = set()
    if items.count(STDIN) > 1:
        raise ValueError("`-` (stdin) can be given only once")
    for item in items:
        if item == STDIN:
            path = Path(tmp_dir) / "stdin"
            with open(path, "wb") as f:
                f.write(sys.stdin.buffer.read())
            out.append(Input(str(path), STDIN))
            continue
        if Path(item).is_dir():
            found = sorted(
                p
                for p in Path(item).rglob("*")
                if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
            )
            if not found:
                raise FileNotFoundError(
                    f"{item}: no audio files in this folder "
                    f"({', '.join(AUDIO_EXTENSIONS)})"
                )
            paths = [str(p) for p in found]
        else:
            paths = [item]  # a missing or unreadable file is reported later
        for p in paths:
            if p not in seen:
                seen.add(p)
                out.append(Input(p, p))
    return out


def output_stems(inputs: list[Input]) -> dict[str, Path]:
    """Input name -> output path without extension, relative to the output
    folder (see the module docstring); stdin's is `stdin`."""
    stems = {i.name: Path("stdin" if i.is_stdin else Path(i.path).stem) for i in inputs}
    counts: dict[Path, int] = {}
    for stem in stems.values():
        counts[stem] = counts.get(stem, 0) + 1
    clash = [i for i in inputs if counts[stems[i.name]] > 1 and not i.is_stdin]
    if clash:
        parents = [os.path.abspath(Path(i.path).parent) for i in clash]
        root = os.path.commonpath(parents)
        for i in clash:
            rel = Path(os.path.relpath(os.path.abspath(i.path), root))
            stems[i.name] = rel.parent / rel.stem
        # Same folder and stem, other extension (a.wav, a.flac): keep it.
        again: dict[Path, int] = {}
        for i in clash:
            again[stems[i.name]] = again.get(stems[i.name], 0) + 1
        for i in clash:
            if again[stems[i.name]] > 1:
                rel = Path(os.path.relpath(os.path.abspath(i.path), root))
                stems[i.name] = rel
    return stems


def output_paths(out_dir: str | os.PathLike, stem: Path, formats: list[str]) -> list:
    """`out_dir/stem.<format>` for each format."""
    return [Path(out_dir) / stem.parent / f"{stem.name}.{fmt}" for fmt in formats]


def write_outputs(
    out_dir: str | os.PathLike, stem: Path, formats: list[str], name: str, seg
) -> None:
    """Writes `seg` (an `asr.outputs.Segment`) in each format, atomically.

    The cues come from the word timings (`asr.outputs.make_cues`); the .txt
    holds one cue per line, or the decoder's text on one line where it is not
    the greedy path's words (beam or LM decoding).
    """
    from asr import outputs
    from asr.files import atomic_write_text

    cues = outputs.make_cues(seg.words)
    same_words = seg.text.split() == [w["word"] for w in seg.words]
    for fmt, path in zip(formats, output_paths(out_dir, stem, formats), strict=True):
        if fmt == "json":
            content = outputs.to_json(
                cues,
                audio_filepath=name,
                text=seg.text,
                duration=round(seg.duration, 3),
                confidence=seg.confidence,
                words=seg.words,
            )
        elif fmt == "txt" and not same_words:
            content = seg.text + "\n"
        else:
            content = outputs.WRITERS[fmt](cues)
        atomic_write_text(path, content)


def stdin_tmp_dir() -> tempfile.TemporaryDirectory:
    """The temp folder stdin's audio is copied into (removed on cleanup)."""
    return tempfile.TemporaryDirectory(prefix="asr-stdin-")


BATCH_FILES = 16  # asr transcribe: short files recognised together
BATCH_SECONDS = 160.0  # ... holding at most this much audio


def batches(todo: list, recognizer) -> list[list]:
    """`todo`'s (item, duration) pairs in input order, consecutive short files
    grouped up to BATCH_FILES / BATCH_SECONDS; a long file is a group alone."""
    groups: list[list] = []
    audio = 0.0
    for item, duration in todo:
        long = recognizer.is_long(duration)
        if (
            long
            or not groups
            or len(groups[-1]) >= BATCH_FILES
            or audio + duration > BATCH_SECONDS
            or recognizer.is_long(groups[-1][-1][1])
        ):
            groups.append([])
            audio = 0.0
        groups[-1].append((item, duration))
        audio += duration
    return groups


def recognise_batch(recognizer, items: list, options: dict) -> list:
    """`Segment`s of the items' files, or the `AudioLoadError` of those that
    fail (a batch with a broken file is redone file by file)."""
    from asr.audio import AudioLoadError

    try:
        return recognizer.transcribe_segments([i.path for i in items], **options)
    except AudioLoadError as e:
        if len(items) == 1:
            return [e]
    out = []
    for item in items:
        try:
            out.append(recognizer.transcribe_segments([item.path], **options)[0])
        except AudioLoadError as e:
            out.append(e)
    return out
