"""BN's effect along a factor: per-level Welch intervals, the trend's slope and interval on data
constructed with a known slope (and with none), divergence counted, the figure."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from bn_keras.reporting.why import trend, trend_figure

WIDTHS = (0.25, 0.5, 1.0, 2.0)


def _levels(rng, slope, widths=WIDTHS, seeds=5, sds=(0.002, 0.0005), base=0.98):
    """Without BN at `base`; with BN at base + 0.003 + slope * log2(width); normal noise with a
    different spread in each arm, as BN gives."""
    return [
        trend.Level(
            x=w,
            without=tuple(base + sds[0] * rng.standard_normal(seeds)),
            with_bn=tuple(
                base + 0.003 + slope * math.log2(w) + sds[1] * rng.standard_normal(seeds)
            ),
        )
        for w in widths
    ]


def test_noise_free_effects_give_the_slope_exactly():
    # Each arm's values are symmetric around its mean, so the means carry the slope exactly.
    spread = (-0.001, 0.0, 0.001)
    levels = [
        trend.Level(
            w,
            tuple(0.97 + d for d in spread),
            tuple(0.97 - 0.002 * math.log2(w) + d for d in spread),
        )
        for w in WIDTHS
    ]
    fitted = trend.effect_trend(levels, "log2")
    assert fitted.slope == pytest.approx(-0.002, abs=1e-12)
    assert fitted.intercept == pytest.approx(0.0, abs=1e-12)
    assert fitted.low < -0.002 < fitted.high
    assert fitted.levels == WIDTHS
    effects = [lv.effect.effect for lv in levels]
    assert fitted.slope == pytest.approx(np.polyfit(np.log2(WIDTHS), effects, 1)[0], abs=1e-12)
    assert "per doubling" in fitted.text()


def test_the_interval_covers_a_known_slope_95_percent_of_the_time():
    rng = np.random.default_rng(22)
    trials, true_slope = 400, -0.002
    fits = [trend.effect_trend(_levels(rng, true_slope), "log2") for _ in range(trials)]
    coverage = np.mean([f.low <= true_slope <= f.high for f in fits])
    # Binomial sd of the coverage over 400 trials: sqrt(0.95 * 0.05 / 400) = 0.011.
    assert 0.92 <= coverage <= 0.98
    assert np.mean([f.high < 0 for f in fits]) > 0.9  # and it finds the slope


def test_a_null_slope_is_rejected_about_5_percent_of_the_time():
    rng = np.random.default_rng(7)
    fits = [trend.effect_trend(_levels(rng, 0.0), "log2") for _ in range(400)]
    rejected = np.mean([f.p_value < 0.05 for f in fits])
    assert 0.02 <= rejected <= 0.08
    assert np.mean([f.low <= 0 <= f.high for f in fits]) == 1 - rejected


def test_levels_without_two_values_per_arm_leave_the_fit():
    rng = np.random.default_rng(0)
    levels = _levels(rng, 0.001)
    levels[0] = trend.Level(
        0.25, levels[0].without, levels[0].with_bn[:1], diverged=(0, 3), at_chance=(0, 1)
    )
    fitted = trend.effect_trend(levels, "log2")
    assert fitted.levels == (0.5, 1.0, 2.0)
    assert levels[0].effect is None and levels[0].runs == (5, 5)
    assert levels[0].failed == (0, 4) and levels[0].failed_share == (0.0, 0.8)
    assert trend.effect_trend(levels[:2], "log2") is None  # one usable level: no slope
    with pytest.raises(ValueError, match="unknown scale"):
        trend.effect_trend(levels, "log3")


def test_well_trained_levels_and_their_span():
    rates = (0.003, 0.01, 0.1, 1.0)
    levels = [
        trend.Level(0.003, (0.90, 0.91), (0.97, 0.98)),
        trend.Level(0.01, (0.985, 0.99), (0.99, 0.99)),
        trend.Level(0.1, (0.99, 0.99), (0.99, 0.99)),
        trend.Level(1.0, (0.99, 0.99), (0.99, 0.99), at_chance=(1, 0)),
    ]
    without, with_bn = trend.well_trained(levels, threshold=0.975)
    assert without == [0.01, 0.1] and with_bn == list(rates)
    assert trend.span_decades(with_bn) - trend.span_decades(without) == pytest.approx(
        math.log10(1 / 0.003) - 1
    )
    assert math.isnan(trend.span_decades([]))


@pytest.mark.parametrize("diverged", [False, True])
def test_the_figure_draws_effects_intervals_and_divergence(diverged):
    rng = np.random.default_rng(1)
    relu, sigmoid = _levels(rng, 0.001), _levels(rng, -0.002)
    if diverged:
        relu[-1] = trend.Level(2.0, relu[-1].without[:3], relu[-1].with_bn, diverged=(2, 0))
    fig = trend_figure.trend_figure(
        [("ReLU", relu), ("sigmoid", sigmoid)], "log2", "width multiplier", "capacity"
    )
    assert len(fig.axes) == (2 if diverged else 1)
    top = fig.axes[0]
    assert top.get_xscale() == "log"
    assert len(top.containers) == 2  # one errorbar container per series
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    assert any(label.startswith("ReLU: slope") for label in labels)
    fig.savefig(io.BytesIO(), format="png", dpi=30)
