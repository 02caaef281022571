"""SpecAugment: identity at inference (the shared layer checks)."""

import numpy as np

from asr.augment import SpecAugment
from tests.layers_test_case import run_layer_test


def test_spec_augment_shared_layer_checks_identity_at_inference(tmp_path):
    features = np.random.default_rng(0).normal(size=(2, 30, 8)).astype(np.float32)
    lengths = np.array([30, 12], np.int32)
    layer = run_layer_test(
        SpecAugment,
        {"time_masks": 2, "time_width": 5, "freq_masks": 1, "freq_width": 3, "seed": 1},
        [features, lengths],
        tmp_path,
        reference=lambda layer, features, lengths: features,
        same_in_training=False,  # random masks in training
    )
    masked = np.asarray(layer(features, lengths, training=True))
    assert 0 < (masked == 0).mean() < 0.9
