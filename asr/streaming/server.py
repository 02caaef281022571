"""A streaming recognition server: WebSocket streams, a browser page, offline HTTP.

    server = SpeechServer(asr.load_model("synth-en-streaming"))
    run_server(server, "127.0.0.1", 8000)           # blocks; Ctrl+C stops
    with ServerThread(server) as url: ...           # tests, benchmarks

Routes (aiohttp, `pip install 'asr[serve]'`, imported only when a server starts):

- `GET /`: a page that records the browser's microphone (getUserMedia and an
  AudioWorklet that resamples to 16 kHz, `asr/assets/web/`), streams it to
  `/ws` and shows partial and final text live. Browsers give the microphone
  only to `localhost` / `127.0.0.1` or https pages.
- `GET /ws`: one WebSocket per stream (`asr.streaming.protocol`).
- `POST /transcribe`: a whole audio file (raw body, or multipart field `file`;
  WAV, FLAC, OGG or MP3) -> `{"text", "duration", "words", "confidence"}`
  recognised offline; a bad file -> 400 `{"type": "error", "message"}`.
- `GET /status`: `{"model", "streams", "max_streams", "sample_rate"}`.

The WebSocket protocol (binary audio, JSON `config` / `end` in; `ready`,
`partial`, `final`, `done`, `error` out; close codes) is `asr.streaming.protocol`.

Each stream is a `StreamSession` (`asr.streaming.session`) with its own
`StreamState`; one `StreamingRecognizer` runs every stream's steps in one
worker thread (its compiled step and TFLite interpreter are used by one thread
at a time), so the event loop never waits on the model and streams share it.
A stream's audio waits in a bounded queue (`max_queued_messages`); when it is
full the server stops reading that socket, and TCP slows that client only.
Audio queued while the worker was busy is fed in one call. Offline requests
run in a second worker thread, so a long file does not stall the streams.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import importlib
import logging
import os
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from asr.audio import SAMPLE_RATE, AudioLoadError
from asr.streaming.protocol import (
    GOING_AWAY,
    TRY_AGAIN_LATER,
    ProtocolError,
    error_message,
    send_message,
    socket_class,
)
from asr.streaming.session import StreamSession

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'asr[serve]'"
WEB_DIR = Path(__file__).resolve().parents[1] / "assets" / "web"


class ServerError(RuntimeError):
    """The server cannot start: aiohttp missing, or the address is taken.
    The message is one line naming the problem and the fix."""


@dataclass(frozen=True)
class ServerLimits:
    """What one client may use.

    Attributes:
        max_streams: WebSocket streams open at once; one more is refused.
        max_message_bytes: largest WebSocket message (128 KiB: 4 s of s16).
        idle_timeout_s: a stream that sends nothing (and has no audio being
            recognised) for this long is closed.
        max_queued_messages: audio messages waiting per stream before the
            server stops reading its socket.
        max_upload_bytes: largest `POST /transcribe` body.
    """

    max_streams: int = 64
    max_message_bytes: int = 128 * 1024
    idle_timeout_s: float = 30.0
    max_queued_messages: int = 32
    max_upload_bytes: int = 50 * 1024 * 1024


def _web():
    """Imports aiohttp.web, turning a missing package into one line."""
    try:
        return importlib.import_module("aiohttp.web")
    except ImportError:
        raise ServerError(
            f"the server needs the aiohttp package: {INSTALL_HINT}"
        ) from None


def check_address(host: str, port: int) -> None:
    """Raises `ServerError` if `host:port` cannot be bound (in use, or not an
    address of this machine); port 0 always binds."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ServerError(f"{host}: unknown host ({e.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as e:
            raise ServerError(_bind_message(host, port, e)) from None


def _bind_message(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"{host}:{port}: address already in use; choose another --port"
    if error.errno == errno.EACCES:
        return f"{host}:{port}: permission denied (ports below 1024 need root)"
    return f"{host}:{port}: cannot listen ({error.strerror or error})"


class SpeechServer:
    """The recognition server's state: model, worker threads, open streams.

    Args:
        recognizer: an `asr.transcribe.Recognizer` of a causal model.
        chunk_ms, endpoint_silence_ms, backend: as for `StreamingRecognizer`.
        limits: what one client may use.

    Raises:
        StreamingError: the model cannot stream.
    """

    def __init__(
        self,
        recognizer,
        *,
        chunk_ms: float | None = None,
        endpoint_silence_ms: float | None = None,
        backend: str = "tf",
        limits: ServerLimits | None = None,
    ):
        from asr.streaming.recognizer import StreamingRecognizer

        self.recognizer = recognizer
        self.streaming = StreamingRecognizer(
            recognizer,
            chunk_ms=chunk_ms,
            endpoint_silence_ms=endpoint_silence_ms,
            backend=backend,
        )
        self.streaming.warmup()
        self.limits = limits or ServerLimits()
        self.name = getattr(recognizer, "name", "") or "model"
        self.streams = 0
        self._sockets: set = set()
        self._worker = concurrent.futures.ThreadPoolExecutor(1, "asr-stream")
        self._offline = concurrent.futures.ThreadPoolExecutor(1, "asr-offline")
        self._runner = None

    # -- life cycle ---------------------------------------------------------------
    def app(self):
        """The aiohttp application (routes in the module docstring)."""
        web = _web()
        app = web.Application(client_max_size=self.limits.max_upload_bytes)
        app.router.add_get("/", self._page)
        app.router.add_get("/capture-worklet.js", self._worklet)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/status", self._status)
        app.router.add_post("/transcribe", self._transcribe)
        app.on_shutdown.append(self._close_sockets)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 8000) -> str:
        """Starts listening; returns the URL (with the real port for port 0).

        Raises:
            ServerError: aiohttp missing, or the address cannot be bound.
        """
        web = _web()
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as e:
            await runner.cleanup()
            raise ServerError(_bind_message(host, port, e)) from None
        self._runner = runner
        bound = runner.addresses[0]
        name = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        url = f"http://{name}:{bound[1]}"
        logger.debug("serving %s on %s", self.name, url)
        return url

    async def close(self) -> None:
        """Closes every stream (code 1001) and stops listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._worker.shutdown(wait=True, cancel_futures=True)
        self._offline.shutdown(wait=True, cancel_futures=True)

    async def _close_sockets(self, app) -> None:
        for ws in list(self._sockets):
            await ws.close(code=GOING_AWAY, message=b"server shutting down")

    # -- HTTP -----------------------------------------------------------------------
    async def _page(self, request):
        return self._asset("index.html", "text/html")

    async def _worklet(self, request):
        return self._asset("capture-worklet.js", "text/javascript")

    def _asset(self, name: str, content_type: str):
        web = _web()
        return web.Response(
            body=(WEB_DIR / name).read_bytes(),
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def _status(self, request):
        return _web().json_response(
            {
                "model": self.name,
                "streams": self.streams,
                "max_streams": self.limits.max_streams,
                "sample_rate": SAMPLE_RATE,
            }
        )

    async def _transcribe(self, request):
        web = _web()
        path = None
        try:
            suffix, chunks = await _upload(request)
            with tempfile.NamedTemporaryFile(
                suffix=suffix, prefix="asr-upload-", delete=False
            ) as f:
                path, size = f.name, 0
                async for data in chunks:
                    size += len(data)
                    if size > self.limits.max_upload_bytes:
                        message = (
                            f"upload over {self.limits.max_upload_bytes} bytes "
                            "(the server's limit)"
                        )
                        return web.json_response(error_message(message), status=413)
                    f.write(data)
            if not size:
                raise ProtocolError("empty upload: POST the audio file as the body")
            loop = asyncio.get_running_loop()
            seg = await loop.run_in_executor(
                self._offline, lambda: self.recognizer.transcribe_segments([path])[0]
            )
        except (ProtocolError, AudioLoadError) as e:
            message = str(e).replace(path, "upload") if path else str(e)
            return web.json_response(error_message(message), status=400)
        finally:
            if path:
                os.unlink(path)
        return web.json_response(
            {
                "text": seg.text,
                "duration": round(seg.duration, 3),
                "words": seg.words,
                "confidence": seg.confidence,
            }
        )

    # -- WebSocket --------------------------------------------------------------------
    async def _websocket(self, request):
        web = _web()
        ws = socket_class(web)(max_msg_size=self.limits.max_message_bytes)
        if not ws.can_prepare(request).ok:
            return web.json_response(
                error_message(
                    "/ws is a WebSocket endpoint: connect with a WebSocket client"
                ),
                status=400,
            )
        await ws.prepare(request)
        limit = self.limits.max_streams
        if self.streams >= limit:
            await send_message(
                ws,
                error_message(
                    f"server busy: {self.streams} streams open, the maximum "
                    "(--max-streams); try again later",
                    fatal=True,
                ),
            )
            await ws.close(code=TRY_AGAIN_LATER, message=b"server busy")
            return ws
        self.streams += 1
        self._sockets.add(ws)
        queue_size = self.limits.max_queued_messages
        stream = StreamSession(self.streaming.initial_state(), queue_size)
        recognise = stream.recognise(ws, self.streaming, self._worker)
        worker = asyncio.create_task(recognise)
        try:
            await send_message(ws, self._ready(stream))
            await stream.read(ws, self.limits.idle_timeout_s, worker)
        finally:
            worker.cancel()
            self.streams -= 1
            self._sockets.discard(ws)
            if not ws.closed:
                await ws.close()
        return ws

    def _ready(self, stream: StreamSession) -> dict:
        rec = self.streaming
        return {
            "type": "ready",
            "model": self.name,
            "sample_rate": SAMPLE_RATE,
            "format": stream.format,
            "chunk_ms": round(1000 * rec.step_samples / rec.sample_rate, 3),
            "endpoint_ms": round(1000 * rec.endpoint_frames * rec.frame_seconds, 3),
            "max_message_bytes": self.limits.max_message_bytes,
        }


async def _upload(request):
    """(file suffix, async iterator of bytes) of a raw or multipart upload.

    Raises:
        ProtocolError: a multipart body without a `file` field.
    """
    if not request.content_type.startswith("multipart/"):
        return "", request.content.iter_chunked(65536)
    async for part in await request.multipart():
        if part.name == "file" and hasattr(part, "read_chunk"):
            break
    else:
        raise ProtocolError("multipart upload without a 'file' field")

    async def chunks():
        while data := await part.read_chunk(65536):
            yield data

    return Path(part.filename or "").suffix[:8], chunks()


def run_server(
    server: SpeechServer, host: str = "127.0.0.1", port: int = 8000, on_ready=None
) -> None:
    """Serves until interrupted (KeyboardInterrupt after a clean shutdown).

    Args:
        on_ready: called with the URL once listening.

    Raises:
        ServerError: as `SpeechServer.start`.
    """

    async def main() -> None:
        url = await server.start(host, port)
        if on_ready:
            on_ready(url)
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    asyncio.run(main())


class ServerThread:
    """Runs a `SpeechServer` on its own event loop in a background thread.

        with ServerThread(server) as url:      # http://127.0.0.1:PORT
            ...

    Attributes:
        url: the server's URL once entered.
    """

    def __init__(self, server: SpeechServer, host: str = "127.0.0.1", port: int = 0):
        self.server, self.host, self.port = server, host, port
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="asr-server", daemon=True
        )

    def __enter__(self) -> str:
        self._thread.start()
        start = self.server.start(self.host, self.port)
        self.url = asyncio.run_coroutine_threadsafe(start, self._loop).result(30)
        return self.url

    def __exit__(self, *exc) -> None:
        close = self.server.close()
        asyncio.run_coroutine_threadsafe(close, self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()
