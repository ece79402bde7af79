"""The confirmatory grid's summary.md: the design's identity, each contrast's intervals, tests and
verdict (confirmatory.py), then an exploratory table per level: where BN's gain lies (fitting the
training set or generalizing) and how many runs failed.

The caller names the contrasts (their arms and weights) and, per dataset, the results directory
and which runs make each arm; nothing here knows the grid's arms.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bn_keras.common import tables
from bn_keras.common.atomic import write_bytes_atomic
from bn_keras.config.datasets import Dataset
from bn_keras.reporting import statistics
from bn_keras.reporting.statistics import ALPHA
from bn_keras.reporting.why import confirm_runs, confirmatory
from bn_keras.reporting.why.confirm_runs import Selector
from bn_keras.reporting.why.confirmatory import Arm, Contrast, Reading
from bn_keras.runs.reader import Run, load_runs, one_dataset


@dataclasses.dataclass(frozen=True)
class Grid:
    """One dataset's arms read from its results directory.

    Attributes:
        dataset: the runs' dataset.
        runs: arm name -> its runs that ended (finished or diverged), by seed.
        arms: arm name -> the arm by the failure rule.
        unfinished: runs the selectors picked that have not ended (left out).
        first_start: the earliest `started` in the picked runs' config.json, ended or not.
    """

    dataset: Dataset
    runs: dict[str, list[Run]]
    arms: dict[str, Arm]
    unfinished: int
    first_start: str | None


def read_grid(
    results_dir: Path, selectors: Mapping[str, Selector], labels: np.ndarray | None = None
) -> Grid:
    """The arms of one dataset's results directory.

    Args:
        results_dir: a results tree of one dataset (runs.reader.load_runs).
        selectors: arm name -> run directories, or a predicate on a run.
        labels: the test labels in the test set's order, for per-image scores; None: seeds only.
    """
    runs = load_runs(Path(results_dir))
    dataset = one_dataset(runs)
    picked = {name: confirm_runs.select(runs, s) for name, s in selectors.items()}
    ended = {
        name: sorted(confirm_runs.finished(chosen), key=lambda r: r.seed)
        for name, chosen in picked.items()
    }
    unfinished = sum(len(chosen) - len(ended[name]) for name, chosen in picked.items())
    arms = confirm_runs.arms_from_runs(runs, selectors, dataset, labels)
    starts = [r.record["started"] for p in picked.values() for r in p if r.record.get("started")]
    return Grid(dataset, ended, arms, unfinished, min(starts, default=None))


def design_lines(design: Path | None, commit: str | None, first_start: str | None) -> list[str]:
    """The header: the design file, its SHA-256 and commit, and when the first run started."""
    if design is None:
        lines = ["- Design: none given; everything below is exploratory."]
    else:
        digest = hashlib.sha256(Path(design).read_bytes()).hexdigest()
        at = f", committed at {commit}" if commit else ", its commit not given"
        shown = (
            Path(design).relative_to(Path.cwd())
            if Path(design).is_relative_to(Path.cwd())
            else design
        )
        lines = [f"- Design: `{shown}` (SHA-256 {digest}){at}."]
    first = first_start or "not recorded"
    lines.append(f"- First run started: {first} (the earliest `started` in the runs' config.json).")
    if design is not None:
        lines.append(
            "- Confirmatory: the contrasts' table, by the design's rule. Anything not in the "
            "design is exploratory, the per-level table below included."
        )
    return lines


def _p(raw: float | None, adjusted: float) -> str:
    return "-" if raw is None else f"{raw:.3g} / {adjusted:.3g}"


def _bootstrap(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"


def contrasts_table(readings: Sequence[Reading], grids: Mapping[str, Grid]) -> list[str]:
    """One row per contrast: its runs, estimate, the three intervals, both p-values (raw /
    Holm) and the verdict with its sentence."""
    header = [
        "dataset",
        "contrast",
        "runs per arm",
        "estimate",
        "seeds only [95%]",
        "seeds + images [95%]",
        "bootstrap [95%]",
        "p present (raw / Holm)",
        "p small (raw / Holm)",
        "verdict",
    ]
    rows = []
    for r in readings:
        e = r.estimate
        arms = grids[e.contrast.dataset].arms
        ns = ", ".join(str(len(arms[name].accuracies)) for name in e.contrast.arms)
        seed = e.seed
        rows.append(
            [
                e.contrast.dataset,
                f"{e.contrast.name} (m = {e.contrast.margin:g})",
                ns,
                f"{seed.effect:+.4f}" if seed else "-",
                f"[{seed.low:+.4f}, {seed.high:+.4f}]" if seed else "-",
                f"[{e.primary.low:+.4f}, {e.primary.high:+.4f}]" if e.with_images else "-",
                _bootstrap(e.bootstrap),
                _p(e.p_present, r.holm_present),
                _p(e.p_small, r.holm_small),
                f"**{r.outcome}**: {r.sentence}",
            ]
        )
    return tables.table(header, rows, compact=True)


def _arm_values(runs: Sequence[Run], arm: Arm) -> list[list[float]]:
    """Test accuracies (failure rule), train-set accuracies and losses (runs that recorded them)."""
    train = [t for t in (confirm_runs.train_set(r) for r in runs) if t is not None]
    return [list(arm.accuracies), [t[0] for t in train], [t[1] for t in train]]


def _effect(without: Sequence[float], with_bn: Sequence[float]) -> str:
    if not without or not with_bn:
        return "-"
    ci = statistics.welch_interval(without, with_bn)
    effect = float(np.mean(with_bn) - np.mean(without))
    return f"{effect:+.4f} [{ci.low:+.4f}, {ci.high:+.4f}]" if ci else f"{effect:+.4f}"


def _means(without: Sequence[float], with_bn: Sequence[float]) -> str:
    return ", ".join(f"{np.mean(v):.4f}" if v else "-" for v in (without, with_bn))


def levels_table(contrasts: Sequence[Contrast], grids: Mapping[str, Grid]) -> list[str]:
    """Exploratory, per level of each contrast: runs and failures of each arm, then test accuracy,
    train-set accuracy and train-set loss: each arm's mean and BN's effect with Welch's
    seed-only 95% interval."""
    header = ["dataset", "contrast", "level", "runs", "diverged", "at chance"]
    for quantity in ("test accuracy", "train-set accuracy", "train-set loss"):
        header += [f"{quantity} (no BN, BN)", "BN - no BN [95%]"]
    rows = []
    for contrast in contrasts:
        grid = grids[contrast.dataset]
        for label, without, with_bn in contrast.levels:
            pair = [(grid.runs[a], grid.arms[a]) for a in (without, with_bn)]
            at = grid.dataset.chance_accuracy
            chance = [sum(v <= at for v in arm.accuracies) - arm.diverged for _, arm in pair]
            row = [contrast.dataset, contrast.name, label]
            row += [", ".join(str(len(arm.accuracies)) for _, arm in pair)]
            row += [", ".join(str(arm.diverged) for _, arm in pair), ", ".join(map(str, chance))]
            values = [_arm_values(runs, arm) for runs, arm in pair]
            for k in range(3):
                row += [_means(values[0][k], values[1][k]), _effect(values[0][k], values[1][k])]
            rows.append(row)
    return tables.table(header, rows, compact=True)


def summary_text(
    contrasts: Sequence[Contrast],
    grids: Mapping[str, Grid],
    design: Path | None = None,
    design_commit: str | None = None,
    alpha: float = ALPHA,
    planned_runs: int | None = None,
) -> str:
    """summary.md's text: the header, the confirmatory table, the exploratory one.

    Args:
        contrasts: the family, in the order the table lists them.
        grids: dataset name -> its grid (read_grid).
        design: the design file; None: everything is exploratory.
        design_commit: the commit that holds the design.
        alpha: the family-wise level.
        planned_runs: the runs the design fixes, over every dataset; while fewer have ended,
            the header says that the verdicts are interim.

    Raises:
        KeyError: a contrast of a dataset without a grid, or of an arm its grid lacks.
    """
    missing = sorted({c.dataset for c in contrasts} - set(grids))
    if missing:
        raise KeyError(f"contrasts of datasets without runs: {missing}")
    estimates = [confirmatory.estimate(c, grids[c.dataset].arms) for c in contrasts]
    readings = confirmatory.read_family(estimates, alpha)
    starts = [g.first_start for g in grids.values() if g.first_start]
    lines = [
        "# Confirmatory contrasts of BN's effect",
        "",
        *design_lines(design, design_commit, min(starts, default=None)),
    ]
    ended = sum(len(runs) for g in grids.values() for runs in g.runs.values())
    if planned_runs is not None and ended < planned_runs:
        lines.append(
            f"- Grid incomplete: {ended} of the design's {planned_runs} runs have ended. The "
            "design decides on all of them: every verdict below is interim, not a result."
        )
    unfinished = sum(g.unfinished for g in grids.values())
    if unfinished:
        lines.append(
            f"- Runs not finished, left out: {unfinished}; the verdicts are provisional until "
            "they finish."
        )
    primary = {e.with_images for e in estimates if e.primary is not None}
    lines += [
        f"- Family: both one-sided tests of {len(contrasts)} contrasts ({2 * len(contrasts)} "
        f"p-values), Holm at {alpha}. Present: H0 C <= 0; small: H0 C >= m.",
        "- The tests use the seeds + images interval's standard error"
        + ("" if primary == {True} else "; where it is '-' (no predictions), the seeds-only one")
        + ". Every run counts; a diverged run as predicting the training set's most frequent "
        "class.",
        "- Intervals are 95% and unadjusted; the verdicts read the Holm-adjusted p-values, so an "
        "interval can exclude 0 where the family's test does not.",
        "",
        "## Contrasts (confirmatory)" if design else "## Contrasts (exploratory: no design)",
        "",
        *contrasts_table(readings, grids),
        "",
        "## Per level (exploratory)",
        "",
        *levels_table([c for c in contrasts if c.levels], grids),
        "",
    ]
    return "\n".join(lines)


def write_summary(path: Path, text: str) -> None:
    """Writes summary.md atomically."""
    write_bytes_atomic(Path(path), text.encode())
