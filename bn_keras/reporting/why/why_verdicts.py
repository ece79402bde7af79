"""The explanation grid's verdicts: is each explanation of where BN's help goes SUPPORTED,
NOT SUPPORTED or UNDECIDED by the grid's levels (reporting/why/trend.py)?

The rules are fixed here before the full grid's results were read (after its 8-run pilot,
results/why_pilot/, and while the grid ran); `RULES` says them in words for the summary's design.

- Capacity (the paper, Sec. 2.3) and optimization (Bjorck et al. 2018) are each a claim that BN's
  effect grows along a factor: as the width shrinks, or as the depth grows. `growth` reads one
  series: SUPPORTED when the trend's 95% interval lies wholly on the claimed side of 0 and the
  effect at the claimed end (the smallest width, the deepest network) has a 95% interval above
  0; NOT SUPPORTED when the trend's interval lies wholly on the other side of the smallest slope
  that would matter (`relevant_slope`), which covers a slope of the wrong sign too; UNDECIDED
  otherwise. Failed runs are counted, not averaged (trend.Level), so a level where every run
  without BN failed and none with BN did (BN rescues training) has no interval: at the claimed
  end, and not at the other, it is read as the largest effect there can be, SUPPORTED; the
  reverse (BN's runs all fail there, none without) as NOT SUPPORTED.
- The optimizer's step size: Adadelta at lr 1 (the recipe) sits where BN has nothing to add.
  SUPPORTED when BN's effect at lr 1 is inside the margin (TOST) while at some other Adadelta
  rate BN rescues training, or its effect's 95% interval lies above +margin, or BN trains well
  at more rates (below); NOT SUPPORTED when the effect at lr 1 lies beyond the margin (BN does
  add something at the recipe), or when BN adds nothing at any Adadelta rate (every other rate's
  effect inside the margin too, or both arms failed there in every run; no wider range);
  UNDECIDED otherwise.
- Beside it, for each optimizer: the rates at which each arm trains well (trend.well_trained)
  and whether BN widens that range: it trains well at every rate where no BN does, and at more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from bn_keras.reporting.statistics import ACCURACY_MARGIN, ALPHA, Interval
from bn_keras.reporting.why import trend

SUPPORTED, NOT_SUPPORTED, UNDECIDED = "SUPPORTED", "NOT SUPPORTED", "UNDECIDED"
VERDICTS_HEADING = "## Verdicts"  # of the grid's summary.md, one "- " line per explanation below
MARGIN = ACCURACY_MARGIN
RECIPE_RATE = 1.0  # Adadelta's learning rate in the paper's recipe

RULES = [
    "Smallest slope that would matter, delta: the margin (±{m}) per step of the grid, "
    "margin x (levels - 1) / (span of the levels on the trend's scale): {m} per halving of the "
    "width, {m} x {steps} / {span:g} = {d:.5f} per hidden layer. Why: between neighbouring "
    "levels of the grid the effect would then change by less than the smallest accuracy "
    "difference the project counts as mattering (the summary's margin, reporting/design.py), "
    "and over the whole grid by less than the margin times its steps; an explanation whose "
    "effect moves less than that does not explain a difference the summary would report.",
    "Capacity (paper Sec. 2.3), on the ReLU LeNet-5: SUPPORTED if the slope of BN's effect on "
    "log2 width has a 95% interval below 0 and the effect at width 0.25 has a 95% interval "
    "above 0 (or, at width 0.25 and not at width 2, every run without BN failed and none with "
    "BN); NOT SUPPORTED if the slope's interval lies wholly above -delta (too small to matter, "
    "or of the wrong sign); else UNDECIDED. The sigmoid LeNet-5 is read by the same rule and "
    "reported beside it; it does not enter the verdict (its network is the paper's example of "
    "insufficient capacity already).",
    "Optimization (Bjorck et al. 2018), on the MLP: each of the ReLU and the sigmoid MLP by the "
    "same rule along depth (slope per hidden layer with its interval above 0, the effect at 10 "
    "layers above 0, or BN rescuing training at 10 layers and not at 3; NOT SUPPORTED if the "
    "slope's interval lies wholly below +delta). SUPPORTED if either network is, NOT SUPPORTED "
    "if both are, else UNDECIDED.",
    "The optimizer's step size (Adadelta lr 1 masks BN's help), on the ReLU LeNet-5: SUPPORTED "
    "if BN's effect at lr 1 is inside the margin (TOST p < {alpha}) while at some other Adadelta "
    "rate BN rescues training, its effect's 95% interval lies above +{m}, or BN widens the "
    "range of rates that train well under Adadelta; NOT SUPPORTED if the effect's 95% interval "
    "at lr 1 lies beyond ±{m}, or if at every other Adadelta rate the effect is inside the "
    "margin too (TOST) or both arms failed in every run, and BN does not widen the range; else "
    "UNDECIDED.",
    "BN widens the range of rates that train well (per optimizer): it trains well at every rate "
    "where no BN does, and at one or more besides; the span in decades is log10(max/min) of "
    "each arm's well-trained rates.",
]


def rules(well_trained: float, depths: Sequence[int]) -> list[str]:
    """RULES with their numbers: the margin, delta per hidden layer for the grid's `depths`, and
    the well-trained threshold."""
    numbers = {"m": MARGIN, "alpha": ALPHA, "steps": len(depths) - 1}
    numbers |= {"span": max(depths) - min(depths), "d": relevant_slope(depths, "linear")}
    texts = [r.format(**numbers) for r in RULES]
    return texts[:-1] + [texts[-1] + f" Trains well: no run failed, mean >= {well_trained}."]


@dataclasses.dataclass(frozen=True)
class Growth:
    """One series read against the claim that BN's effect grows along the factor.

    Attributes:
        label: the series, e.g. "LeNet-5 (ReLU)".
        outcome: SUPPORTED, NOT_SUPPORTED or UNDECIDED.
        reason: why, with the numbers.
        fitted: the trend, None with fewer than two usable levels.
        end: the level where the claim puts BN's largest effect.
        delta: the smallest slope that would matter, on the trend's scale.
    """

    label: str
    outcome: str
    reason: str
    fitted: trend.Trend | None
    end: trend.Level
    delta: float


def relevant_slope(xs: Sequence[float], scale: str, margin: float = MARGIN) -> float:
    """The margin per step of the grid: margin x (levels - 1) / (span of the levels on `scale`)."""
    placed = [trend.SCALES[scale][0](x) for x in xs]
    return margin * (len(placed) - 1) / (max(placed) - min(placed))


def interval_text(ci: Interval | None) -> str:
    """E.g. "+0.0012 [+0.0004, +0.0020]"; "-" without an interval."""
    return f"{ci.effect:+.4f} [{ci.low:+.4f}, {ci.high:+.4f}]" if ci else "-"


def all_failed(level: trend.Level, arm: int) -> bool:
    """Every run of `arm` (0 without BN, 1 with) failed and none of the other arm's did."""
    return (
        level.runs[arm] > 0 and level.failed[arm] == level.runs[arm] and not level.failed[1 - arm]
    )


def growth(label: str, levels: Sequence[trend.Level], scale: str, direction: int) -> Growth:
    """Reads one series by the growth rule (module docstring).

    Args:
        label: the series' name.
        levels: its levels (at least two).
        scale: the trend's scale (trend.SCALES).
        direction: +1 if the claim is that the effect grows with the factor (depth), -1 if it
            grows as the factor shrinks (width).

    Returns:
        The reading, with its reason.
    """
    ordered = sorted(levels, key=lambda lv: lv.x * direction)
    start, end = ordered[0], ordered[-1]
    fitted = trend.effect_trend(levels, scale)
    delta = relevant_slope([lv.x for lv in levels], scale)
    unit = trend.SCALES[scale][1]
    slope = fitted.text() if fitted else "no slope (fewer than two usable levels)"
    at_end = f"effect at {end.x:g} {interval_text(end.effect)}"
    numbers = f"{slope}; {at_end}; delta {direction * delta:+.5f} {unit}"

    def read(outcome: str, why: str) -> Growth:
        return Growth(label, outcome, f"{why} ({numbers})", fitted, end, delta)

    if all_failed(end, 0) and not all_failed(start, 0):
        n = end.runs[0]
        return read(SUPPORTED, f"BN rescues training at {end.x:g}: {n}/{n} runs without BN failed")
    if all_failed(end, 1) and not all_failed(start, 1):
        n = end.runs[1]
        return read(NOT_SUPPORTED, f"BN fails at {end.x:g}: {n}/{n} runs with BN failed")
    if fitted is None:
        return read(UNDECIDED, "no trend to read")
    toward = fitted.low > 0 if direction > 0 else fitted.high < 0
    away = fitted.high < delta if direction > 0 else fitted.low > -delta
    if toward and end.effect is not None and end.effect.low > 0:
        small = "; smaller than delta" if away else ""
        return read(SUPPORTED, f"the effect grows toward {end.x:g} and is above 0 there{small}")
    if away:
        return read(NOT_SUPPORTED, "the slope's interval excludes every slope that would matter")
    return read(UNDECIDED, "the data allow a slope that matters and one that does not")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One explanation's verdict.

    Attributes:
        explanation: e.g. "capacity (the paper, Sec. 2.3)".
        outcome: SUPPORTED, NOT_SUPPORTED or UNDECIDED.
        reason: the numbers it rests on.
    """

    explanation: str
    outcome: str
    reason: str

    @property
    def line(self) -> str:
        return f"{self.explanation}: **{self.outcome}**: {self.reason}"


CAPACITY = "Capacity (the paper, Sec. 2.3)"
OPTIMIZATION = "Optimization, growing with depth (Bjorck et al. 2018)"
STEP_SIZE = "The optimizer's step size (Adadelta at lr 1)"


def capacity_verdict(relu: Growth, beside: Sequence[Growth] = ()) -> Verdict:
    """The capacity explanation's verdict: the ReLU LeNet-5's reading along width; the readings
    `beside` it (the sigmoid LeNet-5's) are said after it and do not enter the verdict."""
    others = "".join(f"; beside it, {g.label}: {g.outcome}: {g.reason}" for g in beside)
    return Verdict(CAPACITY, relu.outcome, f"ReLU LeNet-5: {relu.reason}{others}")


def optimization_verdict(readings: Sequence[Growth]) -> Verdict:
    """The optimization explanation's verdict: SUPPORTED if any MLP is, NOT if all are not."""
    outcomes = [g.outcome for g in readings]
    if SUPPORTED in outcomes:
        outcome = SUPPORTED
    elif all(o == NOT_SUPPORTED for o in outcomes):
        outcome = NOT_SUPPORTED
    else:
        outcome = UNDECIDED
    return Verdict(OPTIMIZATION, outcome, "; ".join(f"{g.label}: {g.reason}" for g in readings))


@dataclasses.dataclass(frozen=True)
class RateRange:
    """The rates at which each arm of one optimizer trains well, and whether BN widens them."""

    label: str
    without: tuple[float, ...]
    with_bn: tuple[float, ...]

    @property
    def widens(self) -> bool:
        """BN trains well at every rate no BN does, and at more."""
        return self.word == "widens"

    @property
    def spans(self) -> tuple[float, float]:
        return trend.span_decades(self.without), trend.span_decades(self.with_bn)

    @property
    def word(self) -> str:
        """ "widens", "narrows", "the same" or "differs" (neither set holds the other)."""
        without, with_bn = set(self.without), set(self.with_bn)
        if without == with_bn:
            return "the same"
        if without < with_bn:
            return "widens"
        return "narrows" if with_bn < without else "differs"

    def text(self) -> str:
        """E.g. "SGD: without BN 0.01, 0.3 (1.48 decades), with BN 0.01, 0.3, 3 (2.48 decades):
        BN widens it by +1.00 decades"."""
        parts = []
        arms = zip(("without BN", "with BN"), (self.without, self.with_bn), self.spans)
        for arm, rates, span in arms:
            listed = ", ".join(f"{r:g}" for r in rates) or "none"
            parts.append(f"{arm} {listed}" + (f" ({span:.2f} decades)" if rates else ""))
        change = self.spans[1] - self.spans[0]
        known = bool(self.without and self.with_bn)
        how = {
            "the same": "leaves it the same",
            "widens": f"widens it by {change:+.2f} decades" if known else "widens it",
            "narrows": f"narrows it by {-change:.2f} decades" if known else "narrows it",
            "differs": f"shifts it (span {change:+.2f} decades)" if known else "shifts it",
        }[self.word]
        return f"{self.label}: {', '.join(parts)}: BN {how}"


def rate_range(label: str, levels: Sequence[trend.Level], well: float) -> RateRange:
    """`label`'s well-trained rates per arm (trend.well_trained at threshold `well`)."""
    without, with_bn = trend.well_trained(levels, well)
    return RateRange(label, tuple(without), tuple(with_bn))


def _helps_beyond(level: trend.Level) -> bool:
    ci = level.effect
    return all_failed(level, 0) or (ci is not None and ci.low > MARGIN)


def _adds_nothing(level: trend.Level) -> bool:
    """BN's effect is inside the margin (TOST), or both arms failed in every run."""
    ci = level.effect
    if ci is not None:
        return ci.tost_p(MARGIN) < ALPHA
    return all(level.runs[arm] and level.failed[arm] == level.runs[arm] for arm in (0, 1))


def step_size_verdict(adadelta: Sequence[trend.Level], adadelta_range: RateRange) -> Verdict:
    """The step-size explanation's verdict from the Adadelta series (module docstring)."""
    recipe = next((lv for lv in adadelta if lv.x == RECIPE_RATE), None)
    others = [lv for lv in adadelta if lv.x != RECIPE_RATE]
    ci = recipe.effect if recipe else None
    if ci is None:
        return Verdict(STEP_SIZE, UNDECIDED, "no interval at lr 1")
    tost = ci.tost_p(MARGIN)
    helped = [lv.x for lv in others if _helps_beyond(lv)]
    at_recipe = f"at lr 1 BN - no BN {interval_text(ci)}, TOST p {tost:.3g} (±{MARGIN})"
    beside = (
        f"beyond the margin at lr {', '.join(f'{x:g}' for x in helped)}"
        if helped
        else "beyond the margin at no other rate"
    )
    reason = f"{at_recipe}; {beside}; {adadelta_range.text()}"
    if ci.beyond(MARGIN):
        return Verdict(STEP_SIZE, NOT_SUPPORTED, f"BN changes the recipe's accuracy: {reason}")
    if tost < ALPHA and (helped or adadelta_range.widens):
        return Verdict(STEP_SIZE, SUPPORTED, reason)
    inside = all(_adds_nothing(lv) for lv in others)
    if tost < ALPHA and inside and not adadelta_range.widens:
        return Verdict(STEP_SIZE, NOT_SUPPORTED, f"BN adds nothing at any rate: {reason}")
    return Verdict(STEP_SIZE, UNDECIDED, reason)


def main_summary_section(why_summary: Path) -> list[str]:
    """The main summary's section for the grid: each verdict line of the grid's summary.md (its
    VERDICTS_HEADING section) and a link; nothing when that summary does not exist.

    Args:
        why_summary: the grid's summary.md, e.g. results/why/summary.md beside results/summary.md.
    """
    if not why_summary.is_file():
        return []
    # Without the heading: no verdict lines (not the header's "- " lines).
    section = why_summary.read_text().partition(f"\n{VERDICTS_HEADING}\n")[2]
    section = section.split("\n## ", 1)[0]
    verdicts = [line for line in section.splitlines() if line.startswith("- ")]
    link = f"{why_summary.parent.name}/{why_summary.name}"
    return [
        "",
        "## Why BN helps here",
        "",
        f"The grid's verdicts on three explanations ([{link}]({link}); the page: "
        "[docs/why.md](../docs/why.md)):",
        "",
        *verdicts,
    ]
