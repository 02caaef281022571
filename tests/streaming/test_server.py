"""The streaming server (asr.streaming.server) through real sockets: Python
WebSocket and HTTP clients against a server on 127.0.0.1, the bundled
streaming model on synthesised sentences."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import numpy as np
import pytest
import soundfile as sf

aiohttp = pytest.importorskip("aiohttp", reason="the server needs asr[serve]")
pytest.importorskip("asr.datasets.synthetic")

from asr import demo  # noqa: E402
from asr.cli import main  # noqa: E402
from asr.streaming.protocol import (  # noqa: E402
    ProtocolError,
    decode_audio,
    parse_control,
)
from asr.streaming.recognizer import StreamingRecognizer  # noqa: E402
from asr.streaming.server import ServerLimits, ServerThread, SpeechServer  # noqa: E402
from asr.transcribe import load_model  # noqa: E402

CHUNK_MS = 400  # fewer, larger steps: the tests' audio goes through faster
SILENCE = np.zeros(16000, np.float32)


def pcm16(wave: np.ndarray) -> np.ndarray:
    """The int16 samples a client sends for `wave`."""
    return np.clip(np.round(wave * 32768), -32768, 32767).astype("<i2")


@pytest.fixture(scope="module")
def recognizer():
    return load_model("synth-en-streaming")


@pytest.fixture(scope="module")
def clips():
    """20 sentences, each padded with silence and quantised to 16 bits: what
    a WAV file holds, as float32."""
    made = demo.make_clips(20, seed=21)
    waves = [np.concatenate([SILENCE[:4000], w, SILENCE]) for w in made.waves]
    return [pcm16(w).astype(np.float32) / 32768 for w in waves]


@pytest.fixture(scope="module")
def expected(recognizer, clips):
    """(text, finals) of `StreamingRecognizer` on each clip."""
    rec = StreamingRecognizer(recognizer, chunk_ms=CHUNK_MS)
    out = []
    for wave in clips:
        rec.accept_waveform(wave)
        text = rec.finalize()
        out.append((text, rec.pop_finals()))
    return out


@pytest.fixture(scope="module")
def url(recognizer):
    server = SpeechServer(
        recognizer, chunk_ms=CHUNK_MS, limits=ServerLimits(max_message_bytes=64_000)
    )
    with ServerThread(server) as url:
        yield url


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/ws"


async def stream(
    url: str,
    wave: np.ndarray,
    chunk: int = 1600,
    fmt: str = "s16",
    before: tuple = (),
    session=None,
    partial_at: int | None = None,
) -> list[dict]:
    """Streams `wave` and returns the server's messages up to `done`; with
    `partial_at`, waits for a partial once that many samples are sent (the
    server feeds all audio queued while it was busy in one call, and sends no
    partial for a call that ends the stream: a fast client may see none)."""
    own = session is None
    session = session or aiohttp.ClientSession()
    try:
        async with session.ws_connect(ws_url(url)) as ws:
            messages = [await ws.receive_json(timeout=10)]
            for msg in before:
                await (ws.send_bytes if isinstance(msg, bytes) else ws.send_str)(msg)
            if fmt == "f32":
                await ws.send_str('{"type": "config", "format": "f32"}')
            data = pcm16(wave) if fmt == "s16" else wave.astype("<f4")
            for i in range(0, len(data), chunk):
                await ws.send_bytes(data[i : i + chunk].tobytes())
                if partial_at is not None and i + chunk >= partial_at:
                    while messages[-1]["type"] != "partial":
                        messages.append(await ws.receive_json(timeout=60))
                    partial_at = None
            await ws.send_str('{"type": "end"}')
            while messages[-1]["type"] != "done":
                messages.append(await ws.receive_json(timeout=60))
        return messages
    finally:
        if own:
            await session.close()


def of_type(messages: list[dict], kind: str) -> list[dict]:
    return [m for m in messages if m["type"] == kind]


# -- protocol pieces -----------------------------------------------------------------
def test_decode_audio_formats_and_errors():
    ints = np.array([-32768, 0, 16384], "<i2")
    np.testing.assert_array_equal(decode_audio(ints.tobytes(), "s16"), [-1, 0, 0.5])
    floats = np.array([0.25, -0.5], "<f4")
    np.testing.assert_array_equal(decode_audio(floats.tobytes(), "f32"), floats)
    with pytest.raises(ProtocolError, match="3 bytes is not a whole number of 2-byte"):
        decode_audio(b"abc", "s16")
    with pytest.raises(ProtocolError, match="NaN"):
        decode_audio(np.array([np.nan], "<f4").tobytes(), "f32")


@pytest.mark.parametrize(
    "text, match",
    [
        ("hello", "not JSON"),
        ("[1, 2]", "unknown message"),
        ('{"type": "stop"}', "unknown message"),
        ('{"type": "config", "format": "mp3"}', "format must be"),
        ('{"type": "config", "sample_rate": 16000.5}', "sample_rate must be"),
        ('{"type": "config", "sample_rate": 1000}', "sample_rate must be"),
        ('{"type": "config", "rate": 8000}', "unknown key"),
    ],
)
def test_parse_control_rejects(text, match):
    with pytest.raises(ProtocolError, match=match):
        parse_control(text)


# -- streams -------------------------------------------------------------------------
def test_a_stream_gets_the_recognizers_text_and_finals(url, clips, expected):
    messages = asyncio.run(stream(url, clips[0], chunk=1234, partial_at=32000))
    ready, done = messages[0], messages[-1]
    assert ready["type"] == "ready" and ready["sample_rate"] == 16000
    assert ready["chunk_ms"] == CHUNK_MS and ready["model"] == "synth-en-streaming"
    text, finals = expected[0]
    assert text and done["text"] == text
    assert done["seconds"] == pytest.approx(len(clips[0]) / 16000)
    got = of_type(messages, "final")
    assert [f["text"] for f in got] == [f["text"] for f in finals]
    assert [(f["start"], f["end"]) for f in got] == [
        (f["start"], f["end"]) for f in finals
    ]
    heard = [m["seconds"] for m in of_type(messages, "partial")]
    assert heard == sorted(heard) and 0 < heard[-1] <= done["seconds"]
    partials = [m["text"] for m in of_type(messages, "partial")]
    assert partials and any(p and text.startswith(p) for p in partials), partials
    assert not of_type(messages, "error")


def test_float32_and_a_second_stream_on_the_same_connection(url, clips, expected):
    async def two_streams():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws_url(url)) as ws:
                await ws.receive_json()
                await ws.send_str('{"type": "config", "format": "f32"}')
                dones = []
                for wave in clips[1:3]:
                    data = wave.astype("<f4")
                    for i in range(0, len(data), 8000):
                        await ws.send_bytes(data[i : i + 8000].tobytes())
                    await ws.send_str('{"type": "end"}')
                    msg = {"type": ""}
                    while msg["type"] != "done":
                        msg = await ws.receive_json(timeout=60)
                    dones.append(msg["text"])
                return dones

    assert asyncio.run(two_streams()) == [expected[1][0], expected[2][0]]


def test_a_48khz_stream_is_resampled(url, clips, expected):
    import soxr

    wave = soxr.resample(clips[3], 16000, 48000).astype(np.float32)
    config = '{"type": "config", "format": "f32", "sample_rate": 48000}'
    messages = asyncio.run(stream(url, wave, chunk=4800, fmt="f32", before=(config,)))
    assert messages[-1]["text"] == expected[3][0]
    assert messages[-1]["seconds"] == pytest.approx(len(clips[3]) / 16000, abs=0.01)


def test_twenty_concurrent_clients_get_their_own_texts(url, clips, expected):
    texts = [text for text, _ in expected]
    assert len(set(texts)) == 20  # else the test could not tell streams apart

    async def all_clients():
        async with aiohttp.ClientSession() as session:
            rng = np.random.default_rng(0)
            return await asyncio.gather(
                *(
                    stream(url, w, chunk=int(rng.integers(400, 6000)), session=session)
                    for w in clips
                )
            )

    t0 = time.perf_counter()
    results = asyncio.run(all_clients())
    seconds = time.perf_counter() - t0
    assert [r[-1]["text"] for r in results] == texts
    for r, (_, finals) in zip(results, expected):
        assert [f["text"] for f in of_type(r, "final")] == [f["text"] for f in finals]
    audio = sum(len(w) for w in clips) / 16000
    assert seconds < audio, f"{audio:.0f} s of audio took {seconds:.1f} s"


def test_malformed_messages_are_answered_and_the_stream_goes_on(url, clips, expected):
    bad = (
        "hello",
        '{"type": "pause"}',
        '{"type": "config", "format": "u8"}',
        b"\x01\x02\x03",  # not whole 16-bit samples
    )
    messages = asyncio.run(stream(url, clips[4], before=bad))
    errors = of_type(messages, "error")
    assert [e["fatal"] for e in errors] == [False] * 4
    assert "not JSON" in errors[0]["message"]
    assert "unknown message" in errors[1]["message"]
    assert "format must be" in errors[2]["message"]
    assert "whole number" in errors[3]["message"]
    assert messages[-1]["text"] == expected[4][0]


def test_config_after_audio_is_refused(url):
    async def client():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws_url(url)) as ws:
                await ws.receive_json()
                await ws.send_bytes(b"\0\0" * 100)
                await ws.send_str('{"type": "config", "format": "f32"}')
                return await ws.receive_json(timeout=10)

    reply = asyncio.run(client())
    assert (
        reply["type"] == "error"
        and "before the stream's first audio" in (reply["message"])
    )


def test_oversized_frames_and_abrupt_disconnects_spare_other_streams(
    url, clips, expected
):
    async def oversized(session):
        async with session.ws_connect(ws_url(url)) as ws:
            await ws.receive_json()
            await ws.send_bytes(b"\0\0" * 40_000)  # 80 kB > the 64 kB limit
            msg = await ws.receive(timeout=10)
            return msg.type, ws.close_code, msg.extra

    async def vanish(session):
        ws = await session.ws_connect(ws_url(url))
        await ws.receive_json()
        await ws.send_bytes(pcm16(clips[6][:16000]).tobytes())
        ws._response.connection.transport.abort()  # no close handshake

    async def run():
        async with aiohttp.ClientSession() as session:
            good = asyncio.create_task(stream(url, clips[5], session=session))
            big = await oversized(session)
            async with aiohttp.ClientSession() as other:
                await vanish(other)
            return big, await good

    (kind, code, reason), messages = asyncio.run(run())
    assert kind == aiohttp.WSMsgType.CLOSE and code == 1009
    assert "over 64000 bytes" in reason
    assert messages[-1]["text"] == expected[5][0]
    assert not of_type(messages, "error")
    for _ in range(50):  # the vanished stream is dropped
        if _status(url)["streams"] == 0:
            break
        time.sleep(0.1)
    assert _status(url)["streams"] == 0


def _status(url: str) -> dict:
    async def get():
        async with aiohttp.ClientSession() as s, s.get(url + "/status") as r:
            return await r.json()

    return asyncio.run(get())


# -- limits --------------------------------------------------------------------------
def test_too_many_streams_and_idle_streams_are_closed_with_a_reason(recognizer):
    server = SpeechServer(
        recognizer, limits=ServerLimits(max_streams=2, idle_timeout_s=0.5)
    )

    async def clients(url):
        async with aiohttp.ClientSession() as session:
            first = await session.ws_connect(ws_url(url))
            second = await session.ws_connect(ws_url(url))
            await first.receive_json()
            await second.receive_json()
            third = await session.ws_connect(ws_url(url))
            busy = await third.receive_json(timeout=5)
            await third.receive(timeout=5)
            await first.close()
            await second.send_bytes(b"\0\0" * 800)  # then silent
            idle = await second.receive_json(timeout=5)
            await second.receive(timeout=5)
            return busy, third.close_code, idle, second.close_code

    with ServerThread(server) as url:
        busy, busy_code, idle, idle_code = asyncio.run(clients(url))
    assert busy["fatal"] and "server busy: 2 streams open" in busy["message"]
    assert busy_code == 1013
    assert idle["fatal"] and "idle for 0.5 s" in idle["message"]
    assert idle_code == 1001


# -- HTTP ----------------------------------------------------------------------------
def test_http_page_worklet_and_offline_transcription(url, recognizer, clips, tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, clips[7], 16000, subtype="PCM_16")

    async def requests():
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/") as r:
                page = (r.status, r.content_type, await r.text())
            async with s.get(url + "/capture-worklet.js") as r:
                worklet = (r.content_type, await r.text())
            async with s.post(url + "/transcribe", data=path.read_bytes()) as r:
                raw = (r.status, await r.json())
            form = aiohttp.FormData()
            form.add_field("file", path.read_bytes(), filename="clip.wav")
            async with s.post(url + "/transcribe", data=form) as r:
                multipart = (r.status, await r.json())
            async with s.post(url + "/transcribe", data=b"not audio at all") as r:
                garbage = (r.status, await r.json())
            async with s.get(url + "/ws") as r:
                plain = (r.status, await r.json())
            return page, worklet, raw, multipart, garbage, plain

    page, worklet, raw, multipart, garbage, plain = asyncio.run(requests())
    assert page[:2] == (200, "text/html") and "capture-worklet.js" in page[2]
    assert worklet[0] == "text/javascript" and "registerProcessor" in worklet[1]
    offline = recognizer.transcribe(str(path))
    assert raw == (200, raw[1]) and raw[1]["text"] == offline and offline
    assert raw[1]["duration"] == pytest.approx(len(clips[7]) / 16000, abs=1e-3)
    assert multipart[0] == 200 and multipart[1]["text"] == offline
    assert garbage[0] == 400 and garbage[1]["type"] == "error"
    assert "asr-upload" not in garbage[1]["message"]
    assert plain[0] == 400 and "WebSocket endpoint" in plain[1]["message"]


def test_upload_over_the_limit_is_refused(recognizer):
    server = SpeechServer(recognizer, limits=ServerLimits(max_upload_bytes=1000))

    async def post(url):
        async with aiohttp.ClientSession() as s:
            async with s.post(url + "/transcribe", data=b"\0" * 5000) as r:
                return r.status, await r.json()

    with ServerThread(server) as url:
        status, body = asyncio.run(post(url))
    assert status == 413 and "over 1000 bytes" in body["message"]


# -- command line --------------------------------------------------------------------
def test_serve_refuses_a_busy_port_before_loading_the_model(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        t0 = time.perf_counter()
        code = main(["serve", "--model", "no-such-model", "--port", str(port)])
    assert code == 2 and time.perf_counter() - t0 < 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"asr serve: error: 127.0.0.1:{port}: address already in use; "
        "choose another --port"
    )


def test_serve_names_a_missing_model(capsys):
    assert main(["serve", "--model", "no-such-model", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("asr serve: error:") and "no-such-model" in err
    assert len(err.splitlines()) == 1


def test_messages_are_json_text(url):
    async def first(url):
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(url)) as ws:
            msg = await ws.receive(timeout=10)
            return msg.type, json.loads(msg.data)

    kind, ready = asyncio.run(first(url))
    assert kind == aiohttp.WSMsgType.TEXT and ready["type"] == "ready"
