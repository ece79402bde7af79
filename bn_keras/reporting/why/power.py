"""The power of a confirmatory contrast's two tests for a number of seeds per arm.

With n seeds in every arm, seed SDs s_a and contrast weights w_a, the standard error is
SE(n) = sqrt(sum_a w_a^2 s_a^2 / n + image_se^2): the image-sampling part does not shrink with
seeds. Each test is one-sided at Holm's strictest level, alpha / family size (what the smallest
p of the family must clear). The power is the noncentral t's: the statistic (C_hat - c0) / SE
has df from Welch-Satterthwaite at the expected SDs (statistics.expected_df) and noncentrality
(C - c0) / SE(n). That is exact for one arm and an approximation for Welch's statistic, whose
variance estimate is not a scaled chi-square; it errs little once df reaches ten or so.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence

from scipy import stats

from bn_keras.reporting.statistics import ALPHA, POWER, expected_df


@dataclasses.dataclass(frozen=True)
class Power:
    """Both tests' power at n seeds per arm.

    Attributes:
        n: seeds per arm.
        se: the contrast's expected standard error.
        df: its expected degrees of freedom.
        present: power of "present" (H0: C <= 0) when the true contrast is `present_at`.
        small: power of "small" (H0: C >= margin) when the true contrast is `small_at`.
    """

    n: int
    se: float
    df: float
    present: float
    small: float


def power(
    n: int,
    sds: Sequence[float],
    weights: Sequence[float],
    image_se: float,
    margin: float,
    family_size: int,
    alpha: float = ALPHA,
    present_at: float | None = None,
    small_at: float = 0.0,
) -> Power:
    """The power of the present test at a true C of `present_at` (default 2 x margin) and of the
    small test at a true C of `small_at`, each at level alpha / family_size.

    Args:
        n: seeds per arm (2 or more).
        sds: each arm's seed SD.
        weights: each arm's weight.
        image_se: the image-sampling standard error (0 for seeds only).
        margin: the smallest growth that matters.
        family_size: the Holm family's number of tests.
        alpha: the family-wise level.
        present_at: the true contrast for the present test's power.
        small_at: the true contrast for the small test's power.
    """
    if n < 2:
        raise ValueError(f"power needs 2 or more seeds per arm, got {n}")
    present_at = 2 * margin if present_at is None else present_at
    se = math.sqrt(sum(w**2 * s**2 for w, s in zip(weights, sds)) / n + image_se**2)
    df = expected_df(sds, n, weights)
    critical = stats.t.isf(alpha / family_size, df)
    present = stats.nct.sf(critical, df, present_at / se)
    small = stats.nct.cdf(-critical, df, (small_at - margin) / se)
    return Power(n, se, df, float(present), float(small))


def smallest_n(
    sds: Sequence[float],
    weights: Sequence[float],
    image_se: float,
    margin: float,
    family_size: int,
    ns: Iterable[int] = range(2, 51),
    target: float = POWER,
    alpha: float = ALPHA,
) -> tuple[int | None, int | None]:
    """The smallest n in `ns` at which each test (present, small) reaches `target` power, None
    where none does (the image-sampling SE alone can bar a test at any n)."""
    found: list[int | None] = [None, None]
    for n in ns:
        p = power(n, sds, weights, image_se, margin, family_size, alpha)
        for k, value in enumerate((p.present, p.small)):
            if found[k] is None and value >= target:
                found[k] = n
        if None not in found:
            break
    return found[0], found[1]
