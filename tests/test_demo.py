"""asr.demo: the demo's clip helpers."""

import numpy as np

from asr import demo


def test_with_quiet_pads_each_clip_with_noise_at_the_level():
    waves = [np.ones(800, np.float32), np.full(1600, 0.5, np.float32)]
    clips = demo.DemoClips(["a", "b"], ["v1", "v2"], waves)
    quiet = demo.with_quiet(clips, seconds=0.5, level_dbfs=-60.0, seed=3)
    assert quiet.texts == clips.texts and len(quiet.voices) == 2
    for wave, padded in zip(waves, quiet.waves):
        assert len(padded) == len(wave) + 2 * 8000
        np.testing.assert_array_equal(padded[8000 : 8000 + len(wave)], wave)
        for pad in (padded[:8000], padded[-8000:]):
            rms_db = 20 * np.log10(np.sqrt(np.mean(pad.astype(np.float64) ** 2)))
            assert abs(rms_db - -60.0) < 0.5
    again = demo.with_quiet(clips, seconds=0.5, level_dbfs=-60.0, seed=3)
    np.testing.assert_array_equal(again.waves[1], quiet.waves[1])  # seeded
