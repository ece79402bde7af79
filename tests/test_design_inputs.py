"""The power analysis' inputs: per-image correctness, the seed and the image-sampling variance."""

import numpy as np
import pytest

from bn_keras.reporting.why import design_inputs


def test_a_diverged_run_counts_as_predicting_the_fallback_class():
    labels = np.array([0, 1, 1, 2])
    assert design_inputs.correct(None, labels, 1).tolist() == [False, True, True, False]
    assert design_inputs.correct(np.array([0, 1, 2, 2]), labels, 1).tolist() == [
        True,
        True,
        False,
        True,
    ]
    with pytest.raises(ValueError, match="3 predictions for 4 test labels"):
        design_inputs.correct(np.array([0, 1, 2]), labels, 1)


def test_seed_variance_is_welchs_and_scales_with_the_seeds_asked_for():
    arms = [[0.90, 0.92, 0.94], [0.95, 0.96]]
    expected = np.var(arms[0], ddof=1) / 3 + 4 * np.var(arms[1], ddof=1) / 2
    assert design_inputs.seed_variance(arms, [1.0, -2.0]) == pytest.approx(expected)
    at_ten = np.var(arms[0], ddof=1) / 10 + 4 * np.var(arms[1], ddof=1) / 10
    assert design_inputs.seed_variance(arms, [1.0, -2.0], seeds=10) == pytest.approx(at_ten)


def test_runs_that_agree_on_every_image_leave_only_image_sampling():
    rng = np.random.default_rng(0)
    right = rng.random((2, 1000)) < [[0.9], [0.7]]  # per arm, one fixed pattern over images
    arms = [np.repeat(right[0][None], 3, axis=0), np.repeat(right[1][None], 4, axis=0)]
    per_image = right[1].astype(float) - right[0]
    expected = np.var(per_image, ddof=1) / 1000
    assert design_inputs.image_variance(arms, [-1.0, 1.0]) == pytest.approx(expected)


def test_seed_noise_alone_is_not_counted_as_image_sampling():
    rng = np.random.default_rng(1)
    # Every image alike (each run right with probability 0.9 anywhere): nothing for a new test
    # set to resample, and the uncorrected per-image variance would be about 2 x 0.09 / 5 / N.
    arms = [rng.random((5, 20_000)) < 0.9 for _ in range(2)]
    raw = np.var(arms[1].mean(0) - arms[0].mean(0), ddof=1) / 20_000
    assert raw == pytest.approx(2 * 0.09 / 5 / 20_000, rel=0.05)
    assert design_inputs.image_variance(arms, [-1.0, 1.0]) < raw / 20
