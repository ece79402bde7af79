"""The censoring rule and the three-way verdicts on constructed seeds."""

from __future__ import annotations

import dataclasses

import pytest

from bn_keras.reporting import claims
from bn_keras.reporting.claims import NOT_REPRODUCED, REPRODUCED, UNDECIDED

TRAIN_STEPS = 10_000


@dataclasses.dataclass
class FakeRun:
    """What claims needs of a run: accuracies and the first step reaching each threshold."""

    reach: dict[float, int | None]
    final_accuracy: float = 0.99
    best_accuracy: float = 0.99
    record: dict = dataclasses.field(
        default_factory=lambda: {"config": {"train_steps": TRAIN_STEPS}}
    )

    def first_step_reaching(self, threshold: float) -> int | None:
        return self.reach.get(threshold)


def _runs(steps_to_97: list[int | None]) -> list[FakeRun]:
    return [FakeRun({0.97: s}) for s in steps_to_97]


def test_a_seed_that_never_reached_counts_at_train_steps():
    values, never = claims.censored_iterations(_runs([500, None, 700]), 0.97)
    assert values == [500.0, 10_000.0, 700.0] and never == 1


def test_censored_without_bn_makes_the_upper_limit_a_bound():
    effect = claims.iterations_effect(0.97, _runs([9000, None, 9500]), _runs([800, 900, 1000]))
    assert effect.never == (1, 0) and effect.bound == claims.UPPER_IS_BOUND
    assert effect.interval.effect == pytest.approx(900 - (9000 + 10_000 + 9500) / 3)
    assert effect.ci_text().startswith("≤ -") and "no BN censored" in effect.ci_text()
    assert effect.never_text() == "1 of 3 / 0 of 3"


def test_censored_in_both_arms_is_not_estimable():
    effect = claims.iterations_effect(0.97, _runs([None, 900, 1000]), _runs([None, 400, 500]))
    assert not effect.estimable and effect.interval is None
    assert effect.ci_text() == "not estimable"


def test_speed_up_reproduced_with_a_bound_but_not_when_bn_is_censored():
    faster = claims.iterations_effect(0.97, _runs([9000, None, 9500]), _runs([800, 900, 1000]))
    verdict = claims.speeds_up_verdict("lenet", [faster])
    assert verdict.outcome == REPRODUCED and "iterations sooner to the last" in verdict.note
    # BN "faster" only because its censored seed was counted at train_steps: no conclusion.
    biased = claims.iterations_effect(0.97, _runs([9000, 9500, 9800]), _runs([100, None, 200]))
    verdict = claims.speeds_up_verdict("lenet", [biased])
    assert verdict.outcome == UNDECIDED and verdict.seeds_needed is None


def test_speed_up_not_reproduced_when_bn_is_later_at_any_threshold():
    sooner = claims.iterations_effect(0.97, _runs([900, 1000, 1100]), _runs([400, 500, 600]))
    later = claims.iterations_effect(
        0.98,
        [FakeRun({0.98: s}) for s in (900, 1000, 1100)],
        [FakeRun({0.98: s}) for s in (9000, None, 9500)],
    )
    verdict = claims.speeds_up_verdict("mlp", [sooner, later])
    assert verdict.outcome == NOT_REPRODUCED and verdict.effect is later


def test_speed_up_undecided_names_the_seeds_that_would_decide():
    close = claims.iterations_effect(0.97, _runs([900, 1300, 1100]), _runs([700, 1100, 900]))
    verdict = claims.speeds_up_verdict("mlp", [close])
    assert verdict.outcome == UNDECIDED
    # effect -200, sds 200 and 200: half-width(n) = t(0.975, 2(n-1)) * sqrt(80000 / n);
    # n=8: 2.145 * 100.0 = 214.5 > 200;  n=9: 2.120 * 94.28 = 199.9 < 200.
    assert verdict.seeds_needed == 9
    assert "about 9 seeds per arm" in verdict.note


def _final(base: list[float], bn: list[float]) -> claims.Effect:
    return claims.accuracy_effect(claims.FINAL, base, bn)


@pytest.mark.parametrize(
    ("base", "bn", "outcome", "note"),
    [
        ([0.970, 0.971, 0.969], [0.977, 0.978, 0.976], REPRODUCED, "BN higher"),
        ([0.977, 0.978, 0.976], [0.970, 0.971, 0.969], NOT_REPRODUCED, "BN lower"),
        (
            [0.9920, 0.9922, 0.9918, 0.9921, 0.9919],
            [0.9921, 0.9919, 0.9922, 0.9920, 0.9918],
            NOT_REPRODUCED,
            "equivalent within",
        ),
        ([0.990, 0.993, 0.988], [0.992, 0.989, 0.994], UNDECIDED, "CI spans zero"),
    ],
)
def test_raises_verdict(base, bn, outcome, note):
    verdict = claims.raises_verdict("mlp", _final(base, bn))
    assert verdict.outcome == outcome and note in verdict.note
    assert (verdict.seeds_needed is not None) == (outcome == UNDECIDED)


@pytest.mark.parametrize(
    ("base", "bn", "outcome", "note"),
    [
        (
            [0.9920, 0.9922, 0.9918, 0.9921, 0.9919],
            [0.9921, 0.9919, 0.9922, 0.9920, 0.9918],
            REPRODUCED,
            "equivalent within ±0.002",
        ),
        (
            [0.9920, 0.9921, 0.9919, 0.9920],
            [0.9930, 0.9931, 0.9929, 0.9930],
            REPRODUCED,
            "a real but tiny effect: +0.0010, within the margin",
        ),
        ([0.9900, 0.9902, 0.9898], [0.9950, 0.9952, 0.9948], NOT_REPRODUCED, "beyond the margin"),
        ([0.990, 0.993, 0.988], [0.992, 0.989, 0.994], UNDECIDED, "seeds per arm"),
    ],
)
def test_no_difference_verdict(base, bn, outcome, note):
    verdict = claims.no_difference_verdict("lenetr", _final(base, bn))
    assert verdict.outcome == outcome and note in verdict.note
    assert verdict.line.startswith(f"lenetr: BN makes no difference: {outcome} (final accuracy")


def test_an_exactly_zero_effect_cannot_be_shown_to_be_a_raise():
    # Raise route: |effect| = 0 never decides; TOST route gives a finite number of seeds.
    effect = _final([0.990, 0.994, 0.986], [0.986, 0.994, 0.990])
    verdict = claims.raises_verdict("mlp", effect)
    assert verdict.outcome == UNDECIDED
    assert verdict.seeds_needed == claims.statistics.seeds_to_decide(
        effect.interval.sds, claims.ACCURACY_MARGIN, 3, confidence=0.90
    )


def test_verdicts_follow_the_papers_claims():
    effects = claims.pair_effects(_runs([900, 1000, 1100]), _runs([400, 500, 600]))
    assert [e.quantity for e in effects] == [
        "final accuracy",
        "best accuracy",
        "iterations to 97%",
        "iterations to 98%",
        "iterations to 99%",
    ]
    assert [v.claim for v in claims.verdicts_for("mlp", effects)] == [
        claims.SPEEDS_UP,
        claims.RAISES,
    ]
    assert [v.claim for v in claims.verdicts_for("lenetr", effects)] == [claims.NO_DIFFERENCE]
    assert claims.verdicts_for("ioffe_mlp", effects) == []


def test_p_values_below_a_thousandth_are_not_written_as_zero():
    assert claims.p_is(0.0342) == "p=0.034" and claims.p_is(0.00002) == "p<0.001"
    assert claims.p_text(0.00002) == "<0.001"
