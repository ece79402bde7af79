"""The paper's claims about each BN pair, decided from intervals: REPRODUCED, NOT, or UNDECIDED.

Each claim has one primary quantity and one primary test (reporting/paper/design.py says which):
"BN speeds convergence" the restricted mean of the iterations to one threshold per network,
"BN raises final accuracy" the final accuracy, both by Welch's t test of zero; "BN makes no
difference" the final accuracy by TOST at the margin. The verdict functions take the p-value
that decides (Holm-adjusted across the claims where the summary gives one) and word every
finding by one rule (`finding`). The effects themselves come from reporting/effects.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from bn_keras.config import networks
from bn_keras.config.datasets import Dataset
from bn_keras.config.networks import NO_DIFFERENCE, RAISES, SPEEDS_UP
from bn_keras.reporting import statistics
from bn_keras.reporting.effects import FINAL, Effect, iterations_key, p_is
from bn_keras.reporting.statistics import ACCURACY_MARGIN, ALPHA

AGREES = "the frameworks agree"  # an equivalence claim about the same experiment in two frameworks
CLAIMS = {n.name: n.claims for n in networks.paper()}  # each paper network's, as declared
REPRODUCED, NOT_REPRODUCED, UNDECIDED = "REPRODUCED", "NOT REPRODUCED", "UNDECIDED"
AGREEMENT_WORDS = {REPRODUCED: "EQUIVALENT", NOT_REPRODUCED: "DIFFERENT", UNDECIDED: "UNDECIDED"}
WELCH = "Welch t, 95% CI"
TOST = f"TOST (two one-sided Welch t, alpha {ALPHA}), margin ±{ACCURACY_MARGIN}"
PERMUTATION = "permutation p beside it"


def primary_threshold(pair: str, dataset: Dataset) -> float | None:
    """The threshold whose RMST decides "BN speeds convergence" for `pair` on `dataset`, in
    both frameworks (the dataset's first where the pair has none); None while the dataset's
    thresholds are not yet fixed."""
    if not dataset.primary_thresholds or not dataset.thresholds:
        return None
    return dataset.primary_thresholds.get(pair, dataset.thresholds[0])


def primary_effect(
    pair: str, claim: str, effects: Sequence[Effect], dataset: Dataset
) -> Effect | None:
    """The effect whose test decides `claim`: final accuracy, or the RMST to the pair's
    primary threshold on `dataset`; None for a speed claim while its threshold is not fixed."""
    key = FINAL.replace(" ", "_")
    if claim == SPEEDS_UP:
        threshold = primary_threshold(pair, dataset)
        if threshold is None:
            return None
        key = iterations_key(threshold)
    return next(e for e in effects if e.key == key)


def primary_p(claim: str, effect: Effect) -> float | None:
    """The p-value of the claim's primary test: TOST for an equivalence claim, otherwise
    Welch's test of zero."""
    return effect.tost_p if claim in (NO_DIFFERENCE, AGREES) else effect.p


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A claim about one pair and what the intervals say.

    Attributes:
        pair: the experiment without BN, e.g. "lenetr".
        claim: SPEEDS_UP, RAISES, NO_DIFFERENCE or AGREES.
        outcome: REPRODUCED, NOT_REPRODUCED or UNDECIDED.
        effect: the primary effect.
        method: how it was decided.
        note: the finding in words.
        seeds_needed: for UNDECIDED, seeds per arm at which the primary test would decide with
            80% power if the estimate and SDs were true; None when no reasonable number would
            (or when decided).
        p_adjusted: the Holm-adjusted primary p that decided, None when unadjusted.
        interaction: the difference of the frameworks' BN effects (pooled verdicts).
        alone: each framework's own, unadjusted verdict (pooled verdicts).
    """

    pair: str
    claim: str
    outcome: str
    effect: Effect
    method: str
    note: str
    seeds_needed: int | None = None
    p_adjusted: float | None = None
    interaction: Effect | None = None
    alone: tuple[tuple[str, Verdict], ...] = ()

    @property
    def decided(self) -> bool:
        return self.outcome != UNDECIDED

    @property
    def line(self) -> str:
        e = self.effect
        holm = "" if self.p_adjusted is None else f", Holm {p_is(self.p_adjusted)}"
        seeds = "/".join(str(n) for n in e.arm_n)
        return (
            f"{self.pair}: {self.claim}: {self.outcome} ({e.quantity} BN - no BN "
            f"{e.effect_text()}, 95% CI {e.ci_text()}{holm}, {seeds} seeds; {self.note})"
        )


def finding(
    effect: Effect,
    real: bool | None = None,
    equivalent: bool | None = None,
    directed: bool = True,
) -> str:
    """The one wording rule for every effect, from its interval and the margin.

    Args:
        effect: the effect (an accuracy has a margin, iterations have none).
        real: the effect counts as shown to differ from zero; default: its 95% CI excludes 0.
        equivalent: it counts as shown to lie inside the margin; default: TOST p < ALPHA.
        directed: the effect is BN minus no BN (False for a difference of two BN effects).

    Returns:
        "a real effect inside the margin ±0.002 (+0.0008)", "no difference beyond the margin",
        "a real effect (+0.0015); whether beyond the margin ±0.002 is open", "BN sooner by 2820
        iterations", "open: the 95% CI spans zero", ...
    """
    ci = effect.interval
    if not effect.estimable:
        return "no seed of either arm reached the threshold"
    if ci is None:
        return "needs 2+ seeds per arm"
    real = ci.excludes_zero() if real is None else real
    text = effect.effect_text()
    if effect.margin is None:
        if real and directed:
            word = "sooner" if ci.effect < 0 else "later"
            return f"BN {word} by {abs(ci.effect):.0f} iterations (RMST)"
        if real:
            return f"a real difference ({text} iterations, RMST)"
        return "open: the 95% CI spans zero"
    m = effect.margin
    equivalent = (effect.tost_p < ALPHA) if equivalent is None else equivalent
    if real and equivalent:
        return f"a real effect inside the margin ±{m} ({text})"
    if real and ci.beyond(m):
        return f"a real effect beyond the margin ±{m} ({text})"
    if real:
        return f"a real effect ({text}); whether beyond the margin ±{m} is open"
    if equivalent:
        return f"no difference beyond the margin ±{m} ({text})"
    return f"open: the 95% CI spans zero and reaches beyond the margin ±{m}"


def _needed_text(seeds: int | None) -> str:
    return (
        f"about {seeds} seeds per arm would decide it with 80% power if this estimate were true"
        if seeds
        else "not decidable at any reasonable number of seeds"
    )


def _min_seeds(*candidates: int | None) -> int | None:
    return min((c for c in candidates if c is not None), default=None)


def _to_zero(effect: Effect) -> int | None:
    ci = effect.interval
    return statistics.seeds_to_decide(
        ci.sds, abs(ci.effect), max(ci.n), weights=ci.weights, confidence=1 - ALPHA
    )


def _to_margin(effect: Effect, sign: int = 1) -> int | None:
    """Seeds to show equivalence (sign 1) or an effect beyond the margin (sign -1)."""
    ci = effect.interval
    distance = sign * (effect.margin - abs(ci.effect))
    confidence = 1 - 2 * ALPHA if sign == 1 else 1 - ALPHA
    return statistics.seeds_to_decide(
        ci.sds, distance, max(ci.n), weights=ci.weights, confidence=confidence
    )


def raises_verdict(pair: str, effect: Effect, p_adjusted: float | None = None) -> Verdict:
    """Decides "BN raises final accuracy".

    REPRODUCED when the deciding p (Holm-adjusted if given, else Welch's) is below ALPHA with
    BN higher; NOT REPRODUCED when BN is lower (95% CI below zero) or, with a CI that spans
    zero, TOST shows equivalence within the margin; otherwise UNDECIDED.

    Args:
        pair: the experiment without BN.
        effect: BN minus no BN in final accuracy.
        p_adjusted: the Holm-adjusted p of Welch's test, where the claim is one of a family.

    Returns:
        The verdict; UNDECIDED ones carry the seeds per arm that would decide them.
    """
    ci = effect.interval
    if ci is None:
        return Verdict(pair, RAISES, UNDECIDED, effect, WELCH, "needs 2+ seeds per arm")
    method = f"{WELCH}; {TOST}"
    deciding = effect.p if p_adjusted is None else p_adjusted
    real = deciding < ALPHA
    note = finding(effect, real=real)
    if real and ci.effect > 0:
        return Verdict(pair, RAISES, REPRODUCED, effect, method, note, None, p_adjusted)
    if ci.high < 0 or (not ci.excludes_zero() and effect.tost_p < ALPHA):
        note = ("BN lower: " if ci.high < 0 else "") + note
        return Verdict(pair, RAISES, NOT_REPRODUCED, effect, method, note, None, p_adjusted)
    seeds = _min_seeds(_to_zero(effect), _to_margin(effect))
    note = f"{note}; {_needed_text(seeds)}"
    return Verdict(pair, RAISES, UNDECIDED, effect, method, note, seeds, p_adjusted)


def no_difference_verdict(
    pair: str, effect: Effect, claim: str = NO_DIFFERENCE, p_adjusted: float | None = None
) -> Verdict:
    """Decides an equivalence claim: TOST within the margin (its Holm-adjusted p if given)
    reproduces it; a 95% interval wholly beyond the margin refutes it; else it is undecided.

    Args:
        pair: the experiment without BN (or, for AGREES, the experiment in two frameworks).
        effect: the difference in final accuracy.
        claim: NO_DIFFERENCE, or AGREES for the frameworks' agreement.
        p_adjusted: the Holm-adjusted TOST p, where the claim is one of a family.

    Returns:
        The verdict, its note worded by `finding`.
    """
    ci = effect.interval
    if ci is None:
        return Verdict(pair, claim, UNDECIDED, effect, TOST, "needs 2+ seeds per arm")
    deciding = effect.tost_p if p_adjusted is None else p_adjusted
    note = finding(effect, equivalent=deciding < ALPHA)
    if deciding < ALPHA:
        return Verdict(pair, claim, REPRODUCED, effect, TOST, note, None, p_adjusted)
    if ci.beyond(effect.margin):
        return Verdict(pair, claim, NOT_REPRODUCED, effect, TOST, note, None, p_adjusted)
    seeds = _min_seeds(_to_margin(effect), _to_margin(effect, sign=-1))
    note = f"{note}; {_needed_text(seeds)}"
    return Verdict(pair, claim, UNDECIDED, effect, TOST, note, seeds, p_adjusted)


def speeds_up_verdict(
    pair: str,
    effect: Effect,
    p_adjusted: float | None = None,
    perm_adjusted: float | None = None,
) -> Verdict:
    """Decides "BN speeds convergence" from the RMST to the pair's primary threshold.

    REPRODUCED when the deciding p (Holm-adjusted Welch if given) is below ALPHA with BN
    sooner; NOT REPRODUCED when the 95% CI lies above zero (BN later); otherwise UNDECIDED. A
    reproduction that the permutation test does not confirm says that only normal theory
    supports it.

    Args:
        pair: the experiment without BN.
        effect: BN minus no BN in the RMST to the primary threshold.
        p_adjusted: the Holm-adjusted Welch p, where the claim is one of a family.
        perm_adjusted: the permutation p adjusted in the same family (default: unadjusted).

    Returns:
        The verdict.
    """
    ci = effect.interval
    method = f"{WELCH}; {PERMUTATION}"
    if ci is None or not effect.estimable:
        return Verdict(pair, SPEEDS_UP, UNDECIDED, effect, method, finding(effect))
    deciding = effect.p if p_adjusted is None else p_adjusted
    permutation = effect.perm_p if perm_adjusted is None else perm_adjusted
    perm = "" if permutation is None else f"; permutation {p_is(permutation)}"
    real = deciding < ALPHA
    note = finding(effect, real=real) + perm
    if real and ci.effect < 0:
        if permutation is not None and permutation >= ALPHA:
            note += "; normal theory only: the permutation test does not confirm it"
        return Verdict(pair, SPEEDS_UP, REPRODUCED, effect, method, note, None, p_adjusted)
    if ci.low > 0:
        return Verdict(pair, SPEEDS_UP, NOT_REPRODUCED, effect, method, note, None, p_adjusted)
    seeds = _to_zero(effect)
    note = f"{note}; {_needed_text(seeds)}"
    return Verdict(pair, SPEEDS_UP, UNDECIDED, effect, method, note, seeds, p_adjusted)


def decide(
    pair: str,
    claim: str,
    effects: Sequence[Effect],
    dataset: Dataset,
    p_adjusted: float | None = None,
    perm_adjusted: float | None = None,
) -> Verdict:
    """The verdict on one claim from its primary effect among `effects` (one it has)."""
    effect = primary_effect(pair, claim, effects, dataset)
    if claim == SPEEDS_UP:
        return speeds_up_verdict(pair, effect, p_adjusted, perm_adjusted)
    if claim == RAISES:
        return raises_verdict(pair, effect, p_adjusted)
    return no_difference_verdict(pair, effect, claim, p_adjusted)


def verdicts_for(pair: str, effects: Sequence[Effect], dataset: Dataset) -> list[Verdict]:
    """The paper's claims about `pair` from one framework's effects, each unadjusted (none for
    pairs outside the paper, or for claims whose threshold `dataset` has not fixed yet)."""
    return [
        decide(pair, claim, effects, dataset)
        for claim in CLAIMS.get(pair, ())
        if primary_effect(pair, claim, effects, dataset) is not None
    ]
