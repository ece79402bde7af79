"""BN minus no BN per quantity over seeds: final and best accuracy, and the restricted mean of
the iterations to each threshold (RMST), each with its Welch interval and its other tests.

Iterations to a threshold: a seed that never reached it within train_steps (tau) counts as tau.
The mean of these values is the restricted mean at tau (RMST), a quantity in its own right (the
area under the curve of "not yet reached" up to tau), not a mean of the uncensored times; it is
estimable whenever some seed reached the threshold. Because the values pile up at tau, each
iterations effect carries a permutation p beside Welch's.
"""

from __future__ import annotations

import dataclasses
import statistics as py_statistics
from collections.abc import Iterable, Sequence
from typing import Protocol

from bn_keras.reporting import statistics
from bn_keras.reporting.statistics import ACCURACY_MARGIN, Interval
from bn_keras.runs.reader import one_dataset

FINAL, BEST = "final accuracy", "best accuracy"


class RunLike(Protocol):
    """What the claims need of a finished run (bn_keras.runs.reader.Run provides it)."""

    record: dict
    final_accuracy: float
    best_accuracy: float

    def first_step_reaching(self, threshold: float) -> int | None: ...


def p_text(p: float) -> str:
    """A p-value to three decimals, "<0.001" below that."""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_is(p: float) -> str:
    """The p-value as "p=0.034", or "p<0.001" below that."""
    return f"p{p_text(p)}" if p < 0.001 else f"p={p_text(p)}"


def iterations_quantity(threshold: float, tau: int) -> str:
    """E.g. "iterations to 98%, restricted mean at 10,000 (RMST)"."""
    return f"iterations to {threshold:.0%}, restricted mean at {tau:,} (RMST)"


def iterations_key(threshold: float) -> str:
    return f"iterations_to_{threshold * 100:.0f}"


@dataclasses.dataclass(frozen=True)
class Effect:
    """BN minus no BN (or any contrast of arms) for one quantity.

    Attributes:
        quantity: FINAL, BEST or iterations_quantity(...), as written in tables.
        key: the quantity in CSV column names, e.g. "final_accuracy", "iterations_to_97".
        interval: the 95% Welch interval; None with fewer than 2 seeds in a group.
        n: seeds per group (without BN, with BN; per framework in that order when pooled).
        tost_p: TOST p-value at `margin` (accuracies only).
        perm_p: permutation p-value of the same contrast (iterations only).
        reached: seeds that reached the threshold, per arm (without BN, with BN), iterations only.
        medians: median iterations per arm, None where half or more never reached it.
        tau: the restriction of the RMST (train_steps), iterations only.
        margin: the equivalence margin (accuracies), None for iterations.
    """

    quantity: str
    key: str
    interval: Interval | None
    n: tuple[int, ...]
    tost_p: float | None = None
    perm_p: float | None = None
    reached: tuple[int, int] | None = None
    medians: tuple[float | None, float | None] | None = None
    tau: int | None = None
    margin: float | None = None

    @property
    def is_iterations(self) -> bool:
        return self.tau is not None

    @property
    def estimable(self) -> bool:
        """False for iterations when no seed of either arm reached the threshold."""
        return not self.is_iterations or any(self.reached)

    @property
    def arm_n(self) -> tuple[int, int]:
        """Seeds without and with BN, over every framework."""
        return sum(self.n[0::2]), sum(self.n[1::2])

    @property
    def p(self) -> float | None:
        """Two-sided Welch p of a zero contrast."""
        return None if self.interval is None or not self.estimable else self.interval.p

    def ci_text(self) -> str:
        """The interval, e.g. "[+0.0012, +0.0031]", or a reason for none."""
        if not self.estimable:
            return "no seed reached it"
        if self.interval is None:
            return "needs 2+ seeds per arm"
        fmt = "{:+.0f}" if self.is_iterations else "{:+.4f}"
        return f"[{fmt.format(self.interval.low)}, {fmt.format(self.interval.high)}]"

    def effect_text(self) -> str:
        if self.interval is None or not self.estimable:
            return "-"
        return (
            f"{self.interval.effect:+.0f}" if self.is_iterations else f"{self.interval.effect:+.4f}"
        )

    def reached_text(self) -> str:
        """Seeds that reached the threshold per arm, e.g. "8/10 / 10/10" (no BN / BN)."""
        if self.reached is None:
            return ""
        (a, b), (n0, n1) = self.reached, self.arm_n
        return f"{a}/{n0} / {b}/{n1}"

    def medians_text(self) -> str:
        if self.medians is None:
            return ""
        return " / ".join(median_text(m, self.tau) for m in self.medians)


def median_text(median: float | None, tau: int | None) -> str:
    """A median of iterations, "> tau" when half or more seeds never reached the threshold."""
    return f"> {tau:,}" if median is None else f"{median:.0f}"


def accuracy_effect(quantity: str, base: Sequence[float], bn: Sequence[float]) -> Effect:
    """BN minus no BN in an accuracy, with the Welch interval and the TOST p-value."""
    key = quantity.replace(" ", "_")
    return contrast_effect(quantity, key, [(base, bn)], margin=ACCURACY_MARGIN)


def contrast_effect(
    quantity: str,
    key: str,
    arms: Sequence[tuple[Sequence[float], Sequence[float]]],
    *,
    margin: float | None = None,
    weights: Sequence[float] | None = None,
    tau: int | None = None,
    reached: tuple[int, int] | None = None,
) -> Effect:
    """An effect from one or more (without BN, with BN) arms: the BN effect averaged over them
    by default (weights -1/k, +1/k), or any other contrast of their means.

    Args:
        quantity: the quantity's name in tables.
        key: its name in CSV columns.
        arms: per framework, the values without BN and with BN.
        margin: the equivalence margin (accuracies); gives the TOST p.
        weights: one per group, in the order of `arms` flattened; default the average effect.
        tau: the RMST restriction (iterations); gives the permutation p, medians and reached.
        reached: seeds that reached the threshold per arm (iterations).

    Returns:
        The effect; its interval None when a group has fewer than two values.
    """
    groups = [list(g) for arm in arms for g in arm]
    k = len(arms)
    weights = tuple(weights) if weights is not None else (-1 / k, 1 / k) * k
    interval = statistics.contrast_interval(groups, weights)
    tost_p = None if margin is None or interval is None else interval.tost_p(margin)
    perm_p = medians = None
    if tau is not None and (reached is None or any(reached)):
        if k == 1 and weights == statistics.DIFFERENCE:
            perm_p = statistics.permutation_p(*arms[0])
        elif all(abs(w) == 1 / k for w in weights) and weights[0::2] == (-1 / k,) * k:
            perm_p = statistics.stratified_permutation_p(arms)
    if tau is not None and reached is not None:
        medians = tuple(median_or_none([v for a in arms for v in a[i]], reached[i]) for i in (0, 1))
    return Effect(
        quantity,
        key,
        interval,
        tuple(len(g) for g in groups),
        tost_p=tost_p,
        perm_p=perm_p,
        reached=reached,
        medians=medians,
        tau=tau,
        margin=margin,
    )


def median_or_none(values: list[float], reached: int) -> float | None:
    """The median of restricted iterations, None when half or more of the seeds never reached
    the threshold (their values sit at tau, the top): the median is then only known to lie
    beyond tau."""
    if not values or (len(values) - reached) * 2 >= len(values):
        return None
    return py_statistics.median(values)


def restricted_iterations(runs: Sequence[RunLike], threshold: float) -> tuple[list[float], int]:
    """Iterations to `threshold` per run, a run that never reached it counted at its
    train_steps (tau).

    Returns:
        The values and how many runs reached the threshold.
    """
    values, reached = [], 0
    for run in runs:
        step = run.first_step_reaching(threshold)
        if step is None:
            step = run.record["config"]["train_steps"]
        else:
            reached += 1
        values.append(float(step))
    return values, reached


def tau_of(runs: Sequence[RunLike]) -> int:
    """The RMST's restriction: the largest train_steps among `runs`."""
    return max(int(r.record["config"]["train_steps"]) for r in runs)


def iterations_effect(
    threshold: float,
    arms: Sequence[tuple[Sequence[RunLike], Sequence[RunLike]]],
    weights: Sequence[float] | None = None,
) -> Effect:
    """BN minus no BN in the RMST to `threshold`, averaged over the (without, with BN) arms (or
    another contrast of them, `weights`)."""
    values, reached = [], [0, 0]
    for arm in arms:
        pair = []
        for i, runs in enumerate(arm):
            v, r = restricted_iterations(runs, threshold)
            pair.append(v)
            reached[i] += r
        values.append(tuple(pair))
    tau = tau_of([r for arm in arms for runs in arm for r in runs])
    return contrast_effect(
        iterations_quantity(threshold, tau),
        iterations_key(threshold),
        values,
        weights=weights,
        tau=tau,
        reached=(reached[0], reached[1]),
    )


def pair_effects(base_runs: Sequence[RunLike], bn_runs: Sequence[RunLike]) -> list[Effect]:
    """Every quantity of the summary for one pair in one framework: final, best, the RMST to
    each threshold."""
    return arms_effects([(base_runs, bn_runs)])


def arms_effects(
    arms: Sequence[tuple[Sequence[RunLike], Sequence[RunLike]]],
    weights: Sequence[float] | None = None,
) -> list[Effect]:
    """Every quantity for the BN effect averaged over one or more frameworks' arms, or for
    another contrast of their groups (`weights`, one per group: arm by arm, without BN first)."""
    effects = [
        contrast_effect(
            q,
            q.replace(" ", "_"),
            [([getattr(r, attr) for r in a], [getattr(r, attr) for r in b]) for a, b in arms],
            margin=ACCURACY_MARGIN,
            weights=weights,
        )
        for q, attr in ((FINAL, "final_accuracy"), (BEST, "best_accuracy"))
    ]
    thresholds = thresholds_of([r for arm in arms for runs in arm for r in runs])
    return effects + [iterations_effect(t, arms, weights) for t in thresholds]


def thresholds_of(runs: Iterable[RunLike]) -> tuple[float, ...]:
    """The test accuracies whose iterations-to are reported for the runs' dataset: its
    declared thresholds, none while they are not yet fixed."""
    return one_dataset(runs).thresholds or ()
