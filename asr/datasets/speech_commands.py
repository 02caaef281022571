"""Google Speech Commands v2: download and JSON-lines manifests.

On-disk layout, as the official v0.02 tarball unpacks (flat, no top folder):
`<root>/<word>/<speaker>_nohash_<n>.wav`, `<root>/validation_list.txt`,
`<root>/testing_list.txt` (lines `word/file.wav`) and `<root>/_background_noise_/`
(long noise recordings, not speech: excluded from the manifests, listed by
`background_noise_files` for augmentation).

`prepare_speech_commands` writes `OUT/train.jsonl`, `OUT/validation.jsonl` and
`OUT/test.jsonl`: a clip named in `testing_list.txt` is test, one in
`validation_list.txt` validation, every other clip train. `text` is the folder
name, normalised. Clips it cannot use are skipped, logged and listed in
`OUT/<split>.skipped.jsonl` as `{"audio_filepath", "reason"}`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from tqdm import tqdm

from asr.audio import AudioLoadError, verify_audio
from asr.datasets.download import download_and_extract
from asr.manifest import Utterance, write_manifest, write_skipped_report
from asr.text import normalise, out_of_vocabulary

logger = logging.getLogger(__name__)

URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
MD5 = "6b74f3901214cb2c2934e98196829835"
BACKGROUND_NOISE = "_background_noise_"
SPLITS = ("train", "validation", "test")
_LISTS = {"test": "testing_list.txt", "validation": "validation_list.txt"}


def download_speech_commands(
    root: str | os.PathLike,
    url: str = URL,
    md5: str | None = MD5,
    progress: bool = True,
) -> Path:
    """Downloads and extracts the v0.02 tarball into `root` (about 2.3 GB).

    Skipped when it was already extracted there; an interrupted download resumes.

    Args:
        root: folder to unpack into (the word folders land directly in it).
        url: the tarball (a mirror, or a test server).
        md5: its expected md5, or None to skip the check.
        progress: show a progress bar (only when stderr is a terminal).
    Returns:
        `root`.
    Raises:
        DownloadError: the download or the extraction failed.
    """
    return download_and_extract(url, root, md5=md5, progress=progress)


def background_noise_files(root: str | os.PathLike) -> list[Path]:
    """The `.wav` files in `root/_background_noise_`, sorted.

    Raises:
        FileNotFoundError: the folder does not exist.
    """
    folder = Path(root) / BACKGROUND_NOISE
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: no background noise folder; is {root} a Speech Commands "
            "v2 folder? (download it with --download)"
        )
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav")


def _read_list(path: Path) -> dict[str, int]:
    """`word/file.wav` entries of a split list -> line number."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: split list not found; is {path.parent} a Speech Commands v2 "
            "folder? (download it with --download)"
        )
    entries = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        entry = line.strip().replace("\\", "/")
        if entry:
            entries.setdefault(entry, lineno)
    return entries


def prepare_speech_commands(
    root: str | os.PathLike,
    out: str | os.PathLike,
    download: bool = False,
    url: str = URL,
    progress: bool = True,
    md5: str | None = MD5,
) -> dict[str, Path]:
    """Writes `out/train.jsonl`, `out/validation.jsonl` and `out/test.jsonl`.

    Every clip is decoded once: durations are the decoded lengths (clips are
    not all 1 s), and a clip cut short or holding NaN samples is reported, not
    listed. Paths are relative to `out`. Rerunning rewrites identical files.

    Args:
        root: the Speech Commands folder (holding the word folders and lists).
        out: folder for the manifests.
        download: download and extract the tarball into `root` first.
        url: see `download_speech_commands`.
        progress: show progress bars (only when stderr is a terminal).
        md5: see `download_speech_commands`.
    Returns:
        Split name ("train", "validation", "test") -> manifest path.
    Raises:
        FileNotFoundError: a split list or every word folder is missing; the
            message names the folder and suggests downloading.
        DownloadError: with `download`, the download or the extraction failed.
    """
    root, out = Path(root), Path(out)
    if download:
        download_speech_commands(root, url, md5, progress)
    root = root.resolve()
    lists = {split: _read_list(root / name) for split, name in _LISTS.items()}
    for entry in lists["test"].keys() & lists["validation"].keys():
        logger.warning("%s is in both split lists; using it for test", entry)
    words = sorted(
        d for d in root.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))
    )
    if not words:
        raise FileNotFoundError(
            f"{root}: no word folders; is it a Speech Commands v2 folder? "
            "(download it with --download)"
        )

    clips = [(w, p) for w in words for p in sorted(w.glob("*.wav")) if p.is_file()]
    rows: dict[str, list[Utterance]] = {split: [] for split in SPLITS}
    skipped: dict[str, list[dict[str, str]]] = {split: [] for split in SPLITS}
    found = set()
    disable = not (progress and sys.stderr.isatty())
    for word, path in tqdm(clips, desc="speech commands", unit="file", disable=disable):
        rel = f"{word.name}/{path.name}"
        found.add(rel)
        split = next((s for s in ("test", "validation") if rel in lists[s]), "train")
        text = normalise(word.name)
        if not text or out_of_vocabulary(text):
            reason = f"folder name {word.name!r} is not a word"
            skipped[split].append({"audio_filepath": str(path), "reason": reason})
            continue
        try:
            duration = verify_audio(path)
        except AudioLoadError as e:
            reason = str(e).removeprefix(f"{path}: ")
            skipped[split].append({"audio_filepath": str(path), "reason": reason})
            continue
        rows[split].append(Utterance(str(path), duration, text))
    for split, entries in lists.items():
        for entry, lineno in entries.items():
            if entry not in found:
                reason = f"{root / _LISTS[split]}:{lineno}: listed, but no such file"
                skipped[split].append(
                    {"audio_filepath": str(root / entry), "reason": reason}
                )

    manifests = {}
    for split in SPLITS:
        manifest = out / f"{split}.jsonl"
        write_manifest(manifest, rows[split])
        report = sorted(skipped[split], key=lambda s: s["audio_filepath"])
        write_skipped_report(
            out / f"{split}.skipped.jsonl", report, f"speech commands {split}"
        )
        logger.info("%s: %d clips", manifest, len(rows[split]))
        manifests[split] = manifest
    return manifests
