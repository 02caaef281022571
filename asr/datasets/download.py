"""Resumable, checksum-verified downloads and safe archive extraction.

`download_file` streams into `DEST.part`, resumes an existing `.part` with an
HTTP Range request, verifies md5/sha256 and only then renames it to `DEST`, so
`DEST` is always whole and right. `extract_archive` refuses members that would
land outside the target (absolute paths, `..`, links pointing out), extracts
into a temporary folder inside the target, moves the result into place and
leaves a marker so that a rerun skips it. Standard library only (urllib).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import posixpath
import re
import shutil
import socket
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from asr.files import atomic_write_text

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 20
USER_AGENT = "asr-speech-toolkit (python urllib)"
_HEX_LENGTHS = {"md5": 32, "sha256": 64}
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSIZED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


class DownloadError(Exception):
    """A download or an extraction failed; the message names the URL or the file
    and the problem."""


class _ConnectionLost(Exception):
    """The transfer broke off after the response started (resumable)."""


class _CannotResume(Exception):
    """The server cannot continue the part file; start again from byte 0."""


def _expected_digests(sha256: str | None, md5: str | None) -> dict[str, str]:
    expected = {}
    for name, value in (("sha256", sha256), ("md5", md5)):
        if value is None:
            continue
        value = value.strip().lower()
        if len(value) != _HEX_LENGTHS[name] or not re.fullmatch(r"[0-9a-f]+", value):
            raise ValueError(f"{name}={value!r} is not a {name} hex digest")
        expected[name] = value
    return expected


def _checksum_problem(path: Path, expected: dict[str, str]) -> str | None:
    """None if `path` has every expected digest, else what differs."""
    hashers = {name: hashlib.new(name, usedforsecurity=False) for name in expected}
    with path.open("rb") as f:
        while block := f.read(CHUNK_SIZE):
            for h in hashers.values():
                h.update(block)
    for name, want in expected.items():
        got = hashers[name].hexdigest()
        if got != want:
            return f"{name} mismatch (expected {want}, got {got})"
    return None


def _describe(reason: object, timeout: float) -> str:
    """A short phrase for why a connection failed."""
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the server up and the address right?)"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name ({reason})"
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout:g} s"
    return f"cannot connect ({reason})"


def _bar(total: int | None, initial: int, desc: str, progress: bool) -> tqdm:
    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        disable=not (progress and sys.stderr.isatty()),
    )


def _open(url: str, offset: int, timeout: float):
    """Starts a GET (from byte `offset` when > 0). Returns the response, or None
    when the server says the part file already holds the whole resource."""
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            match = _UNSIZED_RANGE.search(e.headers.get("Content-Range", ""))
            e.close()
            if match and int(match.group(1)) == offset:
                return None
            raise _CannotResume(f"server cannot resume at byte {offset}") from None
        e.close()
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"{url}: {_describe(e.reason, timeout)}") from None
    except TimeoutError:
        raise DownloadError(f"{url}: {_describe(TimeoutError(), timeout)}") from None
    except (http.client.HTTPException, OSError) as e:
        raise DownloadError(f"{url}: {_describe(e, timeout)}") from None


def _fetch(url: str, part: Path, progress: bool, timeout: float) -> None:
    """Appends the rest of `url` to `part`, or rewrites it when the server does
    not honour the Range request."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, timeout)
    except _CannotResume as e:
        logger.warning("%s: %s; starting from byte 0", url, e)
        part.unlink()
        return _fetch(url, part, progress, timeout)
    if response is None:
        return
    with response:
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        match = _CONTENT_RANGE.search(response.headers.get("Content-Range", ""))
        if response.status == 206 and not (match and int(match.group(1)) == offset):
            response.close()
            logger.warning("%s: bad partial response; starting from byte 0", url)
            part.unlink(missing_ok=True)
            if not offset:
                raise DownloadError(f"{url}: partial content for a full request")
            return _fetch(url, part, progress, timeout)
        if offset and response.status == 206:
            if match.group(3) != "*":
                total = int(match.group(3))
            elif total is not None:
                total += offset
            mode = "ab"
        else:
            if offset:
                logger.info(
                    "%s: server ignored the Range request; starting from byte 0", url
                )
            offset, mode = 0, "wb"
        received = 0
        with part.open(mode) as f, _bar(total, offset, part.name[:-5], progress) as bar:
            while True:
                try:
                    block = response.read(CHUNK_SIZE)
                except TimeoutError:
                    raise _ConnectionLost(f"no data for {timeout:g} s") from None
                except (http.client.HTTPException, OSError) as e:
                    raise _ConnectionLost(f"connection lost ({e!r})") from None
                if not block:
                    break
                f.write(block)
                received += len(block)
                bar.update(len(block))
    size = offset + received
    if total is not None and size < total:
        raise _ConnectionLost(f"connection closed at byte {size} of {total}")
    if total is not None and size > total:
        part.unlink()
        raise DownloadError(f"{url}: got {size} bytes, the server announced {total}")


def download_file(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    md5: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    retries: int = 3,
) -> Path:
    """Downloads `url` to `dest`, resuming a previous `dest.part`.

    An existing `dest` is kept if it matches the checksums (or none are given),
    and downloaded again if it does not.

    Args:
        url: http(s) URL.
        dest: file to write; its folder is created.
        sha256: expected hex digest, or None.
        md5: expected hex digest, or None.
        progress: show a tqdm bar (only when stderr is a terminal).
        timeout: seconds to wait for a connection or for the next bytes.
        retries: resumptions after a transfer breaks off having made progress.
    Returns:
        `dest`.
    Raises:
        DownloadError: HTTP error status, refused connection, timeout, a transfer
            that broke off (the `.part` stays; run again to resume), or a checksum
            mismatch (the downloaded file is removed).
    """
    dest = Path(dest)
    expected = _expected_digests(sha256, md5)
    if dest.is_file():
        problem = _checksum_problem(dest, expected) if expected else None
        if problem is None:
            logger.info("%s already downloaded", dest)
            return dest
        logger.warning("%s: %s; downloading it again", dest, problem)
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    attempt = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            _fetch(url, part, progress, timeout)
            break
        except _ConnectionLost as e:
            now = part.stat().st_size if part.exists() else 0
            if attempt < retries and now > before:
                attempt += 1
                logger.warning("%s: %s; resuming at byte %d", url, e, now)
                continue
            raise DownloadError(
                f"{url}: {e}; {now} bytes kept in {part}, run again to resume"
            ) from None
    if expected:
        problem = _checksum_problem(part, expected)
        if problem is not None:
            part.unlink()
            raise DownloadError(
                f"{url}: {problem}; removed the download (run again to start over)"
            )
    os.replace(part, dest)
    return dest


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _check_member(
    archive: Path, name: str, link: str | None, hard: bool, root: str
) -> None:
    """Raises DownloadError if extracting member `name` (a link to `link`, if
    any) under `root` could write or point outside `root`."""

    def refuse(problem: str) -> None:
        raise DownloadError(f"{archive}: refusing member {name!r}: {problem}")

    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        refuse("absolute path")
    if ".." in re.split(r"[/\\]", name):
        refuse("'..' in the path")
    dest = os.path.realpath(os.path.join(root, name))
    if not _inside(dest, root):
        refuse("leads outside the target through a link")
    if link is None:
        return
    if link.startswith(("/", "\\")) or os.path.isabs(link):
        refuse(f"link to absolute path {link!r}")
    # Hard links name a path from the archive root, symlinks from their folder.
    base = root if hard else os.path.dirname(os.path.join(root, name))
    if not _inside(os.path.realpath(os.path.join(base, link)), root):
        refuse(f"link to {link!r} points outside the target")


def _extract_tar(archive: Path, into: Path) -> None:
    root = os.path.realpath(into)
    safe = getattr(tarfile, "data_filter", None)  # Python >= 3.10.12 / 3.11.4
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            if not (member.isfile() or member.isdir() or member.issym()):
                if not member.islnk():
                    raise DownloadError(
                        f"{archive}: refusing member {member.name!r}: special file"
                    )
            link = member.linkname if (member.issym() or member.islnk()) else None
            _check_member(archive, member.name, link, member.islnk(), root)
            if safe is not None:
                tar.extract(member, into, filter=safe)
            else:
                tar.extract(member, into)


def _extract_zip(archive: Path, into: Path) -> None:
    root = os.path.realpath(into)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            link = None
            if stat.S_ISLNK(info.external_attr >> 16):
                link = zf.read(info).decode("utf-8", "replace")
            _check_member(archive, info.filename, link, False, root)
            zf.extract(info, into)


def _merge_move(src: Path, dst: Path) -> None:
    """Moves `src` to `dst`; folders merge into existing folders."""
    if src.is_dir() and not src.is_symlink() and dst.is_dir():
        for child in sorted(src.iterdir()):
            _merge_move(child, dst / child.name)
        src.rmdir()
        return
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    elif dst.exists() or dst.is_symlink():
        dst.unlink()
    shutil.move(str(src), str(dst))


def _marker(archive: Path, target: Path) -> Path:
    return target / f".{archive.name}.completed"


def extract_archive(archive: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Safely extracts a tar (.tar, .tar.gz, .tgz, ...) or zip archive.

    Members go to a temporary folder inside `target` and are moved into place
    (merging folders) only when the whole archive has extracted; then
    `target/.<archive name>.completed` is written, and later calls skip.

    Returns:
        `target`.
    Raises:
        DownloadError: missing or corrupt archive, or a member with an absolute
            path, `..`, a link pointing outside `target`, or a device/fifo.
    """
    archive, target = Path(archive), Path(target)
    marker = _marker(archive, target)
    if marker.is_file():
        logger.info("%s already extracted into %s", archive.name, target)
        return target
    if not archive.is_file():
        raise DownloadError(f"{archive}: archive not found")
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=target))
    try:
        if zipfile.is_zipfile(archive):
            _extract_zip(archive, tmp)
        elif tarfile.is_tarfile(archive):
            _extract_tar(archive, tmp)
        else:
            raise DownloadError(f"{archive}: not a tar or zip archive")
        for child in sorted(tmp.iterdir()):
            _merge_move(child, target / child.name)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise DownloadError(f"{archive}: cannot extract ({e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    atomic_write_text(marker, archive.name + "\n")
    return target


def download_and_extract(
    url: str,
    target: str | os.PathLike,
    md5: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    keep_archive: bool = False,
) -> Path:
    """Downloads the archive at `url` into `target` and extracts it there.

    Skips everything when the archive's `.completed` marker is in `target`. The
    archive is deleted after a successful extraction unless `keep_archive`.

    Returns:
        `target`.
    Raises:
        DownloadError: see `download_file` and `extract_archive`.
    """
    target = Path(target)
    name = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
    if not name:
        raise ValueError(f"{url}: URL does not end in a file name")
    archive = target / name
    if _marker(archive, target).is_file():
        logger.info("%s already downloaded and extracted into %s", name, target)
        return target
    download_file(url, archive, sha256=sha256, md5=md5, progress=progress)
    extract_archive(archive, target)
    if not keep_archive:
        archive.unlink()
    return target
