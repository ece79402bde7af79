"""The probes' table: each measure as one number per run, BN against no BN over the seeds.

Each probe measure of a run becomes one number: its median over the probe steps of the second
half of training (after the early phase, the plateau of sigmoid LeNet-5 without BN). Every
measure is positive, so BN's effect is read on the log scale: the Welch 95% interval of BN - no
BN in log(value) over the seeds, shown as a ratio BN / no BN. The verdict on "does BN reduce
it?" follows the accuracy claims' three-way rule with a margin of x1.25 either way (RATIO_MARGIN,
fixed with this table after the 2-seed probe runs had been seen): yes when the interval lies
below 1, no when it lies above 1 or, spanning 1, inside the margin by TOST; open otherwise.

Each value comes from a single batch, so the table also says how much of the seed-to-seed
spread that noise explains: the within-run SD of single-batch values (from successive
differences, which a slow trend barely moves) gives the noise in one run's median, about
(pi/2) x SD^2 / m for m probe steps, against the between-seed variance of the run medians.
"""

from __future__ import annotations

import dataclasses
import math
import re
import statistics as py_statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bn_keras.common import tables
from bn_keras.reporting import rebuild
from bn_keras.reporting import statistics as stats_lib
from bn_keras.runs.metrics_file import read_metrics
from bn_keras.runs.reader import Run
from bn_keras.runs.run_dir import ACTIVATIONS_FILE, ICS_FILE, LANDSCAPE_FILE

SUMMARY_FILE = rebuild.SUMMARY_FILE
TITLE = "Probes: how does BatchNorm help?"
RATIO_MARGIN = 1.25  # "no difference" when BN / no BN stays within [1/1.25, 1.25]
MIN_SEEDS = 5  # per arm, for the table's verdicts to count as more than provisional
_COST_ROW = re.compile(r"^\| `[^`]+_seed\d+` \|", re.M)


def _column(rows: list[dict], fn) -> np.ndarray:
    return np.array([fn(r) for r in rows])


def _ics(rows: list[dict], fn: Callable[[dict, str], float]) -> np.ndarray:
    """Mean over the layers after the first (the first one's shift is 0 by definition)."""
    layers = [k.split(":")[0] for k in rows[0] if k.endswith(":ics_l2")][1:]
    return _column(rows, lambda r: np.mean([fn(r, n) for n in layers]))


@dataclasses.dataclass(frozen=True)
class MeasureSpec:
    """A probe measure: its file, how a row gives its value, and whether it answers the
    question "does BN reduce it?" (eta_eff is context, not a measure of smoothness)."""

    file: str
    values: Callable[[list[dict]], np.ndarray]
    question: bool = True


MEASURES = {
    "loss variation: max - min over eta of L(W - eta g)": MeasureSpec(
        LANDSCAPE_FILE, lambda rows: _column(rows, lambda r: r["loss_max"] - r["loss_min"])
    ),
    "gradient change: max over eta of ‖grad L(W - eta g) - g‖": MeasureSpec(
        LANDSCAPE_FILE, lambda rows: _column(rows, lambda r: r["grad_diff_max"])
    ),
    "effective beta-smoothness": MeasureSpec(
        LANDSCAPE_FILE, lambda rows: _column(rows, lambda r: r["beta_smoothness"])
    ),
    "ICS ‖G - G'‖ (mean over layers 2..L)": MeasureSpec(
        ICS_FILE, lambda rows: _ics(rows, lambda r, n: r[f"{n}:ics_l2"])
    ),
    "ICS ‖G - G'‖ / ‖G‖": MeasureSpec(
        ICS_FILE, lambda rows: _ics(rows, lambda r, n: r[f"{n}:ics_l2"] / r[f"{n}:grad_norm"])
    ),
    "ICS 1 - cos(G, G') (lower: less shift)": MeasureSpec(
        ICS_FILE, lambda rows: _ics(rows, lambda r, n: 1.0 - r[f"{n}:ics_cos"])
    ),
    "eta_eff = ‖Adadelta step‖ / ‖g‖": MeasureSpec(
        LANDSCAPE_FILE, lambda rows: _column(rows, lambda r: r["eta_eff"]), question=False
    ),
}


def second_half(run: Run, spec: MeasureSpec) -> np.ndarray:
    """The measure at each probe step in the second half of the run's training."""
    half = run.record.get("config", {}).get("train_steps", 0) / 2
    rows = [r for r in read_metrics(run.run_dir / spec.file) if r["step"] > half]
    return spec.values(rows) if rows else np.array([])


@dataclasses.dataclass(frozen=True)
class Noise:
    """Single-batch noise against the seed-to-seed spread, on the log scale.

    Attributes:
        within_sd: SD of one probe step's value within a run (from successive differences).
        between_sd: SD of the run medians between seeds (pooled over both arms).
        share: the part of the between-seed variance that the noise of one run's median,
            (pi/2) x within_sd^2 / steps, accounts for; None without two seeds in an arm.
    """

    within_sd: float
    between_sd: float | None
    share: float | None


@dataclasses.dataclass(frozen=True)
class Measure:
    """One measure of one network: one number per run (the second-half median), per arm.

    Attributes:
        name: the measure, as MEASURES names it.
        without: the run values without BN, one per seed.
        with_bn: the run values with BN.
        interval: Welch 95% interval of BN - no BN in log(value); None with fewer than 2 seeds
            per arm or a value that is not positive.
        tost_p: TOST p of |log ratio| < log(RATIO_MARGIN).
        noise: the single-batch noise against the seed spread.
        question: whether "does BN reduce it?" is asked of it.
    """

    name: str
    without: np.ndarray
    with_bn: np.ndarray
    interval: stats_lib.Interval | None
    tost_p: float | None
    noise: Noise
    question: bool = True

    def ratio_text(self) -> str:
        """BN / no BN with its 95% interval, e.g. "x0.62 [0.45, 0.85]"."""
        if self.interval is None:
            return "-"
        ci = self.interval
        return f"x{math.exp(ci.effect):.2f} [{math.exp(ci.low):.2f}, {math.exp(ci.high):.2f}]"

    def answer(self) -> str:
        """The three-way verdict on "does BN reduce it?", worded by the summary's rule."""
        ci = self.interval
        if ci is None:
            return "needs 2+ seeds per arm"
        inside = self.tost_p is not None and self.tost_p < stats_lib.ALPHA
        margin = f"x{RATIO_MARGIN}"
        if ci.high < 0:
            return "**yes**" + (f", inside the margin {margin}" if inside else "")
        if ci.low > 0:
            return "**no, BN raises it**" + (f", inside the margin {margin}" if inside else "")
        if inside:
            return f"**no**: no difference beyond {margin}"
        return "open: the interval spans 1 and reaches beyond the margin"


def _noise(without: list[np.ndarray], with_bn: list[np.ndarray], medians) -> Noise:
    series = [np.log(s) for s in (*without, *with_bn) if len(s) > 1 and np.all(s > 0)]
    if not series:
        return Noise(math.nan, None, None)
    within = math.sqrt(np.mean([np.mean(np.diff(s) ** 2) / 2 for s in series]))
    steps = np.mean([len(s) for s in series])
    arms = [np.log(m) for m in medians if len(m) > 1 and np.all(m > 0)]
    if not arms:
        return Noise(within, None, None)
    df = sum(len(a) - 1 for a in arms)
    between = math.sqrt(sum((len(a) - 1) * np.var(a, ddof=1) for a in arms) / df)
    noise_var = math.pi / 2 * within**2 / steps
    share = noise_var / between**2 if between > 0 else None
    return Noise(within, between, share)


def measure(name: str, pairs: list[tuple[Run, Run]]) -> Measure:
    """One measure of one network over its seeds (pairs of runs without and with BN)."""
    spec = MEASURES[name]
    series = [[second_half(run, spec) for run in arm] for arm in zip(*pairs)]
    medians = [np.array([np.median(s) for s in arm if len(s)]) for arm in series]
    positive = all(len(m) and np.all(m > 0) for m in medians)
    interval = stats_lib.welch_interval(*np.log(medians)) if positive else None
    tost_p = None if interval is None else interval.tost_p(math.log(RATIO_MARGIN))
    noise = _noise(series[0], series[1], medians)
    return Measure(name, medians[0], medians[1], interval, tost_p, noise, spec.question)


def probe_seconds(run: Run) -> float:
    """Seconds spent inside the probes during the run."""
    return sum(
        sum(r["probe_s"] for r in read_metrics(run.run_dir / f))
        for f in (ACTIVATIONS_FILE, LANDSCAPE_FILE, ICS_FILE)
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3g}"


def _share(noise: Noise) -> str:
    """The share as a percentage; ">= 100%" where the noise alone exceeds the seed spread."""
    if noise.share is None:
        return "-"
    return ">= 100%" if noise.share >= 1 else f"{100 * noise.share:.0f}%"


METHOD = (
    "- Values: each run's median over its probe steps in the second half of training (one "
    "number per run and measure); the columns without and with BN give the median of those "
    "run values over the seeds.\n"
    "- BN / no BN: the Welch 95% interval of BN - no BN in log(run value) over the seeds, shown "
    "as a ratio. 'Does BN reduce it?': **yes** when the interval lies below 1; **no, BN raises "
    "it** when it lies above 1; **no** (no difference beyond x1.25) when it spans 1 and TOST "
    f"puts the ratio inside [1/{RATIO_MARGIN}, {RATIO_MARGIN}]; open otherwise. A verdict "
    "inside that margin says so. The margin was fixed with this table, after the 2-seed runs "
    f"had been seen; fewer than {MIN_SEEDS} seeds per arm make every verdict provisional.\n"
    "- Single-batch noise: the SD of log(value) between consecutive probe steps of a run "
    "(sqrt of half the mean squared successive difference), the between-seed SD of the run "
    "medians (log, pooled over both arms), and the share of the between-seed variance that "
    "the noise of one run's median, (pi/2) x SD^2 / steps, explains. Near 0%: the seeds "
    "differ for real; near or above 100%: the single-batch noise alone could make them differ."
)


def _runs(pairs: dict[str, list[tuple[Run, Run]]]) -> list[Run]:
    return [run for ps in pairs.values() for pair in ps for run in pair]


def markdown(pairs: dict[str, list[tuple[Run, Run]]], head: list[str]) -> str:
    """summary.md after `head` (rebuild.summary_head): the per-network table, cost, and the
    answers."""
    runs = _runs(pairs)
    first = runs[0].record
    seeds = sorted({run.seed for run in runs})
    commits = sorted({r.record.get("versions", {}).get("git_commit") or "?" for r in runs})
    config = first.get("config", {})
    lines = [
        *head,
        f"- Commit(s): {', '.join(commits)}; seed(s) {', '.join(map(str, seeds))}; "
        f"{config.get('train_steps')} iterations, probes every {config.get('probe_every')} "
        f"(activations) and {config.get('landscape_every')} (landscape, ICS) iterations",
        METHOD,
        "",
    ]
    header = ["network", "measure", "seeds per arm", "without BN", "with BN"]
    header += ["BN / no BN [95% CI]", "does BN reduce it?", "single-batch SD (log)"]
    header += ["between-seed SD (log)", "seed spread from single-batch noise"]
    lines += tables.table(header)
    for base, network_pairs in pairs.items():
        n = len(network_pairs)
        short = "" if n >= MIN_SEEDS else " (provisional)"
        for name in MEASURES:
            m = measure(name, network_pairs)
            cells = [
                f"`{base}`",
                m.name,
                f"{n}{short}",
                _fmt(py_statistics.median(m.without)) if len(m.without) else "-",
                _fmt(py_statistics.median(m.with_bn)) if len(m.with_bn) else "-",
                m.ratio_text(),
                m.answer() if m.question else "",
                _fmt(m.noise.within_sd),
                _fmt(m.noise.between_sd),
                _share(m.noise),
            ]
            lines.append(tables.row(cells))
    lines += ["", "## Runs and probe cost", ""]
    header = ["run", "final test accuracy", "wall time (s)", "inside probes (s)"]
    rows = []
    for network_pairs in pairs.values():
        for run in (run for pair in network_pairs for run in pair):
            wall_s, probes_s = run.rows[-1]["elapsed_s"], probe_seconds(run)
            rows.append(
                [f"`{run.run_dir.name}`", f"{run.rows[-1]['test_accuracy']:.4f}", f"{wall_s:.0f}"]
                + [f"{probes_s:.0f}", f"{100 * probes_s / (wall_s - probes_s):.0f}%"]
            )
    lines += tables.table([*header, "probe cost (share of the time without probes)"], rows)
    return "\n".join(lines) + "\n"


def _legacy_count(text: str) -> int | None:
    """Runs in a summary written before it carried a "Finished runs" line: its cost table."""
    return len(_COST_ROW.findall(text)) or None


def write_summary(
    pairs: dict[str, list[tuple[Run, Run]]],
    results_dir: Path,
    command: str | None,
    wall: str | None,
) -> Path:
    """Writes summary.md into `results_dir` atomically when its text changes, keeping the
    provenance lines of the summary there when the runs are the same (reporting/provenance.py);
    returns its path."""
    path = Path(results_dir) / SUMMARY_FILE
    head = rebuild.summary_head(TITLE, path, _runs(pairs), command, wall, _legacy_count)
    return rebuild.write_text(path, markdown(pairs, head))
