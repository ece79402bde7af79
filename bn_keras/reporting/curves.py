"""Accuracy curves over seeds and how a figure draws them: seeds, or a mean and its band."""

from __future__ import annotations

import dataclasses

import numpy as np
from matplotlib.axes import Axes

from bn_keras.config import networks
from bn_keras.reporting import statistics
from bn_keras.runs.reader import Run

# The paper's convention: without BN a black solid line, with BN a red dashed one.
STYLES = {
    False: {"color": "black", "linestyle": "-", "label": "without BN"},
    True: {"color": "red", "linestyle": "--", "label": "with BN"},
}
BAND_TEXT = "bands: 95% CI of the mean over seeds (t)"
CLIPPED_TEXT = "; clipped to [0, 1]"
FEW_SEEDS = 5  # below this many seeds a figure draws each seed, not a mean and a t-band
SEEDS_TEXT = "one line per seed (fewer than 5 seeds)"


def network_title(model: str | None, default: str) -> str:
    """The declared network's name in figures (e.g. "LeNet-5, ReLU"), else `default`."""
    declared = networks.NETWORKS.get(model)
    return declared.title if declared else default


@dataclasses.dataclass(frozen=True)
class Curve:
    """Test accuracy over the seeds of one experiment, at the steps every seed evaluated: the
    mean and the 95% CI of the mean (low, high), the statistic of the summary's tables, and
    each seed's own values.

    Attributes:
        seeds: one row per seed.
        clipped: the band reached past [0, 1] somewhere and was clipped there.
    """

    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: np.ndarray
    clipped: bool = False

    @property
    def few(self) -> bool:
        """Too few seeds for a t-band to say much: draw the seeds themselves."""
        return len(self.seeds) < FEW_SEEDS


def mean_curve(runs: list[Run]) -> Curve:
    """Mean and 95% CI band of the mean of test accuracy over `runs` (non-empty), the band
    clipped to [0, 1]."""
    by_step = [{int(r["step"]): r["test_accuracy"] for r in run.rows} for run in runs]
    steps = np.array(sorted(set.intersection(*(set(s) for s in by_step))))
    acc = np.array([[s[int(step)] for step in steps] for s in by_step])
    # Accuracy lies in [0, 1]; with 3 seeds t = 4.3 can carry the interval past it.
    low, high = statistics.mean_band(acc)
    clipped = bool(np.any(low < 0.0) or np.any(high > 1.0))
    low, high = np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)
    return Curve(steps, acc.mean(axis=0), low, high, acc, clipped)


def draw_curve(ax: Axes, curve: Curve, keep: np.ndarray, label: str, **style) -> None:
    """One experiment on `ax`: each seed as a thin line when there are fewer than FEW_SEEDS,
    otherwise the mean with its 95% CI band."""
    if curve.few:
        for i, seed in enumerate(curve.seeds):
            ax.plot(curve.steps[keep], seed[keep], linewidth=0.9, alpha=0.8,
                    label=label if i == 0 else None, **style)  # fmt: skip
        return
    ax.plot(curve.steps[keep], curve.mean[keep], linewidth=1.5, label=label, **style)
    ax.fill_between(curve.steps[keep], curve.low[keep], curve.high[keep],
                    color=style["color"], alpha=0.15, linewidth=0)  # fmt: skip


def legend_title(curves: list[Curve]) -> str:
    """What the lines and bands are: seeds, or the band and whether it was clipped."""
    if all(c.few for c in curves):
        return SEEDS_TEXT
    clipped = any(c.clipped for c in curves if not c.few)
    text = BAND_TEXT + (CLIPPED_TEXT if clipped else "")
    return text if not any(c.few for c in curves) else f"{text}; {SEEDS_TEXT}"
