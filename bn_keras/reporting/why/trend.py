"""BN's effect across the levels of a factor (width, depth, learning rate) and its trend.

At each level: BN minus no BN in final accuracy, with Welch's 95% interval over the seeds that
trained, and the share of runs in each arm that failed to: the loss stopped being finite (the run
ended with `diverged_at`), or the final accuracy is at chance (at most the dataset's
chance_accuracy, bn_keras/config/datasets.py; experiments/grid.py reads the levels). Both are how
training too fast ends: in the pilot (results/why_pilot/), plain SGD at lr 1 left the ReLU LeNet
without BN at 0.1135 (every image one class) within 100 iterations with a finite loss, and the
sigmoid MLP with 10 hidden layers never left chance under Adadelta. Failed runs are counted, not
averaged: a level where an arm fails in all seeds has no interval; its failure share tells the
story.

The trend is the least-squares slope of the per-level effects on the factor's scale (log2 width,
depth, log10 rate): b = sum_i c_i D_i with c_i = (x_i - mean x) / sum_j (x_j - mean x)^2, each level
counting once. b is a linear contrast of the 2k arm means, so its variance is
sum_i c_i^2 (s_i,BN^2 / n_i,BN + s_i,noBN^2 / n_i,noBN) and its degrees of freedom follow
Welch-Satterthwaite over all 2k arms: Welch's interval generalized from one difference to a
contrast (statistics.contrast_interval). It assumes no common variance across arms or levels (BN
narrows the spread) and no linear model of accuracy: it tests whether the effects rise or fall
along the factor, and estimates by how much per unit of its scale. Only levels where both arms
have two or more finished runs enter it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from bn_keras.reporting import statistics as stats_lib
from bn_keras.reporting.statistics import CONFIDENCE, Interval

# How a factor's levels are placed on the axis of the regression, and its unit in words.
SCALES = {
    "linear": (lambda x: float(x), "per unit"),
    "log2": (math.log2, "per doubling"),
    "log10": (math.log10, "per decade"),
}


@dataclasses.dataclass(frozen=True)
class Level:
    """One level of a factor: in each arm, the final accuracies of the runs that trained, and how
    many failed to.

    Attributes:
        x: the level (a width multiplier, a depth, a learning rate).
        without: final accuracies without BN of the runs that trained, one per seed.
        with_bn: the same with BN.
        diverged: (without BN, with BN) runs whose loss stopped being finite.
        at_chance: (without BN, with BN) runs that finished at chance (the dataset's
            chance_accuracy).
    """

    x: float
    without: tuple[float, ...]
    with_bn: tuple[float, ...]
    diverged: tuple[int, int] = (0, 0)
    at_chance: tuple[int, int] = (0, 0)

    @property
    def effect(self) -> Interval | None:
        """BN minus no BN, Welch's 95% interval; None when an arm has fewer than two values."""
        return stats_lib.welch_interval(self.without, self.with_bn)

    @property
    def failed(self) -> tuple[int, int]:
        """Runs of each arm that diverged or finished at chance."""
        return self.diverged[0] + self.at_chance[0], self.diverged[1] + self.at_chance[1]

    @property
    def runs(self) -> tuple[int, int]:
        """All runs of each arm, failed ones included."""
        return len(self.without) + self.failed[0], len(self.with_bn) + self.failed[1]

    @property
    def failed_share(self) -> tuple[float, float]:
        """The share of each arm's runs that failed (NaN for an arm without runs)."""
        return tuple(f / n if n else math.nan for f, n in zip(self.failed, self.runs))


@dataclasses.dataclass(frozen=True)
class Trend:
    """The slope of BN's effect along a factor, with its interval.

    Attributes:
        slope: change in the effect per unit of the scale (e.g. per doubling of width).
        low: lower limit of the interval.
        high: upper limit.
        df: Welch-Satterthwaite degrees of freedom.
        p_value: two-sided, for slope 0.
        scale: "linear", "log2" or "log10".
        levels: the levels that entered the fit.
        intercept: the fitted effect at scale value 0 (level 1 on a log scale).
    """

    slope: float
    low: float
    high: float
    df: float
    p_value: float
    scale: str
    levels: tuple[float, ...]
    intercept: float
    confidence: float = CONFIDENCE

    def text(self) -> str:
        """E.g. "slope +0.0012 per doubling [+0.0004, +0.0020], p = 0.004, 4 levels"."""
        return (
            f"slope {self.slope:+.4f} {SCALES[self.scale][1]} [{self.low:+.4f}, {self.high:+.4f}], "
            f"p = {self.p_value:.3g}, {len(self.levels)} levels"
        )


def effect_trend(
    levels: Sequence[Level], scale: str, confidence: float = CONFIDENCE
) -> Trend | None:
    """The least-squares slope of BN's per-level effect on the factor, with its interval.

    Args:
        levels: the factor's levels; those where an arm has fewer than two values are left out.
        scale: a key of SCALES: where the levels sit on the regression's axis.
        confidence: the interval's confidence level.

    Returns:
        The trend, or None when fewer than two levels are usable.

    Raises:
        ValueError: an unknown scale.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {list(SCALES)}")
    usable = [lv for lv in levels if len(lv.without) >= 2 and len(lv.with_bn) >= 2]
    if len({lv.x for lv in usable}) < 2:
        return None
    x = np.array([SCALES[scale][0](lv.x) for lv in usable])
    weights = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    # The slope sum_i c_i (mean BN_i - mean noBN_i) is a contrast of the 2k arm means.
    groups = [arm for lv in usable for arm in (lv.without, lv.with_bn)]
    ci = stats_lib.contrast_interval(groups, [w for c in weights for w in (-c, c)], confidence)
    effects = np.array([np.mean(lv.with_bn) - np.mean(lv.without) for lv in usable])
    intercept = float(effects.mean() - ci.effect * x.mean())
    levels_used = tuple(lv.x for lv in usable)
    return Trend(ci.effect, ci.low, ci.high, ci.df, ci.p, scale, levels_used, intercept, confidence)


def well_trained(levels: Sequence[Level], threshold: float) -> tuple[list[float], list[float]]:
    """The levels at which each arm trains well: no run failed and the mean final accuracy is at
    least `threshold`.

    Returns:
        (levels without BN, levels with BN), in the order given.
    """
    good: tuple[list[float], list[float]] = ([], [])
    for level in levels:
        for arm, values in enumerate((level.without, level.with_bn)):
            if values and not level.failed[arm] and np.mean(values) >= threshold:
                good[arm].append(level.x)
    return good


def span_decades(levels: Sequence[float]) -> float:
    """How many decades the levels span, log10(max / min); 0 for one level, NaN for none."""
    if not levels:
        return math.nan
    return math.log10(max(levels) / min(levels))
