"""Effects over seeds with 95% intervals: Welch contrasts, TOST, permutation p, Holm, power.

Welch's t interval for a difference of means, because with 3-10 seeds per arm a bootstrap over
seeds has too few distinct resamples (10 for 3 seeds) and its percentile interval undercovers,
and because Welch does not assume the arms vary alike (BN often narrows the seed-to-seed spread).
The same interval serves any contrast of group means (the pooled BN effect of two frameworks, or
the difference of their BN effects), with Welch-Satterthwaite degrees of freedom. Equivalence is
two one-sided t tests (TOST) against a margin fixed in advance, which is the same as the 90%
interval lying inside +-margin. Every function takes the seeds of a group along the last axis, so
the simulations (tests/test_adaptive_error_rates.py, the other tests) run the same formulas on
many repetitions at once.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05  # of each test, and of each one-sided test of TOST; Holm's family-wise level
POWER = 0.80  # of "seeds that would decide"
ACCURACY_MARGIN = (
    0.002  # equivalence margin for accuracies; why and when: reporting/paper/design.py
)
MAX_SEEDS = 100  # beyond this many seeds per arm a claim counts as not decidable
EXACT_PERMUTATIONS = 10_000  # enumerate every relabelling up to this many, else draw this many
PERMUTATION_SEED = 0  # the draws are fixed: rebuilding a summary gives the same p-values
DIFFERENCE = (-1.0, 1.0)  # second group minus first


@dataclasses.dataclass(frozen=True)
class Interval:
    """A contrast of group means (by default the second minus the first) with its interval.

    Attributes:
        effect: the contrast's estimate, sum of weight x group mean.
        low: lower limit of the interval.
        high: upper limit.
        df: Welch-Satterthwaite degrees of freedom.
        sds: the sample standard deviation of each group.
        n: the number of values in each group.
        confidence: the interval's confidence level.
        se: the estimate's standard error.
        weights: each group's weight in the contrast.
    """

    effect: float
    low: float
    high: float
    df: float
    sds: tuple[float, ...]
    n: tuple[int, ...]
    confidence: float = CONFIDENCE
    se: float = 0.0
    weights: tuple[float, ...] = DIFFERENCE

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    @property
    def p(self) -> float:
        """Two-sided p-value of "the contrast is 0" (t test with the interval's df)."""
        return float(difference_p(self.effect, self.se, self.df))

    def tost_p(self, margin: float) -> float:
        """TOST p-value of "|contrast| < margin"."""
        return float(equivalence_p(self.effect, self.se, self.df, margin))

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def beyond(self, margin: float) -> bool:
        """The whole interval lies beyond +-margin."""
        return self.low > margin or self.high < -margin


def contrast_moments(
    groups: Sequence[np.ndarray], weights: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimate, standard error and Welch-Satterthwaite df of sum(w_i x mean_i).

    Args:
        groups: the values of each group, seeds along the last axis (leading axes broadcast,
            for many simulated repetitions at once); each group needs 2+ values.
        weights: one weight per group.

    Returns:
        Arrays (scalars for 1-D groups) of estimate, se and df; df is sum(n) - len(groups)
        where every group is constant (se 0).
    """
    arrays = [np.asarray(g, float) for g in groups]
    estimate = sum(w * a.mean(axis=-1) for w, a in zip(weights, arrays))
    parts = [w**2 * a.var(axis=-1, ddof=1) / a.shape[-1] for w, a in zip(weights, arrays)]
    variance = sum(parts)
    spread = sum(p**2 / (a.shape[-1] - 1) for p, a in zip(parts, arrays))
    fallback = float(sum(a.shape[-1] for a in arrays) - len(arrays))
    with np.errstate(invalid="ignore", divide="ignore"):
        df = np.where(spread > 0, variance**2 / np.where(spread > 0, spread, 1.0), fallback)
    return estimate, np.sqrt(variance), df


def difference_p(estimate, se, df):
    """Two-sided p of "the contrast is 0"; with se 0, 0 for a nonzero estimate and 1 for 0."""
    estimate, se = np.asarray(estimate, float), np.asarray(se, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.abs(estimate) / np.where(se > 0, se, 1.0)
    return np.where(se > 0, 2 * stats.t.sf(t, df), np.where(estimate != 0, 0.0, 1.0))


def equivalence_p(estimate, se, df, margin: float):
    """TOST p of "|contrast| < margin": the larger p of the two one-sided t tests; with se 0,
    0 inside the margin and 1 outside."""
    estimate, se = np.asarray(estimate, float), np.asarray(se, float)
    safe = np.where(se > 0, se, 1.0)
    above = stats.t.sf((estimate + margin) / safe, df)  # H0: contrast <= -margin
    below = stats.t.cdf((estimate - margin) / safe, df)  # H0: contrast >= +margin
    return np.where(se > 0, np.maximum(above, below), np.where(abs(estimate) < margin, 0.0, 1.0))


def contrast_interval(
    groups: Sequence[Sequence[float]],
    weights: Sequence[float],
    confidence: float = CONFIDENCE,
) -> Interval | None:
    """Welch's t interval for sum(w_i x mean_i).

    Args:
        groups: the values of each group, e.g. (Keras without BN, Keras with BN, PyTorch
            without BN, PyTorch with BN).
        weights: one per group, e.g. (-0.5, 0.5, -0.5, 0.5) for the BN effect averaged over
            two frameworks, (-1, 1, 1, -1) for the difference of their BN effects.
        confidence: the interval's level.

    Returns:
        The interval, or None when a group has fewer than two values (no variance to estimate).
    """
    if any(len(g) < 2 for g in groups):
        return None
    estimate, se, df = (float(x) for x in contrast_moments(groups, weights))
    low, high = _t_interval(confidence, df, estimate, se)
    return Interval(
        effect=estimate,
        low=low,
        high=high,
        df=df,
        sds=tuple(float(np.std(g, ddof=1)) for g in groups),
        n=tuple(len(g) for g in groups),
        confidence=confidence,
        se=se,
        weights=tuple(float(w) for w in weights),
    )


def welch_interval(
    first: Sequence[float], second: Sequence[float], confidence: float = CONFIDENCE
) -> Interval | None:
    """Welch's t interval for mean(second) - mean(first) (scipy's `ttest_ind` without equal
    variances); None with fewer than 2 values in an arm."""
    interval = contrast_interval((first, second), DIFFERENCE, confidence)
    if interval is None or interval.se == 0:
        return interval  # scipy's interval is undefined without spread: the point itself
    with warnings.catch_warnings():  # one constant arm: scipy warns, its interval holds
        warnings.simplefilter("ignore", RuntimeWarning)
        test = stats.ttest_ind(np.asarray(second, float), np.asarray(first, float), equal_var=False)
        low, high = test.confidence_interval(confidence)
    return dataclasses.replace(interval, low=float(low), high=float(high))


def tost_pvalue(first: Sequence[float], second: Sequence[float], margin: float) -> float | None:
    """The p-value of TOST for |mean(second) - mean(first)| < `margin` (Welch df); below ALPHA
    means equivalence at level ALPHA. None when an arm has fewer than two values."""
    interval = welch_interval(first, second)
    return None if interval is None else interval.tost_p(margin)


def paired_interval(
    first: Sequence[float], second: Sequence[float], confidence: float = CONFIDENCE
) -> Interval | None:
    """The t interval of mean(second - first) over matched pairs (the same seed in both).

    Returns:
        The interval of the mean difference (its sds and n those of the differences), or None
        with fewer than two pairs.
    """
    if len(first) != len(second):
        raise ValueError(f"paired samples of different lengths: {len(first)}, {len(second)}")
    differences = np.asarray(second, float) - np.asarray(first, float)
    return contrast_interval((differences,), (1.0,), confidence)


def permutation_p(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Two-sided permutation p of mean(second) - mean(first): exact when there are at most
    EXACT_PERMUTATIONS relabellings (184,756 at 10 against 10 are more), otherwise that many
    fixed random ones (scipy.stats.permutation_test). None with fewer than two values in an
    arm."""
    if len(first) < 2 or len(second) < 2:
        return None
    arrangements = math.comb(len(first) + len(second), len(first))
    result = stats.permutation_test(
        (np.asarray(first, float), np.asarray(second, float)),
        lambda x, y, axis: np.mean(y, axis=axis) - np.mean(x, axis=axis),
        permutation_type="independent",
        vectorized=True,
        n_resamples=np.inf if arrangements <= EXACT_PERMUTATIONS else EXACT_PERMUTATIONS,
        rng=np.random.default_rng(PERMUTATION_SEED),
    )
    return float(result.pvalue)


def stratified_permutation_p(
    strata: Sequence[tuple[Sequence[float], Sequence[float]]], draws: int = EXACT_PERMUTATIONS
) -> float | None:
    """Two-sided permutation p of the mean over strata of mean(second) - mean(first), labels
    shuffled within each stratum (framework) only.

    The p-value is (1 + draws at least as extreme) / (1 + draws), as scipy's random
    permutation test gives it; the draws are fixed by PERMUTATION_SEED.

    Args:
        strata: per stratum, the values without and with the treatment.
        draws: random relabellings.

    Returns:
        The p-value, or None when a stratum has fewer than two values in an arm.
    """
    if any(len(a) < 2 or len(b) < 2 for a, b in strata):
        return None
    rng = np.random.default_rng(PERMUTATION_SEED)
    observed, null = 0.0, np.zeros(draws)
    for first, second in strata:
        values = np.concatenate([np.asarray(first, float), np.asarray(second, float)])
        k = len(first)
        observed += values[k:].mean() - values[:k].mean()
        shuffled = rng.permuted(np.broadcast_to(values, (draws, len(values))), axis=1)
        null += shuffled[:, k:].mean(axis=1) - shuffled[:, :k].mean(axis=1)
    # A relative tolerance, as scipy's, so that ties computed in another order still count.
    extreme = np.abs(null) >= abs(observed) * (1 - 1e-12) - 1e-15
    return float((1 + extreme.sum()) / (1 + draws))


def holm(pvalues: Sequence[float | None]) -> list[float]:
    """Holm's step-down adjusted p-values of one family (a missing p counts as 1).

    The k-th smallest of m p-values is multiplied by m - k + 1, then made non-decreasing in
    that order and capped at 1; a hypothesis is rejected at family-wise level ALPHA when its
    adjusted p is below ALPHA.
    """
    p = np.array([1.0 if v is None else float(v) for v in pvalues])
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, p[order] * (len(p) - np.arange(len(p))))
    adjusted = np.empty_like(p)
    adjusted[order] = np.maximum.accumulate(scaled) if len(p) else scaled
    return [float(a) for a in adjusted]


def expected_se(sds: Sequence[float], n: int, weights: Sequence[float] = DIFFERENCE) -> float:
    """The contrast's standard error with `n` seeds in every group if the SDs stay at `sds`."""
    return math.sqrt(sum(w**2 * s**2 for w, s in zip(weights, sds)) / n)


def expected_df(sds: Sequence[float], n: int, weights: Sequence[float] = DIFFERENCE) -> float:
    """Welch-Satterthwaite df with `n` seeds per group if the SDs stay at `sds`."""
    parts = [w**2 * s**2 for w, s in zip(weights, sds)]
    spread = sum(p**2 for p in parts)
    return sum(parts) ** 2 * (n - 1) / spread if spread else len(sds) * (n - 1)


def seeds_to_decide(
    sds: Sequence[float],
    distance: float,
    n_now: int,
    confidence: float = CONFIDENCE,
    power: float = POWER,
    weights: Sequence[float] = DIFFERENCE,
    max_seeds: int = MAX_SEEDS,
) -> int | None:
    """The smallest number of seeds per group at which the test would decide with `power`.

    If the true contrast lies `distance` from the limit to clear (|effect| for a difference
    from zero, margin - |effect| for equivalence) and the SDs stay as observed, the test
    decides with probability about `power` once distance >= (t_crit + t_power) x se(n), with
    t_crit the interval's two-sided quantile (0.975 for 95%, 0.95 for TOST's 90%) and t_power
    the `power` quantile, both at the expected df.

    Args:
        sds: the observed standard deviations of the groups.
        distance: how far the estimate lies from the limit it must clear.
        n_now: seeds per group today; the answer is larger.
        confidence: the interval's level (0.90 for TOST at alpha 0.05).
        power: the wanted chance of deciding.
        weights: the contrast's weights (one per SD).
        max_seeds: above this, None.

    Returns:
        Seeds per group, or None when not decidable at any reasonable n (distance ~0 or too
        many).
    """
    if distance <= 0:
        return None
    for n in range(max(n_now + 1, 2), max_seeds + 1):
        df = expected_df(sds, n, weights)
        quantiles = stats.t.ppf((1 + confidence) / 2, df) + stats.t.ppf(power, df)
        if distance >= quantiles * expected_se(sds, n, weights):
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
    return _t_interval(confidence, len(values) - 1, mean, stats.sem(values, axis=0))


def _t_interval(confidence: float, df, center, se):
    """scipy.stats.t.interval around `center` with scale `se`; where se is 0, the center."""
    center, se = np.asarray(center, float), np.asarray(se, float)
    low, high = stats.t.interval(confidence, df, loc=center, scale=np.where(se > 0, se, 1.0))
    low, high = np.where(se > 0, low, center), np.where(se > 0, high, center)
    return (float(low), float(high)) if low.ndim == 0 else (low, high)
