"""A streaming recognition server: WebSocket streams, a browser page, offline HTTP.

    server = SpeechServer(asr.load_model("synth-en-streaming"))
    run_server(server, "127.0.0.1", 8000)           # blocks; Ctrl+C stops
    with ServerThread(server) as url: ...           # tests, benchmarks

Routes (aiohttp, `pip install 'asr[serve]'`, imported only when a server starts):

- `GET /`: a page that records the browser's microphone (getUserMedia and an
  AudioWorklet that resamples to 16 kHz, `asr/assets/web/`), streams it to
  `/ws` and shows partial and final text live. Browsers give the microphone
  only to `localhost` / `127.0.0.1` or https pages.
- `GET /ws`: one WebSocket per stream (protocol below).
- `POST /transcribe`: a whole audio file (raw body, or multipart field `file`;
  WAV, FLAC, OGG or MP3) -> `{"text", "duration", "words", "confidence"}`
  recognised offline; a bad file -> 400 `{"type": "error", "message"}`.
- `GET /status`: `{"model", "streams", "max_streams", "sample_rate"}`.

WebSocket protocol. Binary messages are audio: little-endian 16-bit PCM
(`"s16"`, the default) or float32 (`"f32"`) mono samples at 16 kHz unless
configured; any length up to `max_message_bytes`, whole samples. Text
messages are JSON control messages:

- `{"type": "config", "format": "s16" | "f32", "sample_rate": 8000..96000}`,
  both keys optional, before a stream's first audio; another rate is resampled
  (soxr) to 16 kHz;
- `{"type": "end"}`: the stream is over: the server flushes it, sends its last
  finals and `done`, and the connection is ready for a new stream (same
  config, times from 0 again).

The server sends JSON text messages:

- `{"type": "ready", "model", "sample_rate": 16000, "format", "chunk_ms",
  "endpoint_ms", "max_message_bytes"}` once connected;
- `{"type": "partial", "text", "seconds"}` when the current utterance's text
  changes (`""` after a final); `seconds`: the stream's audio recognised so far;
- `{"type": "final", "text", "start", "end"}` for each endpointed utterance
  (seconds from the stream's start), as `StreamingRecognizer.pop_finals`;
- `{"type": "done", "text", "seconds"}` after `end`: the whole stream's text
  (what `StreamingRecognizer.finalize` returns for the same audio) and the
  audio's length;
- `{"type": "error", "message", "fatal"}`: a malformed message (not JSON, an
  unknown type, a bad config, audio that is not whole samples or holds NaN) is
  answered with `fatal: false` and the stream goes on; with `fatal: true` the
  server closes the connection next: too many streams (close code 1013), idle
  for `idle_timeout_s` (1001), an internal error (1011). A message over
  `max_message_bytes` closes the connection with code 1009 and that reason.

Each stream has its own `StreamState`; one `StreamingRecognizer` runs every
stream's steps in one worker thread (its compiled step and TFLite interpreter
are used by one thread at a time), so the event loop never waits on the model
and streams share it. A stream's audio waits in a bounded queue
(`max_queued_messages`); when it is full the server stops reading that
socket, and TCP slows that client only. Audio queued while the worker was busy
is fed in one call. Offline requests run in a second worker thread, so a long
file does not stall the streams.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import importlib
import json
import logging
import os
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.audio import SAMPLE_RATE, AudioLoadError

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'asr[serve]'"
WEB_DIR = Path(__file__).resolve().parents[1] / "assets" / "web"
FORMATS = {"s16": np.dtype("<i2"), "f32": np.dtype("<f4")}
MIN_RATE, MAX_RATE = 8000, 96000
# WebSocket close codes (RFC 6455, 7.4.1)
GOING_AWAY, MESSAGE_TOO_BIG, INTERNAL_ERROR, TRY_AGAIN_LATER = 1001, 1009, 1011, 1013


class ServerError(RuntimeError):
    """The server cannot start: aiohttp missing, or the address is taken.
    The message is one line naming the problem and the fix."""


class ProtocolError(ValueError):
    """A client's message is malformed (answered, the stream goes on)."""


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


def decode_audio(data: bytes, fmt: str) -> np.ndarray:
    """A binary message's samples.

    Args:
        data: little-endian samples in `fmt` ("s16" or "f32").
    Returns:
        (n,) float32 in [-1, 1] for s16.
    Raises:
        ProtocolError: not a whole number of samples, or non-finite floats.
    """
    dtype = FORMATS[fmt]
    if len(data) % dtype.itemsize:
        raise ProtocolError(
            f"binary message of {len(data)} bytes is not a whole number of "
            f"{dtype.itemsize}-byte samples (format {fmt})"
        )
    samples = np.frombuffer(data, dtype)
    if fmt == "s16":
        return samples.astype(np.float32) / 32768.0
    if not np.isfinite(samples).all():
        raise ProtocolError("audio holds NaN or infinite samples (format f32)")
    return samples.astype(np.float32)


def parse_control(text: str) -> dict:
    """A text message as a control message (`config` or `end`).

    Raises:
        ProtocolError: not a JSON object, an unknown type, or a bad config.
    """
    try:
        msg = json.loads(text)
    except ValueError:
        raise ProtocolError(f"text message is not JSON: {text[:60]!r}") from None
    kind = msg.get("type") if isinstance(msg, dict) else None
    if kind not in ("config", "end"):
        raise ProtocolError(
            f"unknown message {text[:60]!r}: text messages are JSON objects "
            'with "type" "config" or "end"; audio goes in binary messages'
        )
    if kind == "config":
        unknown = sorted(set(msg) - {"type", "format", "sample_rate"})
        if unknown:
            raise ProtocolError(
                f"config: unknown key(s) {unknown}; known: format, sample_rate"
            )
        if msg.get("format", "s16") not in FORMATS:
            raise ProtocolError(
                f"config: format must be 's16' or 'f32', got {msg['format']!r}"
            )
        rate = msg.get("sample_rate", SAMPLE_RATE)
        if (
            not (isinstance(rate, int) and not isinstance(rate, bool))
            or not MIN_RATE <= rate <= MAX_RATE
        ):
            raise ProtocolError(
                f"config: sample_rate must be an integer in {MIN_RATE}..{MAX_RATE}, "
                f"got {rate!r}"
            )
    return msg


class _Stream:
    """One WebSocket's stream: its recognizer state, format and queue."""

    def __init__(self, state, queue_size: int):
        self.state = state
        self.format = "s16"
        self.rate = SAMPLE_RATE
        self.resampler = None
        self.started = False  # audio received since the stream began
        self.samples = 0  # 16 kHz samples fed to the recognizer
        self.partial = ""
        self.busy = False
        self.queue: asyncio.Queue = asyncio.Queue(queue_size)

    def configure(self, msg: dict) -> None:
        if self.started:
            raise ProtocolError(
                "config: send it before the stream's first audio (or after end)"
            )
        self.format = msg.get("format", self.format)
        self.rate = msg.get("sample_rate", self.rate)


_END = object()  # queued after a stream's audio when the client sends end


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
                        return web.json_response(_error(message), status=413)
                    f.write(data)
            if not size:
                raise ProtocolError("empty upload: POST the audio file as the body")
            loop = asyncio.get_running_loop()
            seg = await loop.run_in_executor(
                self._offline, lambda: self.recognizer.transcribe_segments([path])[0]
            )
        except (ProtocolError, AudioLoadError) as e:
            message = str(e).replace(path, "upload") if path else str(e)
            return web.json_response(_error(message), status=400)
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
        ws = _socket_class(web)(max_msg_size=self.limits.max_message_bytes)
        if not ws.can_prepare(request).ok:
            return web.json_response(
                _error("/ws is a WebSocket endpoint: connect with a WebSocket client"),
                status=400,
            )
        await ws.prepare(request)
        limit = self.limits.max_streams
        if self.streams >= limit:
            await _send(
                ws,
                _error(
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
        stream = _Stream(self.streaming.initial_state(), queue_size)
        worker = asyncio.create_task(self._recognise(stream, ws))
        try:
            await _send(ws, self._ready(stream))
            await self._read(stream, ws, worker)
        finally:
            worker.cancel()
            self.streams -= 1
            self._sockets.discard(ws)
            if not ws.closed:
                await ws.close()
        return ws

    def _ready(self, stream: _Stream) -> dict:
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

    async def _read(self, stream: _Stream, ws, worker: asyncio.Task) -> None:
        """Reads the client's messages into the stream's queue until it leaves."""
        from aiohttp import WSMsgType

        idle = self.limits.idle_timeout_s
        while not worker.done():
            try:
                msg = await ws.receive(timeout=idle)
            except asyncio.TimeoutError:
                if stream.busy or not stream.queue.empty():
                    continue  # the client waits for us, not idle
                await _send(ws, _error(f"idle for {idle:g} s: closing", fatal=True))
                await ws.close(code=GOING_AWAY, message=b"idle timeout")
                return
            try:
                if msg.type == WSMsgType.BINARY:
                    samples = decode_audio(msg.data, stream.format)
                    stream.started = True
                    await stream.queue.put(samples)
                elif msg.type == WSMsgType.TEXT:
                    control = parse_control(msg.data)
                    if control["type"] == "config":
                        stream.configure(control)
                    else:
                        stream.started = False
                        await stream.queue.put(_END)
                else:  # close, error (a message over the limit), connection lost
                    if msg.type == WSMsgType.ERROR:
                        logger.info("stream closed: %s", msg.data)
                    return
            except ProtocolError as e:
                await _send(ws, _error(str(e)))

    async def _recognise(self, stream: _Stream, ws) -> None:
        """Feeds queued audio to the recognizer and sends what it finds."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                item = await stream.queue.get()
                end, audio = item is _END, []
                while not end:  # take all the audio already waiting
                    audio.append(item)
                    if stream.queue.empty():
                        break
                    item = stream.queue.get_nowait()
                    end = item is _END
                samples = np.concatenate(audio) if audio else np.zeros(0, np.float32)
                stream.busy = True
                try:
                    partial, finals, text = await loop.run_in_executor(
                        self._worker, self._step, stream, samples, end
                    )
                finally:
                    stream.busy = False
                for utt in finals:
                    await _send(ws, {"type": "final", **utt})
                if end:
                    stream.partial = ""
                    seconds = round(stream.samples / SAMPLE_RATE, 3)
                    stream.samples = 0
                    await _send(ws, {"type": "done", "text": text, "seconds": seconds})
                elif partial != stream.partial:
                    stream.partial = partial
                    seconds = round(stream.samples / SAMPLE_RATE, 3)
                    msg = {"type": "partial", "text": partial, "seconds": seconds}
                    await _send(ws, msg)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            logger.exception("stream failed")
            await _send(ws, _error(f"internal error: {type(e).__name__}", fatal=True))
            await ws.close(code=INTERNAL_ERROR, message=b"internal error")
            while not stream.queue.empty():  # a reader blocked on a full queue
                stream.queue.get_nowait()

    def _step(self, stream: _Stream, samples: np.ndarray, end: bool):
        """In the worker thread: feeds `samples` (end: and flushes) with the
        stream's state; returns (partial, finals, text when end)."""
        if stream.rate != SAMPLE_RATE and stream.resampler is None:
            import soxr

            stream.resampler = soxr.ResampleStream(
                stream.rate, SAMPLE_RATE, 1, dtype="float32"
            )
        if stream.resampler is not None:
            samples = stream.resampler.resample_chunk(samples, last=end)
            if end:
                stream.resampler = None
        rec = self.streaming
        rec.state = stream.state
        stream.samples += len(samples)
        partial = rec.accept_waveform(samples)
        finals = rec.pop_finals()
        text = None
        if end:
            text = rec.finalize()  # resets rec.state: the stream starts anew
            finals += rec.pop_finals()
            stream.state = rec.state
        return partial, finals, text


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


def _error(message: str, fatal: bool = False) -> dict:
    return {"type": "error", "message": message, "fatal": fatal}


async def _send(ws, msg: dict) -> bool:
    """Sends a JSON message; False if the client has gone."""
    if ws.closed:
        return False
    try:
        await ws.send_str(json.dumps(msg))
    except ConnectionError:
        return False
    return True


_SOCKET_CLASS = None


def _socket_class(web):
    """`web.WebSocketResponse` whose close for an oversized message says why
    (aiohttp closes with code 1009 and no reason)."""
    global _SOCKET_CLASS
    if _SOCKET_CLASS is None:

        class Socket(web.WebSocketResponse):
            async def close(self, *, code=1000, message=b"", drain=True):
                if code == MESSAGE_TOO_BIG and not message:
                    limit = self._max_msg_size
                    message = f"message over {limit} bytes (the limit)".encode()
                return await super().close(code=code, message=message, drain=drain)

        _SOCKET_CLASS = Socket
    return _SOCKET_CLASS


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
