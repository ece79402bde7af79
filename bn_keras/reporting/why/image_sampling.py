"""The test set as a sample too: a contrast's image-sampling variance, paired per image, and a
two-level bootstrap over seeds and test images.

Every run of every arm is scored on the same test images, so a contrast of arm means can be
written per image: c_i = sum_a w_a mean_s correct[a][s, i], and the contrast is mean_i c_i. If the
images are a sample from the population the test set stands for, the spread of the c_i over
images, less the seed noise each carries, gives the variance of that mean over test sets (a
paired analysis: an image every arm finds hard cancels).
confirmatory.py adds it to the seed variance. The bootstrap resamples the seeds within each arm and
the test images, the same image resample for every run, as a check on that sum (scipy has no
hierarchical bootstrap).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_DRAWS = 2000
BOOTSTRAP_SEED = 0  # the draws are fixed: rebuilding a summary gives the same interval
_CHUNK = 200  # draws resampled at once, to bound memory (draws x images floats)


def _checked(correct: Sequence[np.ndarray], weights: Sequence[float]) -> list[np.ndarray]:
    """The arms' (runs, images) arrays as floats, checked to share the images."""
    arrays = [np.asarray(c, float) for c in correct]
    if len(arrays) != len(weights):
        raise ValueError(f"{len(arrays)} arms but {len(weights)} weights")
    if any(a.ndim != 2 or a.shape[0] == 0 for a in arrays):
        raise ValueError("each arm's correct array must be (runs, images) with one run or more")
    if len({a.shape[1] for a in arrays}) != 1:
        raise ValueError(
            f"arms scored on different numbers of images: {[a.shape[1] for a in arrays]}"
        )
    return arrays


def per_image_contrast(correct: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """c_i = sum_a w_a mean_s correct[a][s, i], one value per test image.

    Args:
        correct: per arm, (runs, images): whether each run classified each image right.
        weights: the contrast's weight of each arm.
    """
    arrays = _checked(correct, weights)
    return sum(w * a.mean(axis=0) for w, a in zip(weights, arrays))


def image_variance(correct: Sequence[np.ndarray], weights: Sequence[float]) -> float:
    """The contrast's image-sampling variance: what a new test set of the same size would move it.

    var(c_i, ddof=1) / N would overstate it: each c_i averages only the arms' few seeds, so it
    also varies with their seed noise, which the seed variance counts already. That part,
    sum_a w_a^2 var_s(correct[a][s, i]) / runs_a averaged over the images, is removed (method of
    moments; floored at 0), which needs 2 or more runs per arm; with one, the whole var(c_i) is
    kept (conservative).
    """
    arrays = _checked(correct, weights)
    c = per_image_contrast(arrays, weights)
    if len(c) < 2:
        return 0.0
    seed_part = 0.0
    if all(a.shape[0] >= 2 for a in arrays):
        seed_part = float(
            np.mean(sum(w**2 * a.var(axis=0, ddof=1) / a.shape[0] for w, a in zip(weights, arrays)))
        )
    return max(0.0, float(c.var(ddof=1)) - seed_part) / len(c)


def bootstrap_interval(
    correct: Sequence[np.ndarray],
    weights: Sequence[float],
    confidence: float = 0.95,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """The percentile interval of the contrast over a two-level bootstrap.

    Each draw resamples, with replacement, the runs within each arm and the test images, one
    image resample shared by every run of every arm (the images are paired across arms), and
    computes the contrast on the resampled data.

    Args:
        correct: per arm, (runs, images) of 0/1.
        weights: the contrast's weight of each arm.
        confidence: the interval's level.
        draws: bootstrap draws.
        seed: the generator's seed.

    Returns:
        (low, high).
    """
    arrays = _checked(correct, weights)
    images = arrays[0].shape[1]
    rng = np.random.default_rng(seed)
    stats = []
    for start in range(0, draws, _CHUNK):
        size = min(_CHUNK, draws - start)
        # Per draw and image, the contrast over the resampled runs: each run's weight is its arm's
        # weight x how often the draw picked it / the arm's runs.
        per_image = np.zeros((size, images))
        for w, arm in zip(weights, arrays):
            runs = arm.shape[0]
            picks = rng.integers(0, runs, (size, runs))
            counts = (picks[:, :, None] == np.arange(runs)).sum(axis=1)
            per_image += (w / runs) * counts @ arm
        resampled = rng.integers(0, images, (size, images))
        stats.append(np.take_along_axis(per_image, resampled, axis=1).mean(axis=1))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(np.concatenate(stats), [tail, 100 - tail])
    return float(low), float(high)
