"""Welch contrasts, TOST, permutation p, Holm, power and the fixed design's error rate, against
answers computed by hand (critical values from scipy.stats, never from a table)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from bn_keras.reporting import statistics


def test_welch_interval_matches_the_hand_computed_case():
    # first = 1, 2, 3: mean 2, variance 1.  second = 4, 6, 8: mean 6, variance 4.
    # effect = 6 - 2 = 4;  se^2 = 1/3 + 4/3 = 5/3, se = 1.290994
    # Welch df = (5/3)^2 / ((1/3)^2 / 2 + (4/3)^2 / 2) = (25/9) / (17/18) = 50/17 = 2.941176
    ci = statistics.welch_interval([1, 2, 3], [4, 6, 8])
    half = stats.t.ppf(0.975, 50 / 17) * math.sqrt(5 / 3)
    assert ci.effect == pytest.approx(4) and ci.se == pytest.approx(math.sqrt(5 / 3))
    assert ci.df == pytest.approx(50 / 17)
    assert (ci.low, ci.high) == pytest.approx((4 - half, 4 + half))
    assert ci.sds == pytest.approx((1, 2)) and ci.n == (3, 3)
    # A pooled (equal-variance) interval would use df 4 and t 2.776: narrower, and wrong here.
    assert ci.half_width > stats.t.ppf(0.975, 4) * math.sqrt(5 / 3)
    # The same as scipy's Welch test, p-value included.
    ref = stats.ttest_ind([4, 6, 8], [1, 2, 3], equal_var=False)
    assert (ci.low, ci.high) == pytest.approx(tuple(ref.confidence_interval(0.95)))
    assert ci.p == pytest.approx(ref.pvalue)


def test_welch_interval_needs_two_values_per_arm_and_handles_constant_arms():
    assert statistics.welch_interval([1.0], [2.0, 3.0]) is None
    point = statistics.welch_interval([5.0, 5.0], [7.0, 7.0, 7.0])
    assert (point.low, point.effect, point.high) == (2.0, 2.0, 2.0) and point.p == 0.0
    one_constant = statistics.welch_interval([400.0, 400.0, 400.0], [100.0, 200.0, 300.0])
    # se = sd(second)/sqrt(3) = 100/sqrt(3); df = 2 (all variance from the second arm)
    assert one_constant.df == pytest.approx(2)
    assert one_constant.high == pytest.approx(-200 + stats.t.ppf(0.975, 2) * 100 / math.sqrt(3))


# Four groups: Keras without/with BN, PyTorch without/with BN.
K0, K1, P0, P1 = [1, 2, 3], [4, 6, 8], [0, 2, 4], [3, 5, 7]  # means 2, 6, 2, 5; vars 1, 4, 4, 4


def test_the_pooled_estimate_against_a_hand_computation():
    # ((6 - 2) + (5 - 2)) / 2 = 3.5;  var = 1/4 x (1 + 4 + 4 + 4) / 3 = 13/12
    # parts 1/12, 4/12, 4/12, 4/12: df = (13/12)^2 / ((1 + 16 + 16 + 16) / 144 / 2) = 338/49
    ci = statistics.contrast_interval((K0, K1, P0, P1), (-0.5, 0.5, -0.5, 0.5))
    half = stats.t.ppf(0.975, 338 / 49) * math.sqrt(13 / 12)
    assert ci.effect == pytest.approx(3.5) and ci.se == pytest.approx(math.sqrt(13 / 12))
    assert ci.df == pytest.approx(338 / 49)
    assert (ci.low, ci.high) == pytest.approx((3.5 - half, 3.5 + half))
    assert ci.n == (3, 3, 3, 3) and ci.weights == (-0.5, 0.5, -0.5, 0.5)


def test_the_interaction_is_the_difference_of_the_two_effects():
    # (6 - 2) - (5 - 2) = 1;  var = 13/3 (weights +-1), the same df as the pooled estimate.
    ci = statistics.contrast_interval((K0, K1, P0, P1), (-1, 1, 1, -1))
    assert ci.effect == pytest.approx(1) and ci.se == pytest.approx(math.sqrt(13 / 3))
    assert ci.df == pytest.approx(338 / 49)
    assert ci.p == pytest.approx(2 * stats.t.sf(1 / math.sqrt(13 / 3), 338 / 49))


MARGIN = 0.002


def test_tost_equivalent_when_the_90_percent_interval_lies_inside_the_margin():
    base = [0.9920, 0.9922, 0.9918, 0.9921, 0.9919]
    bn = [0.9923, 0.9921, 0.9925, 0.9922, 0.9924]  # +0.0003, SD about 0.00016
    assert statistics.tost_pvalue(base, bn, MARGIN) < 0.05
    ci90 = statistics.welch_interval(base, bn, confidence=0.90)
    assert ci90.low > -MARGIN and ci90.high < MARGIN


def test_tost_not_equivalent_when_the_difference_is_beyond_the_margin():
    base = [0.9900, 0.9902, 0.9898]
    bn = [0.9950, 0.9952, 0.9948]  # +0.005 with small spread
    assert statistics.tost_pvalue(base, bn, MARGIN) > 0.5


def test_tost_p_is_the_larger_one_sided_p():
    # first = 0, 0.002 (sd 0.001414); second = 0.001, 0.003: effect +0.001, se = 0.001414, df 2.
    # lower test: t = (0.001 + 0.002) / 0.001414 = 2.1213;  upper: t = -0.7071 -> the larger p
    p = statistics.tost_pvalue([0.0, 0.002], [0.001, 0.003], MARGIN)
    assert p == pytest.approx(stats.t.cdf(-0.001 / math.sqrt(2e-6), 2))
    assert p == pytest.approx(max(stats.t.sf(2.1213203, 2), stats.t.cdf(-0.7071068, 2)))


def test_paired_interval_is_the_t_interval_of_the_differences():
    # differences 1, 2, 2: mean 5/3, sd 0.57735, se 1/3, df 2
    ci = statistics.paired_interval([1, 2, 3], [2, 4, 5])
    assert ci.effect == pytest.approx(5 / 3) and ci.df == pytest.approx(2)
    ref = stats.ttest_rel([2, 4, 5], [1, 2, 3]).confidence_interval(0.95)
    assert (ci.low, ci.high) == pytest.approx((ref.low, ref.high))
    with pytest.raises(ValueError):
        statistics.paired_interval([1, 2], [1, 2, 3])


def test_permutation_p_on_constructed_data():
    # Complete separation: 2 of the C(6,3) = 20 relabellings are as extreme (two-sided), so
    # p = 0.1 however far apart the arms are, where Welch's p is far smaller.
    base, bn = [9000, 9500, 10_000], [800, 900, 1000]
    assert statistics.permutation_p(base, bn) == pytest.approx(0.1)
    assert statistics.welch_interval(base, bn).p < 0.001
    # 4 against 4: 2 of C(8,4) = 70.
    assert statistics.permutation_p([5, 6, 7, 8], [1, 2, 3, 4]) == pytest.approx(2 / 70)
    # Identical arms: nothing is more extreme than no difference at all.
    assert statistics.permutation_p([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert statistics.permutation_p([1], [2, 3]) is None


def test_stratified_permutation_p_on_constructed_data():
    # Two strata, each separated completely: of the 20 x 20 relabellings only both-most-extreme
    # in one direction or the other are as extreme: p = 2/400, up to the draws' noise.
    strata = [([9000, 9500, 10_000], [800, 900, 1000]), ([7000, 8000, 9000], [500, 600, 700])]
    assert statistics.stratified_permutation_p(strata) == pytest.approx(0.005, abs=0.003)
    # One stratum: the exact test's answer, up to the draws' noise.
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 5), rng.normal(1, 1, 5)
    exact = statistics.permutation_p(a, b)
    assert statistics.stratified_permutation_p([(a, b)]) == pytest.approx(exact, abs=0.015)
    # Fixed draws: the same answer every time.
    assert statistics.stratified_permutation_p(strata) == statistics.stratified_permutation_p(
        strata
    )


def test_holm_on_a_constructed_family():
    # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06
    # (made non-decreasing).  At 0.05 the 1st and 4th are rejected, the others not.
    adjusted = statistics.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert statistics.holm([None, 0.01]) == pytest.approx([1.0, 0.02])  # missing counts as 1
    assert statistics.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert statistics.holm([]) == []


def test_seeds_to_decide_at_80_percent_power_by_hand():
    # sds (1, 1), distance 2: need 2 >= (t(0.975, df) + t(0.80, df)) x sqrt(2/n), df = 2(n-1).
    def needed(n):
        df = 2 * (n - 1)
        return (stats.t.ppf(0.975, df) + stats.t.ppf(0.8, df)) * math.sqrt(2 / n)

    assert needed(5) > 2 > needed(6)  # 2.021 and 1.794
    assert statistics.seeds_to_decide((1, 1), 2.0, n_now=3) == 6
    # At 50% power (t(0.5) = 0) the old rule's 4 seeds would do: 80% needs more.
    assert statistics.seeds_to_decide((1, 1), 2.0, n_now=3, power=0.5) == 4
    assert statistics.seeds_to_decide((1, 1), 2.0, n_now=7) == 8  # always more than today
    assert statistics.seeds_to_decide((1, 1), 0.0, n_now=3) is None  # no effect: never
    assert statistics.seeds_to_decide((1, 1), 0.01, n_now=3) is None  # beyond MAX_SEEDS


def test_mean_band_is_the_t_interval_of_the_mean_per_step():
    # Two seeds: mean 2, sem = sd/sqrt(2) = 1.4142/1.4142 = 1.
    t = stats.t.ppf(0.975, 1)
    low, high = statistics.mean_band(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_allclose(low, [2 - t, 5.0])
    np.testing.assert_allclose(high, [2 + t, 5.0])
    one_low, one_high = statistics.mean_band(np.array([[0.5, 0.7]]))
    np.testing.assert_array_equal(one_low, [0.5, 0.7])
    np.testing.assert_array_equal(one_high, [0.5, 0.7])


def test_the_margin_is_two_binomial_standard_errors_of_one_test_set_accuracy():
    se = math.sqrt(0.99 * 0.01 / 10_000)
    assert statistics.ACCURACY_MARGIN == 0.002
    assert statistics.ACCURACY_MARGIN / se == pytest.approx(2.0, abs=0.02)


def test_the_fixed_design_holds_its_5_percent_error_rate():
    """Simulated on normal seeds with the summary's own formulas: 10 seeds per arm in two
    frameworks, the BN effect pooled over both. Each test errs about 5% of the time, and Holm
    keeps the chance of any error among five null claims at or below 5%."""
    rng = np.random.default_rng(21)
    repeats, n, sd, pooled = 20_000, 10, 0.001, (-0.5, 0.5, -0.5, 0.5)

    def pooled_tests(true_effect):
        groups = [rng.normal(true_effect * (i % 2), sd, (repeats, n)) for i in range(4)]
        est, se, df = statistics.contrast_moments(groups, pooled)
        return statistics.difference_p(est, se, df), statistics.equivalence_p(est, se, df, MARGIN)

    # Monte Carlo SE of a 5% rate over 20,000 repeats: 0.0015; the bounds are 4.5 SEs wide.
    null_p, _ = pooled_tests(0.0)
    assert 0.043 < np.mean(null_p < 0.05) < 0.057
    _, margin_tost = pooled_tests(MARGIN)  # the true effect on the margin: not equivalent
    assert np.mean(margin_tost < 0.05) < 0.057
    family = np.stack([null_p[:4000], *(pooled_tests(0.0)[0][:4000] for _ in range(3))])
    family = np.vstack([family, margin_tost[:4000]]).T  # four differences, one equivalence
    any_wrong = [min(statistics.holm(row)) < 0.05 for row in family]
    assert np.mean(any_wrong) < 0.057
