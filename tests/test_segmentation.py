"""`asr.segmentation`: cuts fall in pauses, segments tile the signal, bounded
memory; long inputs through `Recognizer` with segmentation at pauses."""

import numpy as np
import pytest

from asr.segmentation import frame_energy_db, pause_segments
from tests.conftest import speechlike

SR = 16000


def phrases(lengths, pauses, seed=0, noise_dbfs=-60.0):
    """Speech-like phrases of `lengths` seconds separated by `pauses` seconds of
    a white-noise floor; returns the signal and each pause's (start, end)."""
    rng = np.random.default_rng(seed)
    parts, gaps, at = [], [], 0
    for i, length in enumerate(lengths):
        parts.append(speechlike(length, seed=seed + i))
        at += len(parts[-1])
        if i < len(pauses):
            n = int(pauses[i] * SR)
            parts.append(np.zeros(n, np.float32))
            gaps.append((at, at + n))
            at += n
    wave = np.concatenate(parts)
    wave += (10 ** (noise_dbfs / 20) * rng.standard_normal(len(wave))).astype(
        np.float32
    )
    return wave, gaps


def blocks(wave, size):
    for i in range(0, len(wave), size):
        yield wave[i : i + size]


def test_frame_energy_matches_a_direct_computation():
    wave = speechlike(0.5, seed=1)
    energy = frame_energy_db(wave)
    assert len(energy) == -(-len(wave) // 160)
    frame = np.zeros(400)
    frame[: len(wave[1600:2000])] = wave[1600:2000]
    assert energy[10] == pytest.approx(10 * np.log10(np.mean(frame**2) + 1e-12))


@pytest.mark.parametrize("block", [SR // 3, 7 * SR])
def test_cuts_fall_in_pauses_and_segments_tile_the_signal(block):
    lengths = [2.5, 1.0, 4.0, 3.5, 2.0, 6.0, 1.5, 5.0, 3.0]
    wave, gaps = phrases(lengths, [0.6, 0.4, 0.8, 0.5, 0.7, 0.45, 0.9, 0.5])
    segments = list(pause_segments(blocks(wave, block), max_seconds=8))
    starts = [s for s, _ in segments]
    assert starts[0] == 0
    np.testing.assert_array_equal(np.concatenate([w for _, w in segments]), wave)
    assert all(s + len(w) == n for (s, w), n in zip(segments, starts[1:]))
    for cut in starts[1:]:
        assert any(a <= cut < b for a, b in gaps), f"cut at {cut / SR:.2f} s"
    durations = [len(w) / SR for _, w in segments]
    assert max(durations) <= 8
    # min_seconds (3) is kept unless the only pause in reach comes earlier
    assert sum(d < 3 for d in durations) == 1


def test_speech_without_pauses_is_cut_at_most_every_max_seconds():
    wave = speechlike(50, seed=2)
    segments = list(pause_segments(blocks(wave, SR), max_seconds=10))
    durations = [len(w) / SR for _, w in segments]
    assert sum(durations) == pytest.approx(50)
    assert all(5 <= d <= 10 for d in durations[:-1])


def test_pauses_are_found_under_steady_noise():
    """Noise 15 dB below the speech: its level is the floor, not speech."""
    lengths, pause_s = [4.0, 4.0, 4.0, 4.0], [0.6, 0.6, 0.6]
    wave, gaps = phrases(lengths, pause_s, noise_dbfs=-40.0)
    starts = [s for s, _ in pause_segments(blocks(wave, SR), max_seconds=10)]
    assert len(starts) == 4
    for cut in starts[1:]:
        assert any(a <= cut < b for a, b in gaps)


def test_memory_is_bounded_by_one_segment_and_a_block():
    block, max_s = SR, 6.0
    consumed = [0]

    def source():
        for i in range(200):  # 200 s
            consumed[0] += block
            yield speechlike(1.0, seed=i % 5) * (i % 4 != 3)

    yielded = 0
    for _, wave in pause_segments(source(), max_seconds=max_s):
        yielded += len(wave)
        held = consumed[0] - yielded
        assert held <= max_s * SR + 400 + block
    assert yielded == consumed[0] == 200 * block


def test_bad_lengths_are_refused():
    with pytest.raises(ValueError, match="min_seconds"):
        list(pause_segments([np.zeros(SR)], max_seconds=2, min_seconds=3))


def test_recognizer_long_input_is_the_segments_recognised_one_by_one():
    import tempfile
    from pathlib import Path

    from asr.transcribe import load_model
    from tests.tiny_models import save_tiny_run

    with tempfile.TemporaryDirectory() as tmp:
        rec = load_model(save_tiny_run(Path(tmp), seed=2))
    rec.window_seconds, rec.context_seconds = 3.0, 1.0
    wave, _ = phrases([1.5, 2.0, 1.2, 1.8], [0.5, 0.7, 0.4])
    assert rec.segmentation == "pauses"
    rec.segmentation_options = {"min_seconds": 1.0}
    seg = rec.transcribe_segments([wave])[0]
    parts = [
        w
        for _, w in pause_segments(blocks(wave, 30 * SR), max_seconds=3, min_seconds=1)
    ]
    assert len(parts) > 1
    expected = " ".join(t for t in rec.transcribe_batch(parts) if t)
    assert seg.text == expected
    assert seg.duration == pytest.approx(len(wave) / SR)
    assert all(0 <= w["start"] <= w["end"] <= seg.duration for w in seg.words)
    rec.segmentation = "bogus"
    with pytest.raises(ValueError, match="segmentation"):
        rec.transcribe(wave)
