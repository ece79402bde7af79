"""The confirmatory contrasts of BN's effect: their intervals, two one-sided tests each, Holm across
the family, and a verdict rule whose outcomes are exhaustive and exclusive.

A contrast is a weighted sum of arm means (an arm: one network and recipe, with or without BN,
over several seeds), e.g. BN's effect at width 0.25 minus its effect at width 1. Each run enters
its arm by intention to treat (confirm_runs.py): a diverged run as a network that predicts the
training set's most frequent class. Two intervals per contrast:

- seeds only: Welch-Satterthwaite over the arms' seeds (statistics.contrast_interval);
- seeds and test images (the primary one, when every run's predictions are at hand): the seed
  variance plus the image-sampling variance of the paired per-image contrast
  (image_sampling.image_variance, the seed noise the per-image contrasts carry removed), with
  the seed interval's degrees of freedom. A two-level
  bootstrap percentile interval (image_sampling.bootstrap_interval) is reported beside it.

Two one-sided t tests on the primary estimate, standard error and df: "present" (H0: C <= 0) and
"small" (H0: C >= m, the smallest effect that matters). Holm's adjustment runs over both tests of
every contrast in the family. The verdict reads the two Holm decisions at ALPHA as a 2 x 2 table:

| present | small | verdict |
|---|---|---|
| yes | no | SUPPORTED: the effect grows, and a growth of m or more is not excluded |
| yes | yes | NOT SUPPORTED: it grows, by less than m |
| no | yes | NOT SUPPORTED: smaller than m, possibly none (or of the opposite sign) |
| no | no | UNDECIDED: the data allow a growth of m or more and none |

A contrast with an arm of fewer than two runs has no test: UNDECIDED, its p-values count as 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

from bn_keras.reporting import statistics
from bn_keras.reporting.statistics import ALPHA, CONFIDENCE, Interval
from bn_keras.reporting.why import image_sampling

SUPPORTED, NOT_SUPPORTED, UNDECIDED = "SUPPORTED", "NOT SUPPORTED", "UNDECIDED"
MIN_RUNS = 2  # per arm, for a variance and so a test


@dataclasses.dataclass(frozen=True, eq=False)  # its array has no single truth value
class Arm:
    """One arm's runs, failures included (intention to treat).

    Attributes:
        name: e.g. "mnist/lenetr_w0.25_bn".
        accuracies: each run's test accuracy as the failure rule counts it.
        correct: (runs, images), whether each run classified each test image right, in the test
            set's order; None when a run's predictions are missing.
        diverged: how many of the runs diverged.
    """

    name: str
    accuracies: tuple[float, ...]
    correct: np.ndarray | None = None
    diverged: int = 0

    def __post_init__(self):
        if self.correct is not None and len(self.correct) != len(self.accuracies):
            raise ValueError(
                f"arm {self.name}: {len(self.correct)} rows of predictions for "
                f"{len(self.accuracies)} runs"
            )


@dataclasses.dataclass(frozen=True)
class Contrast:
    """A hypothesis: sum of weight x arm mean > 0, by at least `margin` to matter.

    Attributes:
        dataset: e.g. "mnist".
        name: e.g. "capacity".
        weights: (arm name, weight) pairs.
        margin: m, the smallest growth that matters.
        claim: the hypothesis in words, e.g. "BN's effect is larger at width 0.25 than at 1".
        levels: (label, arm without BN, arm with BN) of each level whose BN effect the contrast
            weighs, for the exploratory table; empty for a contrast not of BN effects.
    """

    dataset: str
    name: str
    weights: tuple[tuple[str, float], ...]
    margin: float
    claim: str = ""
    levels: tuple[tuple[str, str, str], ...] = ()

    @property
    def arms(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.weights)


def bn_contrast(
    dataset: str,
    name: str,
    levels: Sequence[tuple[str, str, str, float]],
    margin: float,
    claim: str = "",
) -> Contrast:
    """A contrast of BN's effects: sum over levels of weight x (mean with BN - mean without).

    Args:
        dataset: the dataset.
        name: the contrast's name.
        levels: (label, arm without BN, arm with BN, the level's weight) per level, e.g.
            (("width 0.25", "w0.25", "w0.25_bn", 1), ("width 1", "w1", "w1_bn", -1)).
        margin: the smallest growth that matters.
        claim: the hypothesis in words.
    """
    weights = tuple(
        (arm, sign * w)
        for _, without, with_bn, w in levels
        for arm, sign in ((without, -1.0), (with_bn, 1.0))
    )
    labels = tuple((label, without, with_bn) for label, without, with_bn, _ in levels)
    return Contrast(dataset, name, weights, margin, claim, labels)


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A contrast's estimate, intervals and raw p-values.

    Attributes:
        contrast: what is estimated.
        seed: the seed-only interval; None with too few runs.
        primary: the interval the tests use: seeds and images when every run's predictions are
            at hand, else the seed-only one; None with too few runs.
        with_images: whether `primary` includes the test images' sampling.
        bootstrap: the two-level bootstrap's percentile interval, None without predictions.
        p_present: one-sided p of H0: C <= 0; None with too few runs.
        p_small: one-sided p of H0: C >= margin; None with too few runs.
        too_few: why there is no test ("" when there is one).
    """

    contrast: Contrast
    seed: Interval | None
    primary: Interval | None
    with_images: bool
    bootstrap: tuple[float, float] | None
    p_present: float | None
    p_small: float | None
    too_few: str = ""


def one_sided_p(estimate: float, se: float, df: float, margin: float) -> tuple[float, float]:
    """The p-values of "present" (H0: C <= 0) and "small" (H0: C >= margin), t with `df`; with
    se 0, 0 where the estimate is on the alternative's side and 1 where it is not."""
    if se <= 0:
        return float(estimate <= 0), float(estimate >= margin)
    present = stats.t.sf(estimate / se, df)
    small = stats.t.cdf((estimate - margin) / se, df)
    return float(present), float(small)


def with_image_variance(seed: Interval, variance: float) -> Interval:
    """The seed interval widened by the images' sampling variance, its df kept."""
    se = float(np.sqrt(seed.se**2 + variance))
    low, high = (
        stats.t.interval(seed.confidence, seed.df, loc=seed.effect, scale=se)
        if se > 0
        else (seed.effect, seed.effect)
    )
    return dataclasses.replace(seed, se=se, low=float(low), high=float(high))


def estimate(
    contrast: Contrast,
    arms: Mapping[str, Arm],
    confidence: float = CONFIDENCE,
    draws: int = image_sampling.BOOTSTRAP_DRAWS,
) -> Estimate:
    """The contrast's intervals and raw p-values from its arms' runs.

    Args:
        contrast: the hypothesis.
        arms: by name; every arm the contrast weighs must be there.
        confidence: the intervals' level.
        draws: the bootstrap's draws.

    Raises:
        KeyError: an arm of the contrast is not in `arms`.
    """
    missing = [name for name in contrast.arms if name not in arms]
    if missing:
        raise KeyError(f"contrast {contrast.dataset}/{contrast.name} needs arms {missing}")
    chosen = [arms[name] for name in contrast.arms]
    weights = [w for _, w in contrast.weights]
    short = [f"{a.name} has {len(a.accuracies)}" for a in chosen if len(a.accuracies) < MIN_RUNS]
    if short:
        reason = f"too few runs ({', '.join(short)}; every arm needs {MIN_RUNS})"
        return Estimate(contrast, None, None, False, None, None, None, reason)
    seed = statistics.contrast_interval([a.accuracies for a in chosen], weights, confidence)
    with_images = all(a.correct is not None for a in chosen)
    primary, bootstrap = seed, None
    if with_images:
        correct = [a.correct for a in chosen]
        primary = with_image_variance(seed, image_sampling.image_variance(correct, weights))
        bootstrap = image_sampling.bootstrap_interval(correct, weights, confidence, draws)
    present, small = one_sided_p(primary.effect, primary.se, primary.df, contrast.margin)
    return Estimate(contrast, seed, primary, with_images, bootstrap, present, small)


@dataclasses.dataclass(frozen=True)
class Reading:
    """A contrast's verdict from the family's Holm-adjusted decisions.

    Attributes:
        estimate: the contrast's numbers.
        holm_present: Holm-adjusted p of "present".
        holm_small: Holm-adjusted p of "small".
        outcome: SUPPORTED, NOT_SUPPORTED or UNDECIDED.
        sentence: the verdict in words, with the primary interval.
    """

    estimate: Estimate
    holm_present: float
    holm_small: float
    outcome: str
    sentence: str


def interval_text(ci: Interval | None) -> str:
    """E.g. "+0.0027 [+0.0011, +0.0043]"; "-" without an interval."""
    return f"{ci.effect:+.4f} [{ci.low:+.4f}, {ci.high:+.4f}]" if ci else "-"


def verdict(present: bool, small: bool, estimate: Estimate) -> tuple[str, str]:
    """The 2 x 2 rule (module docstring): the outcome and its sentence."""
    if estimate.primary is None:
        return UNDECIDED, estimate.too_few
    m, ci = f"{estimate.contrast.margin:g}", interval_text(estimate.primary)
    if present and not small:
        return SUPPORTED, f"BN's effect grows by {ci}; a growth of {m} or more is not excluded"
    if present and small:
        return NOT_SUPPORTED, f"BN's effect grows, but by less than {m}: {ci}"
    if small:
        if estimate.primary.high < 0:
            return NOT_SUPPORTED, f"of the opposite sign: {ci}"
        return NOT_SUPPORTED, f"smaller than {m}, possibly none: {ci}"
    return UNDECIDED, f"the data allow a growth of {m} or more and none: {ci}"


def read_family(estimates: Sequence[Estimate], alpha: float = ALPHA) -> list[Reading]:
    """Every contrast's verdict, Holm's adjustment over both tests of every contrast.

    Args:
        estimates: the family (e.g. three contrasts on each of two datasets: 12 p-values).
        alpha: the family-wise level.

    Returns:
        One reading per estimate, in order.
    """
    pvalues = [p for e in estimates for p in (e.p_present, e.p_small)]
    adjusted = statistics.holm(pvalues)
    readings = []
    for k, e in enumerate(estimates):
        present, small = adjusted[2 * k], adjusted[2 * k + 1]
        outcome, sentence = verdict(present < alpha, small < alpha, e)
        readings.append(Reading(e, present, small, outcome, sentence))
    return readings
