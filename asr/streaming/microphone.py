"""Live microphone and file replay, both feeding one `StreamingRecognizer` loop.

    rec = StreamingRecognizer(asr.load_model("synth-en-streaming"))
    result = stream_microphone(rec, on_partial=show, on_final=print)  # Ctrl+C ends
    result = stream_file(rec, "talk.wav", realtime=True, on_final=print)

The microphone needs `sounddevice` (`pip install 'asr[mic]'`) and the PortAudio
library (Debian/Ubuntu: `libportaudio2`), imported only when used. Its
callback only copies each block into a queue; the recognizer runs in the
caller's thread. Input overflows (audio PortAudio dropped because the
callback came too late) are counted, logged and returned, never silent. A
device that cannot record at 16 kHz records at its own rate, resampled with
soxr; `save_recording` keeps what the device delivered, at its rate, written
atomically when the stream ends.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.audio import SAMPLE_RATE, iter_audio_blocks
from asr.files import AtomicFile
from asr.streaming.recognizer import StreamingRecognizer

logger = logging.getLogger(__name__)

DEFAULT_STREAMING_MODEL = "synth-en-streaming"
INSTALL_HINT = "pip install 'asr[mic]'"
PORTAUDIO_HINT = (
    "install the PortAudio library (Debian/Ubuntu: sudo apt-get install "
    "libportaudio2; macOS: brew install portaudio)"
)


class MicrophoneError(RuntimeError):
    """No microphone: sounddevice or PortAudio missing, or no input device.
    The message is one line naming what is missing and how to fix it."""


@dataclass
class StreamResult:
    """What a stream produced.

    Attributes:
        text: greedy text of the whole stream (as `finalize` returns it).
        finals: every utterance, `{"text", "start", "end"}` in seconds.
        seconds: audio fed, in seconds.
        compute_seconds: time spent in the recognizer.
        overflows: input overflows reported by the device (audio lost).
        device: the input device's name (microphone only).
    """

    text: str
    finals: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    compute_seconds: float = 0.0
    overflows: int = 0
    device: str = ""

    @property
    def rtf(self) -> float:
        """Compute time / audio time."""
        return self.compute_seconds / self.seconds if self.seconds else 0.0


def run_stream(
    recognizer: StreamingRecognizer,
    blocks: Iterable[np.ndarray],
    on_partial: Callable[[str], None] | None = None,
    on_final: Callable[[dict], None] | None = None,
) -> StreamResult:
    """Feeds blocks to the recognizer and reports partials and finals.

    Args:
        recognizer: a fresh or finalized `StreamingRecognizer`.
        blocks: (n,) float32 16 kHz mono arrays, in order.
        on_partial: called with the current utterance's text when it changes.
        on_final: called with each endpointed utterance, and the last one.

    Returns:
        The result; `overflows` and `device` are left for the caller.
    """
    finals: list[dict] = []
    samples, compute, last = 0, 0.0, ""

    def report(utterances: list[dict]) -> None:
        for utt in utterances:
            finals.append(utt)
            if on_final:
                on_final(utt)

    for block in blocks:
        t0 = time.perf_counter()
        partial = recognizer.accept_waveform(block)
        compute += time.perf_counter() - t0
        samples += len(block)
        report(recognizer.pop_finals())
        if partial != last and on_partial:
            on_partial(partial)
        last = partial
    t0 = time.perf_counter()
    text = recognizer.finalize()
    compute += time.perf_counter() - t0
    report(recognizer.pop_finals())
    return StreamResult(text, finals, samples / SAMPLE_RATE, compute)


def _rechunk(blocks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Blocks of exactly `size` samples (the last one shorter)."""
    buf = np.zeros(0, np.float32)
    for block in blocks:
        buf = np.concatenate([buf, block])
        while len(buf) >= size:
            yield buf[:size]
            buf = buf[size:]
    if len(buf):
        yield buf


def _paced(blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Yields each block no earlier than its audio would have arrived live."""
    start, sent = time.monotonic(), 0
    for block in blocks:
        sent += len(block)
        delay = start + sent / SAMPLE_RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield block


def stream_file(
    recognizer: StreamingRecognizer,
    path: str | os.PathLike,
    realtime: bool = False,
    on_partial: Callable[[str], None] | None = None,
    on_final: Callable[[dict], None] | None = None,
) -> StreamResult:
    """Streams an audio file through the same loop as the microphone.

    Args:
        recognizer: the streaming recognizer.
        path: any file `asr.audio` reads (resampled to 16 kHz mono).
        realtime: feed at the pace of live audio instead of as fast as possible.
        on_partial, on_final: as for `run_stream`.

    Raises:
        AudioLoadError: the file cannot be read.
    """
    blocks = _rechunk(iter_audio_blocks(path), recognizer.step_samples)
    if realtime:
        blocks = _paced(blocks)
    recognizer.warmup()
    return run_stream(recognizer, blocks, on_partial, on_final)


# -- microphone -------------------------------------------------------------------
def _sounddevice():
    """Imports sounddevice, turning a missing module or library into one line."""
    try:
        return importlib.import_module("sounddevice")
    except ImportError:
        raise MicrophoneError(
            f"the microphone needs the sounddevice package: {INSTALL_HINT}"
        ) from None
    except OSError as e:  # sounddevice raises it when libportaudio is missing
        reason = " ".join(str(e).split()) or "PortAudio library not found"
        raise MicrophoneError(
            f"{reason}: {PORTAUDIO_HINT}, then {INSTALL_HINT}"
        ) from None


def list_input_devices() -> list[dict]:
    """Input devices: `{"index", "name", "channels", "samplerate", "default"}`.

    Raises:
        MicrophoneError: sounddevice or PortAudio missing.
    """
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default = sd.default.device[0]
    except sd.PortAudioError as e:
        raise MicrophoneError(f"cannot list audio devices: {e}") from None
    return [
        {
            "index": i,
            "name": d["name"],
            "channels": d["max_input_channels"],
            "samplerate": d["default_samplerate"],
            "default": i == default,
        }
        for i, d in enumerate(devices)
        if d["max_input_channels"] > 0
    ]


def _input_device(sd, device: int | str | None) -> dict:
    try:
        info = sd.query_devices(device, kind="input")
    except (sd.PortAudioError, ValueError) as e:
        if device is None:
            raise MicrophoneError(
                f"no audio input device found ({e}); connect a microphone, or list "
                "devices with `asr stream --list-devices`"
            ) from None
        raise MicrophoneError(
            f"input device {device!r}: {e} (see `asr stream --list-devices`)"
        ) from None
    if info["max_input_channels"] < 1:
        raise MicrophoneError(f"device {info['name']!r} has no input channels")
    return info


def check_microphone(device: int | str | None = None) -> dict:
    """Fails fast, before a model is loaded, if the microphone cannot work.

    Returns:
        The input device's PortAudio info (`name`, `default_samplerate`, ...).

    Raises:
        MicrophoneError: sounddevice, PortAudio or the input device missing.
    """
    return _input_device(_sounddevice(), device)


def _device_rate(sd, device, info: dict) -> int:
    try:
        sd.check_input_settings(
            device=device, channels=1, samplerate=SAMPLE_RATE, dtype="float32"
        )
        return SAMPLE_RATE
    except Exception:  # PortAudioError or ValueError: 16 kHz not supported
        rate = int(info["default_samplerate"])
        logger.info(
            "%s cannot record at 16 kHz; recording at %d Hz and resampling",
            info["name"],
            rate,
        )
        return rate


class _Recording:
    """Writes blocks to a temporary file; `commit` renames it into place."""

    def __init__(self, path: Path, rate: int):
        import soundfile as sf

        fmt = path.suffix.lstrip(".").upper() or "WAV"
        if fmt not in sf.available_formats():
            raise MicrophoneError(
                f"{path}: unknown audio format {path.suffix!r} for the recording "
                "(use .wav or .flac)"
            )
        self.path = path
        self.pending = AtomicFile(path)
        subtype = "FLOAT" if fmt == "WAV" else None
        self.file = sf.SoundFile(
            str(self.pending.tmp), "w", rate, 1, subtype, format=fmt
        )

    def write(self, block: np.ndarray) -> None:
        self.file.write(block)

    def commit(self) -> None:
        self.file.close()
        self.pending.commit()

    def discard(self) -> None:
        self.file.close()
        self.pending.discard()


@contextlib.contextmanager
def _ctrl_c_sets(stop: threading.Event) -> Iterator[None]:
    """In the main thread, the first Ctrl+C sets `stop` (the stream then ends
    cleanly after the current block); a second one interrupts as usual."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame) -> None:
        logger.info("stopping (Ctrl+C again to abort)")
        stop.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def stream_microphone(
    recognizer: StreamingRecognizer,
    device: int | str | None = None,
    on_partial: Callable[[str], None] | None = None,
    on_final: Callable[[dict], None] | None = None,
    save_recording: str | os.PathLike | None = None,
    stop: threading.Event | None = None,
    max_seconds: float | None = None,
) -> StreamResult:
    """Recognises live microphone audio until stopped.

    Stops when `stop` is set, after `max_seconds` of audio, or at Ctrl+C
    (in the main thread the first Ctrl+C only sets `stop`); then flushes the
    recognizer, commits the recording and returns.

    Args:
        recognizer: the streaming recognizer.
        device: PortAudio device index or name substring; None: the default.
        on_partial, on_final: as for `run_stream`.
        save_recording: also write the delivered audio here (wav, flac, ...).
        stop: set it from another thread to end the stream.
        max_seconds: end after this much audio.

    Raises:
        MicrophoneError: sounddevice, PortAudio or an input device missing.
    """
    sd = _sounddevice()
    info = _input_device(sd, device)
    rate = _device_rate(sd, device, info)
    recognizer.warmup()
    recording = _Recording(Path(save_recording), rate) if save_recording else None
    blocksize = max(1, round(recognizer.step_samples * rate / SAMPLE_RATE))
    chunks: queue.Queue[np.ndarray] = queue.Queue()
    overflows = [0]

    def callback(indata, frames, time_info, status) -> None:
        if status.input_overflow:
            overflows[0] += 1
        chunks.put(indata[:, 0].copy())

    resampler = None
    if rate != SAMPLE_RATE:
        import soxr

        resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
    stop = stop or threading.Event()
    limit = None if max_seconds is None else int(max_seconds * rate)

    def blocks() -> Iterator[np.ndarray]:
        received, warned = 0, 0
        try:
            with sd.InputStream(
                device=device,
                channels=1,
                samplerate=rate,
                dtype="float32",
                blocksize=blocksize,
                callback=callback,
            ):
                logger.info("listening on %s at %d Hz", info["name"], rate)
                while not stop.is_set() and (limit is None or received < limit):
                    try:
                        block = chunks.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    if limit is not None:
                        block = block[: limit - received]
                    received += len(block)
                    if overflows[0] > warned:
                        logger.warning(
                            "input overflow: %d block(s) of audio lost so far",
                            overflows[0],
                        )
                        warned = overflows[0]
                    if recording:
                        recording.write(block)
                    yield resampler.resample_chunk(block) if resampler else block
        except sd.PortAudioError as e:
            raise MicrophoneError(f"{info['name']}: {e}") from None
        if resampler:
            yield resampler.resample_chunk(np.zeros(0, np.float32), last=True)

    try:
        with _ctrl_c_sets(stop):
            result = run_stream(recognizer, blocks(), on_partial, on_final)
    except BaseException:
        if recording:
            recording.discard()
        raise
    if recording:
        recording.commit()
        logger.info("recording: %s", recording.path)
    result.overflows, result.device = overflows[0], info["name"]
    if result.overflows:
        logger.warning(
            "input overflow: %d block(s) of audio were lost (the audio "
            "callback ran late: the machine is too busy)",
            result.overflows,
        )
    return result
