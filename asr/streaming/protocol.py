"""The streaming server's WebSocket protocol: message formats, parsing, replies.

Binary messages are audio: little-endian 16-bit PCM (`"s16"`, the default) or
float32 (`"f32"`) mono samples at 16 kHz unless configured; any length up to
`max_message_bytes`, whole samples. Text messages are JSON control messages:

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

Pure functions of the messages (numpy and json only), but for `send_message`
and `socket_class`, which take aiohttp objects the server made.
"""

from __future__ import annotations

import json

import numpy as np

from asr.audio import SAMPLE_RATE

FORMATS = {"s16": np.dtype("<i2"), "f32": np.dtype("<f4")}
MIN_RATE, MAX_RATE = 8000, 96000
# WebSocket close codes (RFC 6455, 7.4.1)
GOING_AWAY, MESSAGE_TOO_BIG, INTERNAL_ERROR, TRY_AGAIN_LATER = 1001, 1009, 1011, 1013


class ProtocolError(ValueError):
    """A client's message is malformed (answered, the stream goes on)."""


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


def error_message(message: str, fatal: bool = False) -> dict:
    """An `error` message (`fatal`: the server closes the connection next)."""
    return {"type": "error", "message": message, "fatal": fatal}


async def send_message(ws, msg: dict) -> bool:
    """Sends a JSON message; False if the client has gone."""
    if ws.closed:
        return False
    try:
        await ws.send_str(json.dumps(msg))
    except ConnectionError:
        return False
    return True


_SOCKET_CLASS = None


def socket_class(web):
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
