"""Atomic writes (`asr.files`): old or new file, never half; one temp-name
scheme; temp files of dead writers are removed."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys

import pytest

from asr import files
from asr.files import (
    AtomicFile,
    WriteError,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    remove_stale_temp_files,
    temp_path,
)


def test_failure_during_the_write_removes_the_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "m.jsonl"
    atomic_write_text(path, "old\n")
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(path, "new\n")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.jsonl"]


def test_atomic_write_creates_parents_and_replaces(tmp_path):
    path = tmp_path / "a" / "b" / "f.txt"
    atomic_write_text(path, "one\n")
    atomic_write_text(path, "two\n")
    assert path.read_text() == "two\n"
    assert os.listdir(path.parent) == ["f.txt"]


def test_atomic_write_gives_normal_permissions_and_keeps_existing_ones(tmp_path):
    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "new.txt"
        atomic_write_text(path, "x")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
        os.chmod(path, 0o640)
        atomic_write_text(path, "y")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    finally:
        os.umask(old_umask)


def test_atomic_path_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="writer died"):
        with atomic_path(path, ".keras") as tmp:
            assert tmp.name.endswith(".tmp.keras") and tmp.parent == tmp_path
            tmp.write_bytes(b"ne")
            raise RuntimeError("writer died")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.keras"]


def test_atomic_path_replaces_a_folder_whole(tmp_path):
    out = tmp_path / "saved"
    out.mkdir()
    (out / "old.pb").write_bytes(b"old")
    with atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "new.pb").write_bytes(b"new")
    assert os.listdir(out) == ["new.pb"]
    assert os.listdir(tmp_path) == ["saved"]


def test_atomic_file_commit_and_discard(tmp_path):
    kept, dropped = AtomicFile(tmp_path / "a.wav"), AtomicFile(tmp_path / "b.wav")
    kept.tmp.write_bytes(b"a")
    dropped.tmp.write_bytes(b"b")
    assert not kept.tmp.name.endswith(".wav")  # a *.wav glob never sees it
    kept.commit()
    dropped.discard()
    assert os.listdir(tmp_path) == ["a.wav"]
    atomic_write_bytes(tmp_path / "a.wav", b"c")
    assert (tmp_path / "a.wav").read_bytes() == b"c"


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    names = [
        f".model.keras.{dead}.0badc0de.tmp.keras",
        f".latest.weights.h5.{dead}.0badc0de.tmp.weights.h5",
        f".history.csv.{dead}.0badc0de.tmp",
    ]
    live = [
        temp_path(tmp_path / "model.keras", ".keras").name,
        "model.keras",
        ".hidden",
    ]
    for name in names + live:
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_temp_files(tmp_path)
    assert sorted(p.name for p in removed) == sorted(names)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(live)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
@pytest.mark.parametrize("where", ["writer", "wrapped", "fsync"])
def test_disk_errors_keep_the_old_file_and_name_the_path(
    tmp_path, monkeypatch, code, where
):
    path = tmp_path / "model.keras"
    atomic_write_text(path, "old")
    cause = OSError(code, os.strerror(code))
    if where == "fsync":

        def broken(fd):
            raise cause

        monkeypatch.setattr(files.os, "fsync", broken)
    with pytest.raises(WriteError) as e:
        with atomic_path(path, ".keras") as tmp:
            tmp.write_text("half")
            if where == "writer":
                raise cause
            if where == "wrapped":  # as h5py and zipfile report it
                try:
                    raise cause
                except OSError as inner:
                    raise RuntimeError("unable to write") from inner
    assert str(e.value) == (
        f"{path}: cannot write: {os.strerror(code)} (the previous file is kept)"
    )
    assert e.value.errno == code
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_other_errors_are_not_disk_errors(tmp_path):
    with pytest.raises(ValueError), atomic_path(tmp_path / "x"):
        raise ValueError("a bug, not the disk")
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "y"):
        raise FileNotFoundError(errno.ENOENT, "missing input")


# Fills a 64 KiB tmpfs: the second write fails, the first file stays whole.
TMPFS_SCRIPT = r"""
import sys
from asr.files import WriteError, atomic_write_bytes
path = sys.argv[1] + "/report.json"
atomic_write_bytes(path, b"old" * 1000)
try:
    atomic_write_bytes(path, b"x" * 200_000)
except WriteError as e:
    assert open(path, "rb").read() == b"old" * 1000
    print(e)
"""


def test_a_full_tmpfs_keeps_the_old_file(tmp_path):
    if not shutil.which("unshare"):
        pytest.skip("no unshare to mount a tmpfs")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    done = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            'mount -t tmpfs -o size=64k tmpfs "$1" || exit 77; shift; exec "$@"',
            "-",
            str(mnt),
            sys.executable,
            "-c",
            TMPFS_SCRIPT,
            str(mnt),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if done.returncode == 77 or "unshare:" in done.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()[:200]}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"{mnt}/report.json: cannot write: No space left on device "
        "(the previous file is kept)"
    )
