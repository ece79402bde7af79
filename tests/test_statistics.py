"""Welch intervals, TOST, seeds to decide and the figure band against hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bn_keras.reporting import statistics


def test_welch_interval_matches_the_hand_computed_case():
    # first = 1, 2, 3: mean 2, variance 1.  second = 4, 6, 8: mean 6, variance 4.
    # effect = 6 - 2 = 4;  se^2 = 1/3 + 4/3 = 5/3, se = 1.290994
    # Welch df = (5/3)^2 / ((1/3)^2 / 2 + (4/3)^2 / 2) = (25/9) / (17/18) = 50/17 = 2.941176
    # t(0.975, 2.941176) = 3.218759 (tables interpolate 3.182 at 3 df, 4.303 at 2)
    # half-width = 3.218759 * 1.290994 = 4.155393  ->  [-0.155393, 8.155393]
    ci = statistics.welch_interval([1, 2, 3], [4, 6, 8])
    assert ci.effect == pytest.approx(4)
    assert ci.df == pytest.approx(50 / 17)
    assert (ci.low, ci.high) == pytest.approx((4 - 4.155393, 4 + 4.155393), abs=1e-5)
    assert ci.sds == pytest.approx((1, 2)) and ci.n == (3, 3)
    # A pooled (equal-variance) interval would use df 4 and t 2.776: narrower, and wrong here.
    assert ci.half_width > 2.776 * math.sqrt(5 / 3)


def test_welch_interval_needs_two_values_per_arm_and_handles_constant_arms():
    assert statistics.welch_interval([1.0], [2.0, 3.0]) is None
    point = statistics.welch_interval([5.0, 5.0], [7.0, 7.0, 7.0])
    assert (point.low, point.effect, point.high) == (2.0, 2.0, 2.0)
    one_constant = statistics.welch_interval([400.0, 400.0, 400.0], [100.0, 200.0, 300.0])
    # se = sd(second)/sqrt(3) = 100/sqrt(3); df = 2 (all variance from the second arm); t = 4.303
    assert one_constant.high == pytest.approx(-200 + 4.302653 * 100 / math.sqrt(3))


MARGIN = 0.002


def test_tost_equivalent_when_the_90_percent_interval_lies_inside_the_margin():
    base = [0.9920, 0.9922, 0.9918, 0.9921, 0.9919]
    bn = [0.9923, 0.9921, 0.9925, 0.9922, 0.9924]  # +0.0003, SD about 0.00016
    p = statistics.tost_pvalue(base, bn, MARGIN)
    assert p < 0.05
    ci90 = statistics.welch_interval(base, bn, confidence=0.90)
    assert ci90.low > -MARGIN and ci90.high < MARGIN


def test_tost_not_equivalent_when_the_difference_is_beyond_the_margin():
    base = [0.9900, 0.9902, 0.9898]
    bn = [0.9950, 0.9952, 0.9948]  # +0.005 with small spread
    assert statistics.tost_pvalue(base, bn, MARGIN) > 0.5


def test_tost_undecided_with_few_noisy_seeds():
    base = [0.990, 0.993, 0.988]
    bn = [0.992, 0.989, 0.994]  # +0.0013, SD about 0.0025: neither equal nor different
    p = statistics.tost_pvalue(base, bn, MARGIN)
    assert 0.05 < p < 0.9
    ci95 = statistics.welch_interval(base, bn)
    assert ci95.low < 0 < ci95.high


def test_tost_p_is_the_larger_one_sided_p():
    # first = 0, 0.002 (sd 0.001414); second = 0.001, 0.003: effect +0.001, se = 0.001414, df 2.
    # lower test: t = (0.001 + 0.002) / 0.001414 = 2.1213, p = 0.0840
    # upper test: t = (0.001 - 0.002) / 0.001414 = -0.7071, p = 0.2765  -> TOST p = 0.2765
    p = statistics.tost_pvalue([0.0, 0.002], [0.001, 0.003], MARGIN)
    assert p == pytest.approx(0.2765, abs=5e-4)


def test_seeds_to_decide_by_hand():
    # sds (1, 1): half-width(n) = t(0.975, 2(n-1)) * sqrt(2/n).
    # n=3: 2.776 * 0.8165 = 2.267;  n=4: 2.447 * 0.7071 = 1.730.
    assert statistics.expected_half_width((1, 1), 3, 0.95) == pytest.approx(2.2667, abs=1e-3)
    assert statistics.seeds_to_decide((1, 1), 2.0, n_now=3) == 4
    assert statistics.seeds_to_decide((1, 1), 2.5, n_now=2) == 3
    assert statistics.seeds_to_decide((1, 1), 2.5, n_now=5) == 6  # always more than today
    assert statistics.seeds_to_decide((1, 1), 0.0, n_now=3) is None  # no effect: never
    assert statistics.seeds_to_decide((1, 1), 0.01, n_now=3) is None  # beyond MAX_SEEDS


def test_mean_band_is_the_t_interval_of_the_mean_per_step():
    # Two seeds: mean 2, sem = sd/sqrt(2) = 1.4142/1.4142 = 1, t(0.975, 1) = 12.706.
    low, high = statistics.mean_band(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_allclose(low, [2 - 12.706205, 5.0], rtol=1e-6)
    np.testing.assert_allclose(high, [2 + 12.706205, 5.0], rtol=1e-6)
    one_low, one_high = statistics.mean_band(np.array([[0.5, 0.7]]))
    np.testing.assert_array_equal(one_low, [0.5, 0.7])
    np.testing.assert_array_equal(one_high, [0.5, 0.7])


def test_the_margin_is_two_binomial_standard_errors_of_one_test_set_accuracy():
    se = math.sqrt(0.99 * 0.01 / 10_000)
    assert statistics.ACCURACY_MARGIN == 0.002
    assert statistics.ACCURACY_MARGIN / se == pytest.approx(2.0, abs=0.02)
