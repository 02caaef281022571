"""Cutting long audio where speech pauses.

    for start, wave in pause_segments(iter_audio_blocks("talk.flac")):
        ...  # start: sample index of wave[0]; each wave ≤ 20 s

A long recording is recognised segment by segment. Fixed windows cut wherever
the clock says, mid-word included; here each cut falls in a pause, so every
segment is a whole phrase, as the training utterances were, and the segments
need no overlapping context (`asr.transcribe.Recognizer.transcribe_segments`).
`window_logits` is the other way, fixed windows with context on each side.

Voice activity is read from frame energy (25 ms frames every 10 ms, in dB):
a frame is quiet below a threshold placed between the recording's noise floor
(its quietest 100 ms in view) and its speech level (90th percentile), at
`threshold` (0.3) of the way up, and at least 6 dB above the floor, so steady
background noise counts as quiet and a whisper above it does not. A pause is a
run of quiet frames at least `min_pause` (0.3 s) long; a cut falls in its
middle, so both neighbours keep half of it.

Segments are built greedily: from a segment's start, the cut is the *first*
pause at least `min_seconds` (3 s) in, and no later than `max_seconds` (20 s),
so segments are phrase-long, like the utterances the models were trained on
(`prefer="last"` takes the last such pause: segments as long as the pauses
allow). Without one, the last pause before `min_seconds` is taken; speech
with no pause at all is cut at the quietest 100 ms of the window's second
half. The choice of the first pause was made on speechocean762 *training*
utterances joined by 0.1-1 s pauses (`scripts/long_audio.py`, `english`
model: first pause 76.1 % WER, last pause 80.3 %, fixed 20 s windows
84.0 %, each utterance alone 72.8 %); held-out figures in
docs/transcription.md.

The signal is read block by block and at most `max_seconds` plus one block
is held, so memory stays flat in the recording's length; the segments tile
the signal exactly (no sample lost or repeated).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

from asr.audio import SAMPLE_RATE

HOP = SAMPLE_RATE // 100  # 10 ms
WINDOW = SAMPLE_RATE * 25 // 1000  # 25 ms


def frame_energy_db(wave: np.ndarray) -> np.ndarray:
    """(frames,) energy in dB of 25 ms frames every 10 ms; frame i covers
    `wave[i*160 : i*160 + 400]` (zero beyond the end)."""
    n = max(1, -(-len(wave) // HOP))
    padded = np.zeros((n - 1) * HOP + WINDOW, np.float64)
    padded[: len(wave)] = wave
    power = np.concatenate([[0.0], np.cumsum(padded * padded)])
    starts = np.arange(n) * HOP
    energy = (power[starts + WINDOW] - power[starts]) / WINDOW
    return 10 * np.log10(energy + 1e-12)


def quiet_frames(energy_db: np.ndarray, threshold: float = 0.3) -> np.ndarray:
    """(frames,) bool: frames below the quiet threshold (module docstring)."""
    smooth = np.convolve(energy_db, np.ones(10) / 10, mode="valid")
    floor = smooth.min() if len(smooth) else energy_db.min()
    speech = np.percentile(energy_db, 90)
    level = floor + max(6.0, threshold * (speech - floor))
    return energy_db < level


def pause_centres(quiet: np.ndarray, min_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres and lengths (frames) of the runs of `quiet` at least
    `min_frames` long, in order."""
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = ends - starts >= min_frames
    starts, ends = starts[keep], ends[keep]
    return (starts + ends) // 2, ends - starts


def choose_cut(
    energy_db: np.ndarray,
    min_frames: int,
    max_frames: int,
    min_pause_frames: int,
    threshold: float = 0.3,
    prefer: str = "first",
) -> int | None:
    """The frame at which to end a segment that starts at frame 0 of
    `energy_db`: the `prefer`red ("first" or "last") pause centre in
    [min_frames, max_frames], else the last one before min_frames (a short
    segment beats a cut in speech); None without any."""
    window = energy_db[:max_frames]
    centres, lengths = pause_centres(quiet_frames(window, threshold), min_pause_frames)
    # a pause open at frame 0 is the rest of the one the last cut fell in
    centres = centres[(centres - lengths // 2 > 0) & (centres <= max_frames)]
    ok = centres[centres >= min_frames]
    if len(ok):
        return int(ok[-1] if prefer == "last" else ok[0])
    return int(centres[-1]) if len(centres) else None


def quietest_frame(energy_db: np.ndarray, low: int, high: int) -> int:
    """The centre frame of the quietest 100 ms within frames [low, high)."""
    smooth = np.convolve(energy_db[:high], np.ones(10) / 10, mode="same")
    return low + int(np.argmin(smooth[low:high]))


def pause_segments(
    blocks: Iterable[np.ndarray],
    max_seconds: float = 20.0,
    min_seconds: float = 3.0,
    min_pause: float = 0.3,
    threshold: float = 0.3,
    prefer: str = "first",
) -> Iterator[tuple[int, np.ndarray]]:
    """Yields `(start_sample, wave)` segments of a signal given as blocks, cut
    in pauses (module docstring). Concatenated, the waves equal the signal."""
    if not 0 < min_seconds < max_seconds:
        raise ValueError(
            f"need 0 < min_seconds < max_seconds, got {min_seconds}, {max_seconds}"
        )
    max_frames = int(max_seconds * SAMPLE_RATE) // HOP
    min_frames = int(min_seconds * SAMPLE_RATE) // HOP
    pause_frames = max(1, round(min_pause * SAMPLE_RATE / HOP))
    need = max_frames * HOP + WINDOW  # samples in view to place a cut
    buf = np.zeros(0, np.float32)
    start = 0
    it = iter(blocks)
    exhausted = False
    while True:
        while not exhausted and len(buf) < need:
            try:
                block = np.asarray(next(it), np.float32).reshape(-1)
            except StopIteration:
                exhausted = True
                break
            buf = np.concatenate([buf, block])
        if not len(buf):
            return
        energy = frame_energy_db(buf[:need])
        last = len(buf) <= max_frames * HOP  # the rest fits in one segment
        # the last segment is still cut in pauses, but not to leave a stub
        high = len(energy) - min_frames if last else max_frames
        cut = choose_cut(energy, min_frames, high, pause_frames, threshold, prefer)
        if cut is None:
            if last:
                yield start, buf
                return
            cut = quietest_frame(energy, max_frames // 2, max_frames)
        cut *= HOP
        yield start, buf[:cut]
        buf, start = buf[cut:], start + cut


def blocks_of(wave: np.ndarray, block: int = 30 * SAMPLE_RATE) -> Iterator[np.ndarray]:
    """An in-memory signal as the blocks `iter_audio_blocks` would give."""
    for i in range(0, len(wave), block):
        yield wave[i : i + block]


def window_logits(
    blocks: Iterable[np.ndarray],
    logits_of: Callable[[np.ndarray], np.ndarray],
    samples_per_frame: int,
    window_seconds: float,
    context_seconds: float,
    progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, int]:
    """Logits of a signal of any length by fixed windows ("windows"
    segmentation): `logits_of` one window of `window_seconds` plus
    `context_seconds` on each side at a time, keeping only each window's
    centre frames, so the stitched logits match a single pass.

    Returns:
        ((frames, classes) logits, possibly a few frames past the signal's
        end, and the number of samples read).
    """
    spf = samples_per_frame
    core = int(window_seconds * SAMPLE_RATE) // spf * spf
    ctx = int(context_seconds * SAMPLE_RATE) // spf * spf
    buf = np.zeros(0, np.float32)
    buf_start = 0  # absolute sample index of buf[0]
    next_core = 0  # absolute start of the next window's kept region
    pieces, total = [], 0
    exhausted = False
    it = iter(blocks)
    while True:
        need = next_core + core + ctx
        while not exhausted and buf_start + len(buf) < need:
            try:
                block = next(it)
            except StopIteration:
                exhausted = True
                break
            buf = np.concatenate([buf, block])
            total += len(block)
        end = min(need, buf_start + len(buf))
        if next_core >= end:
            break
        left = max(0, next_core - ctx)
        wave = buf[left - buf_start : end - buf_start]
        logits = logits_of(wave)
        first = (next_core - left) // spf
        keep = logits[first : first + core // spf]
        pieces.append(keep)
        if progress:
            progress(min(next_core + core, end) / SAMPLE_RATE)
        next_core += core
        drop = max(0, next_core - ctx - buf_start)
        buf, buf_start = buf[drop:], buf_start + drop
        if exhausted and next_core >= buf_start + len(buf):
            break
    logits = np.concatenate(pieces) if pieces else np.zeros((0, 1), np.float32)
    return logits, total
