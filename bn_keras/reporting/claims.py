"""The paper's claims about each BN pair, decided from intervals: REPRODUCED, NOT, or UNDECIDED.

Iterations to a threshold: a seed that never reached it is censored at its train_steps (it
would have needed at least that many). Substituting train_steps understates that arm's mean, so
with seeds censored only without BN the interval's upper limit is a bound ("BN at least N
iterations sooner"), with seeds censored only with BN its lower limit is ("BN at least N
iterations later"), and with seeds censored in both arms the effect is not estimable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from bn_keras.reporting import statistics
from bn_keras.reporting.statistics import ACCURACY_MARGIN, ALPHA, Interval

THRESHOLDS = (0.97, 0.98, 0.99)
SPEEDS_UP = "BN speeds convergence"
RAISES = "BN raises final accuracy"
NO_DIFFERENCE = "BN makes no difference"
AGREES = "the frameworks agree"  # an equivalence claim about the same experiment in two frameworks
CLAIMS = {"mlp": (SPEEDS_UP, RAISES), "lenet": (SPEEDS_UP, RAISES), "lenetr": (NO_DIFFERENCE,)}
REPRODUCED, NOT_REPRODUCED, UNDECIDED = "REPRODUCED", "NOT REPRODUCED", "UNDECIDED"
AGREEMENT_WORDS = {REPRODUCED: "EQUIVALENT", NOT_REPRODUCED: "DIFFERENT", UNDECIDED: "UNDECIDED"}
FINAL, BEST = "final accuracy", "best accuracy"
WELCH = "Welch t, 95% CI"
TOST = f"TOST (two one-sided Welch t, alpha {ALPHA}), margin ±{ACCURACY_MARGIN}"
# Which side of an iterations interval is a bound when one arm has censored seeds.
UPPER_IS_BOUND, LOWER_IS_BOUND = "upper", "lower"


class RunLike(Protocol):
    """What the claims need of a finished run (summary.Run provides it)."""

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


def iterations_quantity(threshold: float) -> str:
    return f"iterations to {threshold:.0%}"


@dataclasses.dataclass(frozen=True)
class Effect:
    """BN minus no BN for one quantity of one pair.

    Attributes:
        quantity: FINAL, BEST or iterations_quantity(threshold).
        interval: the 95% Welch interval; None with fewer than 2 seeds per arm or not estimable.
        n: seeds per arm (without BN, with BN).
        tost_p: TOST p-value at ACCURACY_MARGIN (accuracies only).
        never: seeds that never reached the threshold per arm (iterations only).
        bound: UPPER_IS_BOUND or LOWER_IS_BOUND when one arm is censored, else None.
        estimable: False when both arms hold censored seeds or no seed reached the threshold.
    """

    quantity: str
    interval: Interval | None
    n: tuple[int, int]
    tost_p: float | None = None
    never: tuple[int, int] | None = None
    bound: str | None = None
    estimable: bool = True

    @property
    def is_iterations(self) -> bool:
        return self.never is not None

    def ci_text(self) -> str:
        """The interval, e.g. "[+0.0012, +0.0031]", "≤ -1200" (a bound), or a reason for none."""
        if not self.estimable:
            return "not estimable"
        if self.interval is None:
            return "needs 2+ seeds per arm"
        fmt = "{:+.0f}" if self.is_iterations else "{:+.4f}"
        low, high = fmt.format(self.interval.low), fmt.format(self.interval.high)
        if self.bound == UPPER_IS_BOUND:
            return f"≤ {high} (bound: no BN censored)"
        if self.bound == LOWER_IS_BOUND:
            return f"≥ {low} (bound: BN censored)"
        return f"[{low}, {high}]"

    def effect_text(self) -> str:
        if self.interval is None:
            return "-"
        return (
            f"{self.interval.effect:+.0f}" if self.is_iterations else f"{self.interval.effect:+.4f}"
        )

    def never_text(self) -> str:
        """Seeds that never reached the threshold, e.g. "2 of 3 / 0 of 3" (no BN / BN)."""
        if self.never is None:
            return ""
        return f"{self.never[0]} of {self.n[0]} / {self.never[1]} of {self.n[1]}"


def accuracy_effect(quantity: str, base: Sequence[float], bn: Sequence[float]) -> Effect:
    """BN minus no BN in an accuracy, with the Welch interval and the TOST p-value."""
    return Effect(
        quantity,
        statistics.welch_interval(base, bn),
        (len(base), len(bn)),
        tost_p=statistics.tost_pvalue(base, bn, ACCURACY_MARGIN),
    )


def censored_iterations(runs: Sequence[RunLike], threshold: float) -> tuple[list[float], int]:
    """Iterations to `threshold` per run, a run that never reached it counted at its train_steps.

    Returns:
        The values and how many of them are censored.
    """
    values, never = [], 0
    for run in runs:
        step = run.first_step_reaching(threshold)
        if step is None:
            never += 1
            step = run.record["config"]["train_steps"]
        values.append(float(step))
    return values, never


def iterations_effect(
    threshold: float, base_runs: Sequence[RunLike], bn_runs: Sequence[RunLike]
) -> Effect:
    """BN minus no BN in iterations to `threshold`, seeds that never reached it censored."""
    base, never_base = censored_iterations(base_runs, threshold)
    bn, never_bn = censored_iterations(bn_runs, threshold)
    n, never = (len(base), len(bn)), (never_base, never_bn)
    if never_base and never_bn:
        return Effect(iterations_quantity(threshold), None, n, never=never, estimable=False)
    bound = UPPER_IS_BOUND if never_base else LOWER_IS_BOUND if never_bn else None
    interval = statistics.welch_interval(base, bn)
    return Effect(iterations_quantity(threshold), interval, n, never=never, bound=bound)


def pair_effects(base_runs: Sequence[RunLike], bn_runs: Sequence[RunLike]) -> list[Effect]:
    """Every quantity of the summary for one pair: final, best, iterations to each threshold."""
    effects = [
        accuracy_effect(
            FINAL, [r.final_accuracy for r in base_runs], [r.final_accuracy for r in bn_runs]
        ),
        accuracy_effect(
            BEST, [r.best_accuracy for r in base_runs], [r.best_accuracy for r in bn_runs]
        ),
    ]
    return effects + [iterations_effect(t, base_runs, bn_runs) for t in THRESHOLDS]


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A claim about one pair and what the intervals say.

    Attributes:
        pair: the experiment without BN, e.g. "lenetr".
        claim: SPEEDS_UP, RAISES or NO_DIFFERENCE.
        outcome: REPRODUCED, NOT_REPRODUCED or UNDECIDED.
        effect: the deciding effect (for SPEEDS_UP the deciding threshold).
        method: how it was decided.
        note: the finding in words.
        seeds_needed: for UNDECIDED, seeds per arm that would probably decide it; None when
            no reasonable number would (or when decided).
    """

    pair: str
    claim: str
    outcome: str
    effect: Effect
    method: str
    note: str
    seeds_needed: int | None = None

    @property
    def decided(self) -> bool:
        return self.outcome != UNDECIDED

    @property
    def line(self) -> str:
        e = self.effect
        return (
            f"{self.pair}: {self.claim}: {self.outcome} ({e.quantity} BN - no BN "
            f"{e.effect_text()}, 95% CI {e.ci_text()}, {e.n[0]}/{e.n[1]} seeds; {self.note})"
        )


def _needed_text(seeds: int | None) -> str:
    return (
        f"about {seeds} seeds per arm would probably decide it"
        if seeds
        else ("not decidable at any reasonable number of seeds")
    )


def _min_seeds(*candidates: int | None) -> int | None:
    return min((c for c in candidates if c is not None), default=None)


def raises_verdict(pair: str, effect: Effect) -> Verdict:
    """Decides "BN raises final accuracy": the 95% interval above zero reproduces it; below
    zero, or TOST-equivalent within the margin, refutes it.

    Args:
        pair: the experiment without BN.
        effect: BN minus no BN in final accuracy (accuracy_effect).

    Returns:
        The verdict; UNDECIDED ones carry the seeds per arm that would probably decide them.
    """
    ci, p = effect.interval, effect.tost_p
    if ci is None:
        return Verdict(pair, RAISES, UNDECIDED, effect, WELCH, "needs 2+ seeds per arm")
    method = f"{WELCH}; {TOST}"
    if ci.low > 0:
        return Verdict(pair, RAISES, REPRODUCED, effect, method, f"BN higher by {ci.effect:+.4f}")
    if ci.high < 0:
        return Verdict(pair, RAISES, NOT_REPRODUCED, effect, method, "BN lower")
    if p < ALPHA:
        note = f"equivalent within ±{ACCURACY_MARGIN} (TOST {p_is(p)})"
        return Verdict(pair, RAISES, NOT_REPRODUCED, effect, method, note)
    d = abs(ci.effect)
    n_now = min(ci.n)
    seeds = _min_seeds(
        statistics.seeds_to_decide(ci.sds, d, n_now),
        statistics.seeds_to_decide(ci.sds, ACCURACY_MARGIN - d, n_now, confidence=1 - 2 * ALPHA),
    )
    note = f"CI spans zero, TOST {p_is(p)}; {_needed_text(seeds)}"
    return Verdict(pair, RAISES, UNDECIDED, effect, method, note, seeds)


def no_difference_verdict(pair: str, effect: Effect, claim: str = NO_DIFFERENCE) -> Verdict:
    """Decides an equivalence claim: TOST within the margin reproduces it; a 95% interval wholly
    beyond the margin refutes it; anything else is undecided.

    Args:
        pair: the experiment without BN (or, for AGREES, the experiment in two frameworks).
        effect: the difference in final accuracy (accuracy_effect).
        claim: NO_DIFFERENCE, or AGREES for the frameworks' agreement.

    Returns:
        The verdict; a real effect inside the margin is REPRODUCED and says so in its note.
    """
    ci, p, m = effect.interval, effect.tost_p, ACCURACY_MARGIN
    if ci is None:
        return Verdict(pair, claim, UNDECIDED, effect, TOST, "needs 2+ seeds per arm")
    if p < ALPHA:
        if ci.low > 0 or ci.high < 0:
            note = (
                f"a real but tiny effect: {ci.effect:+.4f}, within the margin ±{m} (TOST {p_is(p)})"
            )
        else:
            note = f"equivalent within ±{m} (TOST {p_is(p)})"
        return Verdict(pair, claim, REPRODUCED, effect, TOST, note)
    if ci.low > m or ci.high < -m:
        note = f"the 95% CI lies beyond the margin ±{m} (TOST {p_is(p)})"
        return Verdict(pair, claim, NOT_REPRODUCED, effect, TOST, note)
    d, n_now = abs(ci.effect), min(ci.n)
    seeds = _min_seeds(
        statistics.seeds_to_decide(ci.sds, m - d, n_now, confidence=1 - 2 * ALPHA),
        statistics.seeds_to_decide(ci.sds, d - m, n_now),
    )
    real = (
        "a real effect, whether beyond the margin is open"
        if ci.low > 0 or ci.high < 0
        else ("CI spans zero")
    )
    note = f"{real}, TOST {p_is(p)}; {_needed_text(seeds)}"
    return Verdict(pair, claim, UNDECIDED, effect, TOST, note, seeds)


def _threshold_outcome(effect: Effect) -> tuple[str, int | None]:
    """One threshold's answer to "BN reaches it sooner", honouring censoring bounds."""
    ci = effect.interval
    if ci is None:
        return UNDECIDED, None
    sooner_is_open = effect.bound != LOWER_IS_BOUND  # BN censored: "sooner" cannot be shown
    later_is_open = effect.bound != UPPER_IS_BOUND
    if ci.high < 0 and sooner_is_open:
        return REPRODUCED, None
    if ci.low > 0 and later_is_open:
        return NOT_REPRODUCED, None
    if not (sooner_is_open if ci.effect < 0 else later_is_open):
        return UNDECIDED, None  # the estimate points where censoring forbids a conclusion
    return UNDECIDED, statistics.seeds_to_decide(ci.sds, abs(ci.effect), min(ci.n))


def speeds_up_verdict(pair: str, effects: Sequence[Effect]) -> Verdict:
    """Decides "BN speeds convergence": every estimable threshold reached sooner with BN (95%
    interval below zero) reproduces it; any threshold reached later with BN refutes it.

    Thresholds that no seed reached, or where both arms hold seeds that never did, are not
    estimable and left out; BN never reaching a threshold the others reach counts against it
    through the lower bound.

    Args:
        pair: the experiment without BN.
        effects: the pair's effects (pair_effects); only the iteration ones are read.

    Returns:
        The verdict, its effect the deciding threshold (the last estimable one if reproduced).
    """
    usable = [e for e in effects if e.is_iterations and e.estimable and e.interval is not None]
    if not usable:
        first = next(e for e in effects if e.is_iterations)
        few = any(e.estimable and e.interval is None for e in effects if e.is_iterations)
        note = (
            "needs 2+ seeds per arm"
            if few
            else "no threshold is estimable (never reached, or censored in both arms)"
        )
        return Verdict(pair, SPEEDS_UP, UNDECIDED, first, WELCH, note)
    outcomes = [(e, *_threshold_outcome(e)) for e in usable]
    later = [e for e, outcome, _ in outcomes if outcome == NOT_REPRODUCED]
    if later:
        note = f"BN later to {later[0].quantity.removeprefix('iterations to ')}"
        return Verdict(pair, SPEEDS_UP, NOT_REPRODUCED, later[0], WELCH, note)
    open_ = [(e, seeds) for e, outcome, seeds in outcomes if outcome == UNDECIDED]
    if not open_:
        e = usable[-1]
        note = f"BN sooner to every estimable threshold ({len(usable)} of {len(THRESHOLDS)})"
        if e.bound == UPPER_IS_BOUND:
            note += f"; at least {-e.interval.high:.0f} iterations sooner to the last"
        return Verdict(pair, SPEEDS_UP, REPRODUCED, e, WELCH, note)
    seeds = [s for _, s in open_]
    needed = None if None in seeds else max(seeds)
    note = f"CI spans zero at {len(open_)} threshold(s); {_needed_text(needed)}"
    return Verdict(pair, SPEEDS_UP, UNDECIDED, open_[0][0], WELCH, note, needed)


def verdicts_for(pair: str, effects: Sequence[Effect]) -> list[Verdict]:
    """The paper's claims about `pair` (none for pairs outside the paper)."""
    final = next(e for e in effects if e.quantity == FINAL)
    deciders = {
        SPEEDS_UP: lambda: speeds_up_verdict(pair, effects),
        RAISES: lambda: raises_verdict(pair, final),
        NO_DIFFERENCE: lambda: no_difference_verdict(pair, final),
    }
    return [deciders[claim]() for claim in CLAIMS.get(pair, ())]
