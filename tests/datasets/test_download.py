"""download_file / extract_archive against a local Range-capable HTTP server,
and download + prepare of tiny corpora in the official archive layouts."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import re
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.datasets.download import (
    DownloadError,
    download_and_extract,
    download_file,
    extract_archive,
)
from asr.datasets.librispeech import prepare_librispeech
from asr.datasets.speech_commands import prepare_speech_commands

BODY = bytes(range(256)) * 40  # 10,240 bytes


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET with optional Range support; records (path, Range, bytes sent)."""

    def do_GET(self):  # noqa: N802 (http.server naming)
        srv = self.server
        body = srv.files.get(self.path)
        rng = self.headers.get("Range")
        if body is None:
            srv.log.append((self.path, rng, 0))
            self.send_error(404)
            return
        start = 0
        if rng and srv.honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(body):
                srv.log.append((self.path, rng, 0))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header(
                "Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}"
            )
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        payload = body[start:]
        if srv.cut_after is not None:  # announce everything, send part, hang up
            payload, srv.cut_after = payload[: srv.cut_after], None
            self.close_connection = True
        srv.log.append((self.path, rng, len(payload)))  # before the client has it
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.log, srv.honour_range, srv.cut_after = {}, [], True, None
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --- download_file ---------------------------------------------------------


def test_download_writes_file_and_checks_both_digests(server, tmp_path):
    server.files["/f.bin"] = BODY
    dest = tmp_path / "sub" / "f.bin"
    got = download_file(
        f"{server.url}/f.bin",
        dest,
        sha256=hashlib.sha256(BODY).hexdigest(),
        md5=_md5(BODY),
        progress=False,
    )
    assert got == dest
    assert dest.read_bytes() == BODY
    assert not (tmp_path / "sub" / "f.bin.part").exists()
    assert server.log == [("/f.bin", None, len(BODY))]


def test_download_resumes_part_file_requesting_only_the_rest(server, tmp_path):
    server.files["/f.bin"] = BODY
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(BODY[:3000])
    download_file(f"{server.url}/f.bin", dest, md5=_md5(BODY), progress=False)
    assert dest.read_bytes() == BODY
    assert server.log == [("/f.bin", "bytes=3000-", len(BODY) - 3000)]


def test_download_restarts_when_server_ignores_range(server, tmp_path):
    server.files["/f.bin"] = BODY
    server.honour_range = False
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"x" * 5000)  # would corrupt if appended
    download_file(f"{server.url}/f.bin", dest, md5=_md5(BODY), progress=False)
    assert dest.read_bytes() == BODY
    assert server.log == [("/f.bin", "bytes=5000-", len(BODY))]


def test_download_completes_part_file_that_is_already_whole(server, tmp_path):
    server.files["/f.bin"] = BODY
    (tmp_path / "f.bin.part").write_bytes(BODY)
    download_file(f"{server.url}/f.bin", tmp_path / "f.bin", md5=_md5(BODY))
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert server.log == [("/f.bin", f"bytes={len(BODY)}-", 0)]


def test_download_resumes_by_itself_after_connection_drops(server, tmp_path):
    server.files["/f.bin"] = BODY
    server.cut_after = 4000
    dest = tmp_path / "f.bin"
    download_file(f"{server.url}/f.bin", dest, md5=_md5(BODY), progress=False)
    assert dest.read_bytes() == BODY
    assert server.log == [
        ("/f.bin", None, 4000),
        ("/f.bin", "bytes=4000-", len(BODY) - 4000),
    ]


def test_dropped_connection_without_retries_keeps_part_for_next_run(server, tmp_path):
    server.files["/f.bin"] = BODY
    server.cut_after = 4000
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="run again to resume"):
        download_file(f"{server.url}/f.bin", dest, retries=0, progress=False)
    assert (tmp_path / "f.bin.part").read_bytes() == BODY[:4000]
    assert not dest.exists()
    download_file(f"{server.url}/f.bin", dest, retries=0, progress=False)
    assert dest.read_bytes() == BODY


def test_wrong_checksum_removes_download_and_raises(server, tmp_path):
    server.files["/f.bin"] = BODY
    dest = tmp_path / "f.bin"
    url = f"{server.url}/f.bin"
    with pytest.raises(DownloadError, match=r"f\.bin: md5 mismatch"):
        download_file(url, dest, md5="0" * 32, progress=False)
    assert sorted(tmp_path.iterdir()) == []


def test_existing_file_with_wrong_checksum_is_downloaded_again(server, tmp_path):
    server.files["/f.bin"] = BODY
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"stale")
    download_file(f"{server.url}/f.bin", dest, md5=_md5(BODY), progress=False)
    assert dest.read_bytes() == BODY
    download_file(f"{server.url}/f.bin", dest, md5=_md5(BODY), progress=False)
    assert len(server.log) == 1  # the second call found a good file


def test_http_404_raises_naming_url_and_status(server, tmp_path):
    url = f"{server.url}/missing.tar.gz"
    with pytest.raises(DownloadError, match=re.escape(url) + ": HTTP 404"):
        download_file(url, tmp_path / "x", progress=False)
    assert sorted(tmp_path.iterdir()) == []


def test_refused_connection_raises(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/f.bin"
    with pytest.raises(DownloadError, match=re.escape(url) + ": connection refused"):
        download_file(url, tmp_path / "f.bin", progress=False)


def test_silent_server_times_out(tmp_path):
    with socket.socket() as s:  # listens, never answers
        s.bind(("127.0.0.1", 0))
        s.listen()
        url = f"http://127.0.0.1:{s.getsockname()[1]}/f.bin"
        with pytest.raises(DownloadError, match=re.escape(url) + ": timed out"):
            download_file(url, tmp_path / "f.bin", timeout=0.3, progress=False)


def test_malformed_checksum_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="md5"):
        download_file("http://127.0.0.1:9/x", tmp_path / "x", md5="abc")


# --- extract_archive -------------------------------------------------------


def _tar(path: Path, members: list[tuple[str, str, bytes | str]]) -> Path:
    """members: (name, kind, data) with kind "file", "dir", "sym" or "hard"."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE}.get(
                kind, tarfile.LNKTYPE
            )
            info.linkname = data if kind != "dir" else ""
            tar.addfile(info)
    return path


def test_extract_tar_gz_merges_folders_and_marks_completion(tmp_path):
    target = tmp_path / "root"
    a = _tar(tmp_path / "a.tar.gz", [("Top/a/x.txt", "file", b"x")])
    b = _tar(
        tmp_path / "b.tgz",
        [("Top/b/y.txt", "file", b"y"), ("Top/b/link", "sym", "y.txt")],
    )
    assert extract_archive(a, target) == target
    extract_archive(b, target)
    assert (target / "Top/a/x.txt").read_bytes() == b"x"
    assert (target / "Top/b/link").read_bytes() == b"y"
    assert sorted(p.name for p in target.iterdir()) == [
        ".a.tar.gz.completed",
        ".b.tgz.completed",
        "Top",
    ]
    (target / "Top/a/x.txt").unlink()
    extract_archive(a, target)  # marker present: skipped
    assert not (target / "Top/a/x.txt").exists()


def test_extract_zip(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Top/x.txt", "x")
    extract_archive(path, tmp_path / "out")
    assert (tmp_path / "out/Top/x.txt").read_text() == "x"


@pytest.mark.parametrize(
    "members, bad",
    [
        ([("../evil", "file", b"!")], "../evil"),
        ([("ok/../../evil", "file", b"!")], "ok/../../evil"),
        ([("/tmp/evil", "file", b"!")], "/tmp/evil"),
        ([("passwd", "sym", "/etc/passwd")], "passwd"),
        ([("up", "sym", "../../outside")], "up"),
        ([("hard", "hard", "../outside")], "hard"),
        ([("l1", "sym", "."), ("l1/l2", "sym", "..")], "l1/l2"),
    ],
)
def test_extract_refuses_members_escaping_target(tmp_path, members, bad):
    archive = _tar(tmp_path / "bad.tar.gz", [("fine.txt", "file", b"ok"), *members])
    target = tmp_path / "t" / "target"
    with pytest.raises(DownloadError, match=f"refusing member {re.escape(repr(bad))}"):
        extract_archive(archive, target)
    assert list(target.iterdir()) == []  # nothing moved in, no marker, no temp dir
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["bad.tar.gz", "t", "target"]


def test_extract_zip_refuses_traversal(tmp_path):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../evil", "!")
    with pytest.raises(DownloadError, match="refusing member '../evil'"):
        extract_archive(path, tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_extract_rejects_non_archive(tmp_path):
    path = tmp_path / "x.tar.gz"
    path.write_bytes(b"not an archive")
    with pytest.raises(DownloadError, match="not a tar or zip"):
        extract_archive(path, tmp_path / "out")


# --- download + prepare, official layouts ----------------------------------


def _flac(seconds: float) -> bytes:
    buf = io.BytesIO()
    t = np.arange(int(seconds * 16000)) / 16000
    sf.write(buf, 0.1 * np.sin(2 * np.pi * 440 * t), 16000, format="FLAC")
    return buf.getvalue()


def _wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(int(seconds * 16000)), 16000, format="WAV")
    return buf.getvalue()


def _serve_tar(server, name: str, members) -> str:
    data = _tar(server.tmp / name, members).read_bytes()
    server.files[f"/{name}"] = data
    return _md5(data)


@pytest.fixture
def libri_server(server, tmp_path):
    server.tmp = tmp_path
    d = "LibriSpeech/dev-clean/84/121123/"
    trans = b"84-121123-0000 GO DO YOU HEAR\n84-121123-0001 BUT IN LESS THAN FIVE\n"
    server.md5 = _serve_tar(
        server,
        "dev-clean.tar.gz",
        [
            ("LibriSpeech/README.TXT", "file", b"LibriSpeech\n"),
            (d + "84-121123-0000.flac", "file", _flac(0.5)),
            (d + "84-121123-0001.flac", "file", _flac(0.25)),
            (d + "84-121123.trans.txt", "file", trans),
        ],
    )
    return server


def test_librispeech_download_and_prepare(libri_server, tmp_path):
    root, out = tmp_path / "data", tmp_path / "out"
    kw = dict(parts=["dev-clean"], base_url=libri_server.url, progress=False)
    md5 = {"dev-clean": libri_server.md5}
    got = prepare_librispeech(root, out, download=True, md5=md5, **kw)
    assert got == {"dev-clean": out / "dev-clean.jsonl"}
    rows = [tuple(json.loads(line).values()) for line in got["dev-clean"].open()]
    d = "../data/LibriSpeech/dev-clean/84/121123/"
    assert rows == [
        (d + "84-121123-0000.flac", 0.5, "go do you hear"),
        (d + "84-121123-0001.flac", 0.25, "but in less than five"),
    ]
    assert not (root / "dev-clean.tar.gz").exists()  # archive removed after extraction
    assert (root / ".dev-clean.tar.gz.completed").is_file()
    before = got["dev-clean"].read_bytes()
    prepare_librispeech(root, out, download=True, md5=md5, **kw)
    assert got["dev-clean"].read_bytes() == before
    assert len(libri_server.log) == 1  # the rerun downloaded nothing


def test_librispeech_download_checks_official_md5(libri_server, tmp_path):
    root = tmp_path / "data"
    with pytest.raises(
        DownloadError, match="md5 mismatch.*42e2234ba48799c1f50f24a7926300a1"
    ):
        prepare_librispeech(
            root, tmp_path / "out", ["dev-clean"], True, libri_server.url, False
        )
    assert sorted(root.iterdir()) == []


def test_speech_commands_download_and_prepare(server, tmp_path):
    server.tmp = tmp_path
    name = "speech_commands_v0.02.tar.gz"
    md5 = _serve_tar(
        server,
        name,
        [
            ("./validation_list.txt", "file", b"no/b_nohash_0.wav\n"),
            ("./testing_list.txt", "file", b"yes/a_nohash_1.wav\n"),
            ("./yes/a_nohash_0.wav", "file", _wav(1.0)),
            ("./yes/a_nohash_1.wav", "file", _wav(0.5)),
            ("./no/b_nohash_0.wav", "file", _wav(0.75)),
            ("./_background_noise_/white_noise.wav", "file", _wav(2.0)),
        ],
    )
    root, out = tmp_path / "sc", tmp_path / "out"
    got = prepare_speech_commands(
        root, out, download=True, url=f"{server.url}/{name}", md5=md5, progress=False
    )
    rows = {
        split: [tuple(json.loads(line).values()) for line in path.open()]
        for split, path in got.items()
    }
    assert rows == {
        "train": [("../sc/yes/a_nohash_0.wav", 1.0, "yes")],
        "validation": [("../sc/no/b_nohash_0.wav", 0.75, "no")],
        "test": [("../sc/yes/a_nohash_1.wav", 0.5, "yes")],
    }
    assert (root / ".speech_commands_v0.02.tar.gz.completed").is_file()


def test_download_and_extract_keeps_archive_on_request(server, tmp_path):
    server.tmp = tmp_path
    md5 = _serve_tar(server, "a.tar.gz", [("x.txt", "file", b"x")])
    target = tmp_path / "t"
    download_and_extract(
        f"{server.url}/a.tar.gz", target, md5=md5, progress=False, keep_archive=True
    )
    assert sorted(p.name for p in target.iterdir()) == [
        ".a.tar.gz.completed",
        "a.tar.gz",
        "x.txt",
    ]
