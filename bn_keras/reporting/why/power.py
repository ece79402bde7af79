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

import numpy as np
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


def pilot_sds(arms: Sequence, floor: float) -> list[float]:
    """Each arm's seed SD from a pilot's few runs, at least `floor` (a pilot of two runs per arm
    can show almost no spread by chance)."""
    return [max(floor, float(np.std(a.accuracies, ddof=1))) for a in arms]


def pooled_sd(arms: Sequence) -> float:
    """The SD pooled over arms whose runs all trained (a failed run's spread is another matter)."""
    usable = [a for a in arms if len(a.accuracies) >= 2 and not a.diverged]
    dof = sum(len(a.accuracies) - 1 for a in usable)
    if not dof:
        return 0.0
    return math.sqrt(
        sum(np.var(a.accuracies, ddof=1) * (len(a.accuracies) - 1) for a in usable) / dof
    )


def design_rows(
    contrasts: Sequence,
    grids: dict,
    family_size: int,
    ns: Sequence[int] = (5, 10, 15, 20),
) -> tuple[list[str], list[list[str]]]:
    """The power table that fixes a design's seeds from its pilot (confirm_report's grids).

    Per contrast: the pilot's estimate, each arm's seed SD (at least the pilot's pooled SD),
    the image-sampling SE from the pilot's per-image scores, and both tests' power at each n of
    `ns` (present at C = 2m, small at C = 0), and the smallest n reaching 0.8 for each.
    """
    from bn_keras.reporting.why import image_sampling

    header = ["dataset", "contrast", "pilot estimate", "seed SDs (floor)", "image SE"]
    header += [f"power at n = {n} (present, small)" for n in ns]
    header += ["smallest n for 0.8 (present, small)"]
    rows = []
    for c in contrasts:
        arms = [grids[c.dataset].arms[name] for name in c.arms]
        weights = [w for _, w in c.weights]
        if any(len(a.accuracies) < 2 for a in arms):
            rows.append([c.dataset, c.name, "too few runs", *["-"] * (len(header) - 3)])
            continue
        floor = pooled_sd(grids[c.dataset].arms.values())
        sds = pilot_sds(arms, floor)
        scored = all(a.correct is not None for a in arms)
        image = image_sampling.image_variance([a.correct for a in arms], weights) if scored else 0
        image_se = math.sqrt(image)
        estimate = sum(w * float(np.mean(a.accuracies)) for a, w in zip(arms, weights))
        row = [c.dataset, c.name, f"{estimate:+.4f}"]
        row += [" ".join(f"{s:.4f}" for s in sds) + f" ({floor:.4f})", f"{image_se:.5f}"]
        for n in ns:
            p = power(n, sds, weights, image_se, c.margin, family_size)
            row.append(f"{p.present:.2f}, {p.small:.2f}")
        found = smallest_n(sds, weights, image_se, c.margin, family_size)
        row.append(", ".join("none to 50" if n is None else str(n) for n in found))
        rows.append(row)
    return header, rows
