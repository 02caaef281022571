"""One WebSocket stream of the server: its state, its reader and its worker.

    session = StreamSession(streaming.initial_state(), queue_size)
    worker = asyncio.create_task(session.recognise(ws, streaming, executor))
    await session.read(ws, idle_timeout_s, worker)

`read` decodes the client's messages (`asr.streaming.protocol`) into the
session's bounded queue; when the queue is full it stops reading, and TCP
slows that client only. `recognise` takes everything queued (audio queued
while the worker was busy is fed in one call), runs `step` in the shared
`executor` (one thread: the recognizer's compiled step and TFLite interpreter
are used by one thread at a time, and the event loop never waits on the model),
and sends the partial, final and done messages.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np

from asr.audio import SAMPLE_RATE
from asr.streaming.protocol import (
    GOING_AWAY,
    INTERNAL_ERROR,
    ProtocolError,
    decode_audio,
    error_message,
    parse_control,
    send_message,
)

logger = logging.getLogger(__name__)

END = object()  # queued after a stream's audio when the client sends end


class StreamSession:
    """One WebSocket's stream: its recognizer state, format and queue.

    Args:
        state: the stream's `StreamState` (`StreamingRecognizer.initial_state()`).
        queue_size: audio messages that may wait before reading stops.
    """

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

    async def read(self, ws, idle: float, worker: asyncio.Task) -> None:
        """Reads the client's messages into the queue until it leaves (or is
        silent for `idle` seconds with nothing being recognised)."""
        from aiohttp import WSMsgType

        while not worker.done():
            try:
                msg = await ws.receive(timeout=idle)
            except asyncio.TimeoutError:
                if self.busy or not self.queue.empty():
                    continue  # the client waits for us, not idle
                await send_message(
                    ws, error_message(f"idle for {idle:g} s: closing", fatal=True)
                )
                await ws.close(code=GOING_AWAY, message=b"idle timeout")
                return
            try:
                if msg.type == WSMsgType.BINARY:
                    samples = decode_audio(msg.data, self.format)
                    self.started = True
                    await self.queue.put(samples)
                elif msg.type == WSMsgType.TEXT:
                    control = parse_control(msg.data)
                    if control["type"] == "config":
                        self.configure(control)
                    else:
                        self.started = False
                        await self.queue.put(END)
                else:  # close, error (a message over the limit), connection lost
                    if msg.type == WSMsgType.ERROR:
                        logger.info("stream closed: %s", msg.data)
                    return
            except ProtocolError as e:
                await send_message(ws, error_message(str(e)))

    async def recognise(self, ws, streaming, executor) -> None:
        """Feeds queued audio to `streaming` (a `StreamingRecognizer`) in
        `executor` and sends what it finds."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                item = await self.queue.get()
                end, audio = item is END, []
                while not end:  # take all the audio already waiting
                    audio.append(item)
                    if self.queue.empty():
                        break
                    item = self.queue.get_nowait()
                    end = item is END
                samples = np.concatenate(audio) if audio else np.zeros(0, np.float32)
                self.busy = True
                try:
                    partial, finals, text = await loop.run_in_executor(
                        executor, self.step, streaming, samples, end
                    )
                finally:
                    self.busy = False
                for utt in finals:
                    await send_message(ws, {"type": "final", **utt})
                if end:
                    self.partial = ""
                    seconds = round(self.samples / SAMPLE_RATE, 3)
                    self.samples = 0
                    msg = {"type": "done", "text": text, "seconds": seconds}
                    await send_message(ws, msg)
                elif partial != self.partial:
                    self.partial = partial
                    seconds = round(self.samples / SAMPLE_RATE, 3)
                    msg = {"type": "partial", "text": partial, "seconds": seconds}
                    await send_message(ws, msg)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            logger.exception("stream failed")
            message = f"internal error: {type(e).__name__}"
            await send_message(ws, error_message(message, fatal=True))
            await ws.close(code=INTERNAL_ERROR, message=b"internal error")
            while not self.queue.empty():  # a reader blocked on a full queue
                self.queue.get_nowait()

    def step(self, streaming, samples: np.ndarray, end: bool):
        """In the worker thread: feeds `samples` (n,) float32 (end: and
        flushes) to `streaming` with this stream's state; returns (partial,
        finals, text when end)."""
        if self.rate != SAMPLE_RATE and self.resampler is None:
            import soxr

            self.resampler = soxr.ResampleStream(
                self.rate, SAMPLE_RATE, 1, dtype="float32"
            )
        if self.resampler is not None:
            samples = self.resampler.resample_chunk(samples, last=end)
            if end:
                self.resampler = None
        rec = streaming
        rec.state = self.state
        self.samples += len(samples)
        partial = rec.accept_waveform(samples)
        finals = rec.pop_finals()
        text = None
        if end:
            text = rec.finalize()  # resets rec.state: the stream starts anew
            finals += rec.pop_finals()
            self.state = rec.state
        return partial, finals, text
