"""The restricted mean, the wording rule and the three-way verdicts on constructed seeds."""

from __future__ import annotations

import dataclasses
import math

import pytest
from scipy import stats

from bn_keras.config import datasets
from bn_keras.reporting import effects
from bn_keras.reporting.paper import claims
from bn_keras.reporting.paper.claims import NOT_REPRODUCED, REPRODUCED, UNDECIDED

MNIST = datasets.get("mnist")

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


def _runs(steps: list[int | None], threshold: float = 0.97) -> list[FakeRun]:
    return [FakeRun({threshold: s}) for s in steps]


def _its(base, bn, threshold=0.97):
    return effects.iterations_effect(threshold, [(_runs(base, threshold), _runs(bn, threshold))])


def test_a_seed_that_never_reached_counts_at_train_steps():
    values, reached = effects.restricted_iterations(_runs([500, None, 700]), 0.97)
    assert values == [500.0, 10_000.0, 700.0] and reached == 2


def test_the_restricted_mean_its_median_and_the_seeds_that_reached():
    effect = _its([9000, None, 9500], [800, 900, 1000])
    assert effect.quantity == "iterations to 97%, restricted mean at 10,000 (RMST)"
    # RMST without BN (9000 + 10000 + 9500) / 3 = 9500; with BN 900.
    assert effect.interval.effect == pytest.approx(900 - 9500)
    assert effect.reached == (2, 3) and effect.reached_text() == "2/3 / 3/3"
    assert effect.medians == (9500, 900) and effect.medians_text() == "9500 / 900"
    # Two of three never reached: the median is only known to lie beyond tau.
    mostly_never = _its([None, None, 700], [800, 900, 1000])
    assert mostly_never.medians[0] is None and mostly_never.medians_text().startswith("> 10,000")


def test_no_seed_reaching_the_threshold_is_not_estimable():
    effect = _its([None, None, None], [None, None, None])
    assert not effect.estimable and effect.p is None and effect.perm_p is None
    assert effect.ci_text() == "no seed reached it" and effect.effect_text() == "-"
    verdict = claims.speeds_up_verdict("mlp", effect)
    assert verdict.outcome == UNDECIDED and "no seed of either arm" in verdict.note


def test_a_speed_up_that_only_normal_theory_supports_says_so():
    # 3 against 3, separated completely: Welch p < 0.001, the exact permutation p only 0.1.
    effect = _its([9000, 9500, 10_000], [800, 900, 1000])
    assert effect.perm_p == pytest.approx(0.1) and effect.p < 0.001
    verdict = claims.speeds_up_verdict("lenet", effect)
    assert verdict.outcome == REPRODUCED
    assert "normal theory only" in verdict.note and "permutation p=0.100" in verdict.note
    # 4 against 4: the permutation test reaches 2/70 = 0.029 and confirms it.
    four = _its([9000, 9500, 9700, 10_000], [800, 900, 1000, 1100])
    assert "normal theory" not in claims.speeds_up_verdict("lenet", four).note


def test_speed_up_not_reproduced_when_bn_is_later():
    verdict = claims.speeds_up_verdict("mlp", _its([900, 1000, 1100], [9000, None, 9500]))
    assert verdict.outcome == NOT_REPRODUCED and "BN later" in verdict.note


def test_speed_up_undecided_names_the_seeds_that_would_decide_at_80_percent_power():
    verdict = claims.speeds_up_verdict("mlp", _its([900, 1300, 1100], [700, 1100, 900]))
    assert verdict.outcome == UNDECIDED

    # effect -200, sds 200 and 200: the smallest n with
    # 200 >= (t(0.975, df) + t(0.80, df)) x sqrt(80000 / n), df = 2(n - 1).
    def needed(n):
        df = 2 * (n - 1)
        return (stats.t.ppf(0.975, df) + stats.t.ppf(0.8, df)) * math.sqrt(80_000 / n)

    n = next(n for n in range(4, 100) if needed(n) <= 200)
    assert n == 17 and verdict.seeds_needed == n
    assert "about 17 seeds per arm would decide it with 80% power" in verdict.note


def test_a_holm_adjusted_p_can_leave_a_claim_undecided():
    effect = _its([1000, 1100, 1200, 1300], [700, 800, 900, 1000])  # -300: Welch p 0.017
    assert claims.speeds_up_verdict("mlp", effect).outcome == REPRODUCED
    assert effect.p < 0.05
    adjusted = claims.speeds_up_verdict("mlp", effect, p_adjusted=0.2)
    assert adjusted.outcome == UNDECIDED and adjusted.p_adjusted == 0.2
    assert "Holm p=0.200" in adjusted.line


def _final(base: list[float], bn: list[float]) -> effects.Effect:
    return effects.accuracy_effect(effects.FINAL, base, bn)


@pytest.mark.parametrize(
    ("base", "bn", "outcome", "note"),
    [
        ([0.970, 0.971, 0.969], [0.977, 0.978, 0.976], REPRODUCED, "beyond the margin"),
        ([0.977, 0.978, 0.976], [0.970, 0.971, 0.969], NOT_REPRODUCED, "BN lower"),
        (
            [0.9920, 0.9922, 0.9918, 0.9921, 0.9919],
            [0.9921, 0.9919, 0.9922, 0.9920, 0.9918],
            NOT_REPRODUCED,
            "no difference beyond the margin",
        ),
        ([0.990, 0.993, 0.988], [0.992, 0.989, 0.994], UNDECIDED, "open"),
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
            "no difference beyond the margin ±0.002",
        ),
        (
            [0.9920, 0.9921, 0.9919, 0.9920],
            [0.9930, 0.9931, 0.9929, 0.9930],
            REPRODUCED,
            "a real effect inside the margin ±0.002 (+0.0010)",
        ),
        ([0.9900, 0.9902, 0.9898], [0.9950, 0.9952, 0.9948], NOT_REPRODUCED, "beyond the margin"),
        ([0.990, 0.993, 0.988], [0.992, 0.989, 0.994], UNDECIDED, "open: the 95% CI spans"),
    ],
)
def test_no_difference_verdict(base, bn, outcome, note):
    verdict = claims.no_difference_verdict("lenetr", _final(base, bn))
    assert verdict.outcome == outcome and note in verdict.note
    assert verdict.line.startswith(f"lenetr: BN makes no difference: {outcome} (final accuracy")


@pytest.mark.parametrize(
    ("base", "bn", "words"),
    [
        (
            [0.9920, 0.9921, 0.9919, 0.9920],
            [0.9930, 0.9931, 0.9929, 0.9930],
            "a real effect inside",
        ),
        ([0.970, 0.971, 0.969], [0.977, 0.978, 0.976], "a real effect beyond the margin"),
        (
            [0.9900, 0.9901, 0.9902, 0.9901, 0.9900],
            [0.9915, 0.9930, 0.9920, 0.9935, 0.9925],
            "a real effect (+0.0024); whether beyond the margin ±0.002 is open",
        ),
        ([0.9920, 0.9922, 0.9918, 0.9921], [0.9921, 0.9919, 0.9922, 0.9920], "no difference"),
        ([0.990, 0.993, 0.988], [0.992, 0.989, 0.994], "open: the 95% CI spans zero and reaches"),
    ],
)
def test_one_wording_rule_for_every_accuracy_effect(base, bn, words):
    assert claims.finding(_final(base, bn)).startswith(words)
    # Never the words "same accuracy": a real effect inside the margin is not "the same".
    assert "same" not in claims.finding(_final(base, bn))


def test_iterations_are_worded_without_a_margin():
    assert claims.finding(_its([900, 1000, 1100], [400, 500, 600])) == (
        "BN sooner by 500 iterations (RMST)"
    )
    assert claims.finding(_its([900, 1300, 1100], [700, 1100, 900])).startswith("open")
    undirected = claims.finding(_its([900, 1000, 1100], [400, 500, 600]), directed=False)
    assert undirected == "a real difference (-500 iterations, RMST)"


def test_an_exactly_zero_effect_cannot_be_shown_to_be_a_raise():
    # Raise route: |effect| = 0 never decides; the TOST route gives a finite number of seeds.
    effect = _final([0.990, 0.994, 0.986], [0.986, 0.994, 0.990])
    verdict = claims.raises_verdict("mlp", effect)
    assert verdict.outcome == UNDECIDED
    assert verdict.seeds_needed == claims.statistics.seeds_to_decide(
        effect.interval.sds, claims.ACCURACY_MARGIN, 3, confidence=0.90
    )


def test_verdicts_use_one_primary_threshold_per_network():
    reach = {0.97: 900, 0.98: 1900, 0.99: None}
    fast = {0.97: 400, 0.98: 600, 0.99: None}
    base = [FakeRun(dict(reach)) for _ in range(3)]
    bn = [FakeRun(dict(fast)) for _ in range(3)]
    found = effects.pair_effects(base, bn)
    assert [e.key for e in found] == [
        "final_accuracy",
        "best_accuracy",
        "iterations_to_97",
        "iterations_to_98",
        "iterations_to_99",
    ]
    mlp_speed, mlp_raise = claims.verdicts_for("mlp", found, MNIST)
    lenet_speed, _ = claims.verdicts_for("lenet", found, MNIST)
    assert (mlp_speed.claim, mlp_raise.claim) == (claims.SPEEDS_UP, claims.RAISES)
    assert mlp_speed.effect.key == "iterations_to_97"
    assert lenet_speed.effect.key == "iterations_to_98"
    assert [v.claim for v in claims.verdicts_for("lenetr", found, MNIST)] == [claims.NO_DIFFERENCE]
    assert claims.verdicts_for("ioffe_mlp", found, MNIST) == []


def test_p_values_below_a_thousandth_are_not_written_as_zero():
    assert effects.p_is(0.0342) == "p=0.034" and effects.p_is(0.00002) == "p<0.001"
    assert effects.p_text(0.00002) == "<0.001"
