"""LibriSpeech (openslr.org resource 12): download and JSON-lines manifests.

On-disk layout, as the official archives unpack:
`<root>/LibriSpeech/<part>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac`
plus one `<speaker>-<chapter>.trans.txt` per chapter, lines `<utt id> <TEXT>`.
`root` may be the folder holding `LibriSpeech/`, the `LibriSpeech/` folder
itself, or any folder holding the part folders directly (lhotse's
`<root>/dev-clean/...`): each part is looked for at `<root>/LibriSpeech/<part>`,
then `<root>/<part>`. Downloads go to `<root>/LibriSpeech/` (or `<root>` when
it is named `LibriSpeech`).

`prepare_librispeech` writes `OUT/<part>.jsonl`. Utterances it cannot use
(unreadable, truncated or NaN audio, a transcript line without audio, audio
without a transcript line, a transcript empty after normalisation) are
skipped, logged and listed in `OUT/<part>.skipped.jsonl` as
`{"audio_filepath", "reason"}`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from tqdm import tqdm

from asr.audio import AudioLoadError, verify_audio
from asr.datasets.download import download_and_extract
from asr.manifest import Utterance, write_manifest, write_skipped_report
from asr.text import normalise, out_of_vocabulary

logger = logging.getLogger(__name__)

BASE_URL = "https://www.openslr.org/resources/12"
# md5 sums from https://www.openslr.org/resources/12/md5sum.txt
_MD5 = {
    "dev-clean": "42e2234ba48799c1f50f24a7926300a1",
    "dev-other": "c8d0bcc9cca99d4f8b62fcc847357931",
    "test-clean": "32fa31d27d2e1cad72775fee3f4849a9",
    "test-other": "fb5a50374b501bb3bac4815ee91d3135",
    "train-clean-100": "2a93770f6d5c6c964bc36631d331a522",
    "train-clean-360": "c0e676e450a7ff2f54aeade5171606fa",
    "train-other-500": "d1a0fd59409feb2c614ce4d30c387708",
}
PARTS: dict[str, tuple[str, str | None]] = {
    part: (f"{BASE_URL}/{part}.tar.gz", md5) for part, md5 in _MD5.items()
}


def _check_parts(parts: str | Iterable[str]) -> list[str]:
    parts = list(dict.fromkeys([parts] if isinstance(parts, str) else parts))
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown LibriSpeech part(s) {unknown}; known: {list(PARTS)}")
    return parts


def _corpus_dir(root: Path) -> Path:
    """Where downloads go: `root/LibriSpeech`, or `root` itself when it is the
    LibriSpeech folder."""
    if (root / "LibriSpeech").is_dir() or root.name != "LibriSpeech":
        return root / "LibriSpeech"
    return root


def _part_candidates(root: Path, part: str) -> list[Path]:
    """The folders `part` may be in, in the order they are tried: the official
    layout (`root/LibriSpeech/<part>`), then `root/<part>` (root is the
    LibriSpeech folder, or holds the parts directly as lhotse's recipes do)."""
    return [root / "LibriSpeech" / part, root / part]


def _find_part(root: Path, part: str) -> Path | None:
    return next((p for p in _part_candidates(root, part) if p.is_dir()), None)


def download_librispeech(
    root: str | os.PathLike,
    parts: str | Iterable[str] | None = None,
    base_url: str = BASE_URL,
    md5: Mapping[str, str | None] | None = None,
    progress: bool = True,
) -> Path:
    """Downloads and extracts LibriSpeech parts into `root/LibriSpeech`.

    Parts whose archive was already extracted are skipped; interrupted
    downloads resume.

    Args:
        root: folder to hold `LibriSpeech/` (or the `LibriSpeech` folder itself).
        parts: official part names; None means all seven (about 60 GB).
        base_url: where `<part>.tar.gz` lives (a mirror, or a test server).
        md5: expected md5 per part, overriding the official sums in `PARTS`;
            a part mapped to None is not checked.
        progress: show progress bars (only when stderr is a terminal).
    Returns:
        The LibriSpeech folder.
    Raises:
        ValueError: an unknown part name.
        DownloadError: a download or an extraction failed.
    """
    root = Path(root)
    corpus = _corpus_dir(root)
    for part in _check_parts(PARTS if parts is None else parts):
        checksum = (md5 or {}).get(part, PARTS[part][1])
        url = f"{base_url.rstrip('/')}/{part}.tar.gz"
        logger.info("LibriSpeech %s: %s -> %s", part, url, corpus.parent)
        download_and_extract(url, corpus.parent, md5=checksum, progress=progress)
    return corpus


def _scan_part(
    part_dir: Path, progress: bool
) -> tuple[list[Utterance], list[dict[str, str]]]:
    """Rows and skipped entries of one part folder, sorted by utterance id."""
    transcripts: dict[str, tuple[str, Path, int]] = {}  # id -> (text, file, line)
    audio: dict[str, Path] = {}
    skipped: list[dict[str, str]] = []
    for chapter in sorted(p for p in part_dir.glob("*/*") if p.is_dir()):
        for entry in sorted(chapter.iterdir()):
            if entry.name.endswith(".flac"):
                audio[entry.name[: -len(".flac")]] = entry
            elif entry.name.endswith(".trans.txt"):
                lines = entry.read_text(encoding="utf-8").splitlines()
                for lineno, line in enumerate(lines, 1):
                    if not line.strip():
                        continue
                    utt, _, raw = line.strip().partition(" ")
                    transcripts[utt] = (raw, entry, lineno)

    for utt in sorted(audio.keys() - transcripts.keys()):
        reason = f"no transcript line for {utt} in {audio[utt].parent}"
        skipped.append({"audio_filepath": str(audio[utt]), "reason": reason})
    for utt in sorted(transcripts.keys() - audio.keys()):
        _, trans, lineno = transcripts[utt]
        path = trans.parent / f"{utt}.flac"
        reason = f"{trans}:{lineno}: transcript line has no audio file {path.name}"
        skipped.append({"audio_filepath": str(path), "reason": reason})

    rows: list[Utterance] = []
    ids = sorted(audio.keys() & transcripts.keys())
    disable = not (progress and sys.stderr.isatty())
    for utt in tqdm(ids, desc=part_dir.name, unit="file", disable=disable):
        path, (raw, trans, lineno) = audio[utt], transcripts[utt]
        where = f"{trans}:{lineno}"
        text = normalise(raw)
        reason = None
        if not text:
            reason = f"{where}: transcript is empty after normalisation"
        elif bad := out_of_vocabulary(text):
            reason = f"{where}: characters outside the vocabulary {bad}"
        else:
            try:
                duration = verify_audio(path)
            except AudioLoadError as e:
                reason = str(e).removeprefix(f"{path}: ")
        if reason is not None:
            skipped.append({"audio_filepath": str(path), "reason": reason})
            continue
        rows.append(Utterance(str(path), duration, text))
    skipped.sort(key=lambda s: s["audio_filepath"])
    return rows, skipped


def prepare_librispeech(
    root: str | os.PathLike,
    out: str | os.PathLike,
    parts: str | Iterable[str] | None = None,
    download: bool = False,
    base_url: str = BASE_URL,
    progress: bool = True,
    md5: Mapping[str, str | None] | None = None,
) -> dict[str, Path]:
    """Writes `out/<part>.jsonl` for each LibriSpeech part.

    Text is `text.normalise`d; every file is decoded once, so a file cut short
    or holding NaN samples is reported, not listed; paths are relative to
    `out`. Rerunning rewrites identical files.

    Args:
        root: folder holding `LibriSpeech/`, the `LibriSpeech` folder itself, or
            a folder holding the part folders directly.
        out: folder for the manifests.
        parts: official part names; None means every part found under root
            (all seven with `download`).
        download: download and extract missing parts first.
        base_url: see `download_librispeech`.
        progress: show progress bars (only when stderr is a terminal).
        md5: see `download_librispeech`.
    Returns:
        Part name -> manifest path.
    Raises:
        ValueError: an unknown part name.
        FileNotFoundError: a part folder (or, with parts=None, any part) is
            missing; the message names the folders looked for and suggests
            downloading.
        DownloadError: with `download`, a download or an extraction failed.
    """
    root, out = Path(root), Path(out)
    if parts is not None:
        parts = _check_parts(parts)
    if download:
        # Parts found outside the download folder (lhotse's layout) are used
        # as they are; the rest go through the download's .completed markers.
        here = _corpus_dir(root)
        wanted = PARTS if parts is None else parts
        fetch = [p for p in wanted if _find_part(root, p) in (None, here / p)]
        if fetch:
            download_librispeech(root, fetch, base_url, md5, progress)
    if parts is None:
        parts = [p for p in PARTS if _find_part(root, p) is not None]
        if not parts:
            raise FileNotFoundError(
                f"{root}: no LibriSpeech part folders; looked for "
                f"{root / 'LibriSpeech'}/<part> and {root}/<part> with <part> one "
                f"of {', '.join(PARTS)}; download them with --download "
                "(download=True) or point --root at the folder holding LibriSpeech/"
            )
    found = {}
    for part in parts:
        found[part] = _find_part(root, part)
        if found[part] is None:
            looked = " and ".join(str(p) for p in _part_candidates(root, part))
            raise FileNotFoundError(
                f"LibriSpeech part '{part}' not found: looked for {looked}; "
                "download it with --download (download=True) or point --root at "
                "the folder holding LibriSpeech/"
            )
    manifests = {}
    for part in parts:
        rows, skipped = _scan_part(found[part].resolve(), progress)
        manifest = out / f"{part}.jsonl"
        write_manifest(manifest, rows)
        write_skipped_report(
            out / f"{part}.skipped.jsonl", skipped, f"LibriSpeech {part}"
        )
        logger.info("%s: %d utterances", manifest, len(rows))
        manifests[part] = manifest
    return manifests
