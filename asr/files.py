"""Atomic writes: a reader sees the old file or the new one, never half of one.

Every writer in `asr` writes to a temp file beside its target and renames it
over the target once the content is complete (and fsynced); on any failure,
Ctrl+C included, the temp file is removed. One naming scheme for all of them:

    .NAME.PID.RANDOM.tmp[SUFFIX]      e.g. .model.keras.4242.0badc0de.tmp.keras

`PID` is the writer's process id, so `remove_stale_temp_files` can tell a file
left by a killed writer (its process is gone) from one being written now.
`SUFFIX` is only for writers that pick the format from the file name (Keras's
`.keras` and `.weights.h5`); other temp names end in `.tmp`, so a glob for the
target's extension never picks up a file in the middle of a write.

    atomic_write_text(path, text)            # or atomic_write_bytes
    with atomic_path(path, ".keras") as tmp: # any writer that takes a path
        model.save(tmp)
    pending = AtomicFile(path)               # written over time: commit/discard

A write that fails for want of space or a failing disk (ENOSPC, EDQUOT, EIO,
EFBIG, EROFS), in the writer or in the final fsync and rename, raises
`WriteError` naming the target, and the target is left as it was (the old
file, or none).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

# The errors of a full or failing disk, which `WriteError` reports.
DISK_ERRORS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS}
)


class WriteError(OSError):
    """Writing a file failed (disk full, I/O error); the message names the
    file and says the previous version, if any, is kept. `errno` is the
    underlying error's."""

    def __init__(self, path: str | os.PathLike, cause: OSError):
        self.path = Path(path)
        kept = "the previous file is kept" if self.path.exists() else "nothing written"
        reason = cause.strerror or str(cause)
        super().__init__(cause.errno, f"{self.path}: cannot write: {reason} ({kept})")

    def __str__(self) -> str:
        return self.args[1]


def disk_error(exc: BaseException) -> OSError | None:
    """The full-disk or I/O error behind `exc` (itself or one it was raised
    from: h5py, zipfile and TensorFlow wrap them), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_ERRORS:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


_TEMP_NAME = re.compile(r"^\..+\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp(?:\.[^/]+)?$")


def temp_path(path: str | os.PathLike, suffix: str = "") -> Path:
    """The temp name beside `path`: `.NAME.PID.RANDOM.tmp` + `suffix`."""
    path = Path(path)
    return path.with_name(
        f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{suffix}"
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class AtomicFile:
    """A temp file (or folder) beside `path`; `commit()` renames it over `path`,
    `discard()` removes it. For content written over time (a recording);
    `atomic_path` wraps the common case of one block.

    Attributes:
        path: the target.
        tmp: where to write (see the module docstring for the name).
    """

    def __init__(self, path: str | os.PathLike, suffix: str = ""):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._mode: int | None = stat.S_IMODE(self.path.stat().st_mode)
        except FileNotFoundError:
            self._mode = None
        self.tmp = temp_path(self.path, suffix)

    def commit(self) -> None:
        """Makes the written temp file the target. A file is fsynced first and
        keeps the old target's permissions; a folder replaces an old folder
        (which is removed after the swap)."""
        if self.tmp.is_dir():
            if self.path.is_dir():
                old = temp_path(self.path)
                os.replace(self.path, old)
                os.replace(self.tmp, self.path)
                _remove(old)
            else:
                os.replace(self.tmp, self.path)
            return
        with self.tmp.open("rb") as f:
            os.fsync(f.fileno())
        if self._mode is not None and not self.path.is_dir():
            os.chmod(self.tmp, self._mode)
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        """Removes the temp file (nothing to do after `commit`)."""
        _remove(self.tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yields a temp path beside `path` to write; renamed over `path` when the
    block ends normally, removed when it raises.

    Args:
        path: the target file (or folder); its parent is created.
        suffix: appended to the temp name, for writers that choose the format
            by the file name (`.keras`, `.weights.h5`).
    """
    pending = AtomicFile(path, suffix)
    try:
        yield pending.tmp
        pending.commit()
    except WriteError:
        raise
    except Exception as e:
        cause = disk_error(e)
        if cause is None:
            raise
        raise WriteError(path, cause) from e
    finally:
        pending.discard()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` atomically; a new file gets the usual
    permissions (0666 less umask), a replaced one keeps its own."""
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes `text` (UTF-8) to `path` atomically, as `atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists, owned by someone else
        return True
    return True


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Removes the temp files that killed writers left in `folder` (those whose
    process is gone); returns them. Files of live processes are kept."""
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        m = _TEMP_NAME.match(path.name)
        if not m or not path.is_file():
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or _alive(pid):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    if removed:
        logger.info(
            "removed %d temp file(s) left by an interrupted run in %s",
            len(removed),
            folder,
        )
    return removed
