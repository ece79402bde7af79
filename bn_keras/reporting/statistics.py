"""Effects over seeds with 95% intervals: Welch's t, TOST equivalence, censoring, seeds to decide.

Welch's t interval for the difference of two means, because with 3-10 seeds per arm a bootstrap
over seeds has too few distinct resamples (10 for 3 seeds) and its percentile interval
undercovers, and because Welch does not assume the two arms vary alike (BN often narrows the
seed-to-seed spread). Equivalence is two one-sided Welch t tests (TOST) against a margin fixed in
advance, which is the same as the 90% interval lying inside +-margin.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05  # of each one-sided test of TOST
# The equivalence margin for final and best accuracy, fixed on 2026-11-27 before the 10-seed
# lenetr runs were read (issue 13). The binomial standard error of one accuracy near 0.99 on
# 10,000 test images is sqrt(0.99 * 0.01 / 10000) = 0.001, so 0.002 (20 images) is about two
# standard errors of a single test-set measurement: less than the test set itself resolves for
# one model, and below what a practitioner would call a difference on MNIST.
ACCURACY_MARGIN = 0.002
MARGIN_JUSTIFICATION = (
    f"equivalence margin {ACCURACY_MARGIN} in accuracy ({ACCURACY_MARGIN * 100:.1f} percentage "
    f"points, "
    f"{ACCURACY_MARGIN * 10_000:.0f} of the 10,000 test images), fixed before the 10-seed runs: "
    "the binomial standard error of one accuracy near 0.99 on 10,000 images is "
    "sqrt(0.99 x 0.01 / 10,000) = 0.001, so 0.002 is about two standard errors of a single "
    "test-set measurement, less than the test set resolves for one model and below what a "
    "practitioner would call a difference on MNIST"
)
MAX_SEEDS = 100  # beyond this many seeds per arm a claim counts as not decidable


@dataclasses.dataclass(frozen=True)
class Interval:
    """The difference of two means (second arm minus first) with its confidence interval.

    Attributes:
        effect: mean of the second arm minus mean of the first.
        low: lower limit of the interval.
        high: upper limit.
        df: Welch-Satterthwaite degrees of freedom.
        sds: the sample standard deviations of the two arms.
        n: the number of values in each arm.
        confidence: the interval's confidence level.
    """

    effect: float
    low: float
    high: float
    df: float
    sds: tuple[float, float]
    n: tuple[int, int]
    confidence: float = CONFIDENCE

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@contextlib.contextmanager
def _constant_arm_is_fine() -> Iterator[None]:
    """Silences scipy's "precision loss" warning for an arm of identical values (all seeds at the
    same step, say): its variance is exactly 0, which Welch's formulas handle."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        yield


def welch_interval(
    first: Sequence[float], second: Sequence[float], confidence: float = CONFIDENCE
) -> Interval | None:
    """Welch's t interval for mean(second) - mean(first).

    Args:
        first: the values of one arm (e.g. without BN), one per seed.
        second: the values of the other arm (e.g. with BN).
        confidence: the confidence level.

    Returns:
        The interval, or None when an arm has fewer than two values (no variance to estimate).
    """
    if len(first) < 2 or len(second) < 2:
        return None
    sds = (float(np.std(first, ddof=1)), float(np.std(second, ddof=1)))
    n = (len(first), len(second))
    effect = float(np.mean(second) - np.mean(first))
    if sds == (0.0, 0.0):  # identical values in each arm: no spread, the interval is the point
        return Interval(effect, effect, effect, float(sum(n) - 2), sds, n, confidence)
    with _constant_arm_is_fine():
        result = stats.ttest_ind(second, first, equal_var=False)
    ci = result.confidence_interval(confidence)
    return Interval(effect, float(ci.low), float(ci.high), float(result.df), sds, n, confidence)


def tost_pvalue(first: Sequence[float], second: Sequence[float], margin: float) -> float | None:
    """The p-value of TOST for |mean(second) - mean(first)| < `margin` (Welch df).

    The larger p of the two one-sided tests "difference > -margin" and "difference < +margin";
    below ALPHA means equivalence at level ALPHA.

    Returns:
        The p-value, or None when an arm has fewer than two values.
    """
    if len(first) < 2 or len(second) < 2:
        return None
    first, second = np.asarray(first, float), np.asarray(second, float)
    if np.std(first) == 0 and np.std(second) == 0:
        return 0.0 if abs(second.mean() - first.mean()) < margin else 1.0
    with _constant_arm_is_fine():
        above = stats.ttest_ind(second + margin, first, equal_var=False, alternative="greater")
        below = stats.ttest_ind(second - margin, first, equal_var=False, alternative="less")
    return float(max(above.pvalue, below.pvalue))


def expected_half_width(sds: tuple[float, float], n: int, confidence: float) -> float:
    """The half-width of Welch's interval with `n` seeds per arm if the SDs stay at `sds`."""
    v1, v2 = sds[0] ** 2, sds[1] ** 2
    if v1 + v2 == 0:
        return 0.0
    df = (v1 + v2) ** 2 * (n - 1) / (v1**2 + v2**2)
    return float(stats.t.ppf((1 + confidence) / 2, df) * math.sqrt((v1 + v2) / n))


def seeds_to_decide(
    sds: tuple[float, float],
    distance: float,
    n_now: int,
    confidence: float = CONFIDENCE,
    max_seeds: int = MAX_SEEDS,
) -> int | None:
    """The smallest number of seeds per arm at which the expected interval would decide.

    A rough guide, not a promise: with the observed SDs and the observed effect, the interval's
    expected half-width falls below `distance` (|effect| for a difference from zero, margin -
    |effect| for equivalence); at that n about half of repeated experiments would decide.

    Args:
        sds: the observed standard deviations of the two arms.
        distance: how far the interval's centre lies from the limit it must clear.
        n_now: seeds per arm today; the answer is larger.
        confidence: the interval's level (0.90 for TOST at alpha 0.05).
        max_seeds: above this, None.

    Returns:
        Seeds per arm, or None when not decidable at any reasonable n (distance ~0 or too many).
    """
    if distance <= 0:
        return None
    for n in range(max(n_now + 1, 2), max_seeds + 1):
        if expected_half_width(sds, n, confidence) < distance:
            return n
    return None


def mean_band(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """The t-based confidence interval of the mean over axis 0 (seeds), per column.

    Args:
        values: one row per seed, one column per evaluation step.
        confidence: the interval's level.

    Returns:
        Lower and upper limits per column; for a single seed both equal the values (no band).
    """
    values = np.asarray(values, float)
    mean = values.mean(axis=0)
    if len(values) < 2:
        return mean, mean
    half = stats.t.ppf((1 + confidence) / 2, len(values) - 1) * stats.sem(values, axis=0)
    return mean - half, mean + half
