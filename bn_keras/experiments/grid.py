"""The explanation grid: experiments that separate the explanations of where BN's help goes.

Command: python -m bn_keras.sweep --why --jobs=2 [--experiments=capacity,depth,learning_rate]
         [--seeds=5] (results in results/why/; one run alone: `python -m bn_keras.main` with an
         arm's flags, see `Arm.flags`)
Runtime: 260 runs of 10,000 iterations: 3:17 hours wall at --jobs=2 on the 2-core CPU (4:57
         hours of training summed over the runs; at 586d0a7, sharing the machine with other work).
Result:  results/why/summary.md, read in docs/why.md: all three explanations SUPPORTED.

- capacity: the ReLU and the sigmoid LeNet-5 at width multipliers 0.25, 0.5, 1 and 2. If capacity
  is the reason (the paper's Sec. 2.3), BN's effect on the ReLU LeNet grows as the width shrinks.
- depth: the MLP with 3, 6 and 10 hidden layers of 100 units, ReLU and sigmoid. If optimization is
  the reason (Bjorck et al. 2018), BN's help grows with depth although capacity grows too.
- learning_rate: the ReLU LeNet under Adadelta at lr 0.1-10 and under plain SGD from too small
  (0.003) to failing with BN too (10); BN may widen the range of rates that train well.

Every arm runs with and without BN over the same seeds, on the original recipe (flags/recipe.flags)
except for the factor itself, without exporting the model, and with --record_divergence, so that a
diverged run is a finished run with `diverged_at` in its result.json (counted, not retried). An arm
that two experiments share (the ReLU LeNet at width 1 under Adadelta lr 1) runs once. Jobs run seed
by seed across all arms, so a sweep cut short leaves every level with about as many seeds.
Each arm is an experiments.catalog.Experiment; no TensorFlow here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from bn_keras.common import cli
from bn_keras.config import networks
from bn_keras.experiments import catalog, jobs
from bn_keras.experiments.jobs import Job
from bn_keras.reporting.why import trend
from bn_keras.runs import reader
from bn_keras.runs.reader import Run

RESULTS_DIR = Path("results") / "why"
SEEDS = 5
# From the committed 10K runs (scripts/run_length.py at 4f84e32, since removed): the sigmoid
# LeNet and the MLP are not at steady state before about 8,000 iterations, and at 4,000 the ReLU
# LeNet's BN effect is twice its 10,000-iteration value. 10,000 iterations also spend 98% of the
# x0.7-per-epoch schedule's learning-rate mass at any initial rate (4,000: 78%).
TRAIN_STEPS = 10_000
RECIPE = "flags/recipe.flags"
COMMON = (
    f"--flagfile={RECIPE}",
    f"--train_steps={TRAIN_STEPS}",
    # Final accuracy is the grid's quantity, and at every 100 iterations the 10,000 test images
    # take about a quarter of a run's time; every 500 keeps a curve (20 points) for the eye.
    "--eval_every=500",
    "--noexport",
    "--record_divergence",
)
# A learning rate "trains well" for an arm when no run failed (diverged, or ended at chance: the
# dataset's chance_accuracy) and its mean final accuracy is at least this: within a percentage
# point of the recipe's 0.992 on the ReLU LeNet (fixed before any run of the grid).
WELL_TRAINED = 0.98


@dataclasses.dataclass(frozen=True)
class Arm:
    """One network and recipe, with or without BN: a run directory per seed."""

    model: str
    bn: bool
    width: float = 1.0
    mlp_depth: int = 3
    activation: str = "auto"
    optimizer: str = "adadelta"
    learning_rate: float = 1.0

    @property
    def name(self) -> str:
        """E.g. "lenetr_w0.25_adadelta1_bn", "mlp_d10_relu_w1_sgd0.03"."""
        deep = networks.get(self.model).depth_varies
        shape = f"d{self.mlp_depth}_{self.activation}_" if deep else ""
        recipe = f"{self.optimizer}{self.learning_rate:g}"
        return f"{self.model}_{shape}w{self.width:g}_{recipe}{'_bn' if self.bn else ''}"

    def experiment(self) -> catalog.Experiment:
        """The arm as an experiment: the grid's recipe (COMMON), then the arm's flags."""
        return catalog.Experiment(self.name, (*COMMON, *self.flags()), catalog.WHY)

    def flags(self) -> list[str]:
        """The flags of bn_keras.main for this arm, after COMMON."""
        return [
            f"--model={self.model}",
            "--bn" if self.bn else "--nobn",
            f"--width={self.width:g}",
            *([f"--mlp_depth={self.mlp_depth}"] if networks.get(self.model).depth_varies else []),
            f"--activation={self.activation}",
            f"--optimizer={self.optimizer}",
            f"--learning_rate={self.learning_rate:g}",
        ]


@dataclasses.dataclass(frozen=True)
class Series:
    """One network or optimizer along the factor: per level, the arm without and with BN."""

    label: str
    levels: tuple[float, ...]
    arm: dict  # the Arm fields shared by all levels; `factor` names the one that varies
    factor: str

    def pair(self, level: float) -> tuple[Arm, Arm]:
        """The arms without and with BN at `level`."""
        kind = int if self.factor == "mlp_depth" else float
        fields = {**self.arm, self.factor: kind(level)}
        return Arm(bn=False, **fields), Arm(bn=True, **fields)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A factor, its scale for the trend (reporting.why.trend.SCALES) and the series along it."""

    name: str
    factor: str  # the x axis, in words
    scale: str
    series: tuple[Series, ...]

    @property
    def arms(self) -> list[Arm]:
        return [arm for s in self.series for level in s.levels for arm in s.pair(level)]


WIDTHS = (0.25, 0.5, 1.0, 2.0)
DEPTHS = (3, 6, 10)
ADADELTA_RATES = (0.1, 0.3, 1.0, 3.0, 10.0)
# Past 1: in the pilot (results/why_pilot/, seed 0) the ReLU LeNet with BN still trained under
# plain SGD at lr 3 and sat at chance at lr 10; without BN it was at chance from lr 1.
SGD_RATES = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
EXPERIMENTS = {
    e.name: e
    for e in (
        Experiment(
            "capacity",
            "width multiplier",
            "log2",
            (
                Series("LeNet-5 (ReLU)", WIDTHS, {"model": "lenetr"}, "width"),
                Series("LeNet-5 (sigmoid)", WIDTHS, {"model": "lenet"}, "width"),
            ),
        ),
        Experiment(
            "depth",
            "hidden layers of 100 units",
            "linear",
            (
                Series("MLP (ReLU)", DEPTHS, {"model": "mlp", "activation": "relu"}, "mlp_depth"),
                Series(
                    "MLP (sigmoid)", DEPTHS, {"model": "mlp", "activation": "sigmoid"}, "mlp_depth"
                ),
            ),
        ),
        Experiment(
            "learning_rate",
            "initial learning rate",
            "log10",
            (
                Series("Adadelta", ADADELTA_RATES, {"model": "lenetr"}, "learning_rate"),
                Series(
                    "plain SGD",
                    SGD_RATES,
                    {"model": "lenetr", "optimizer": "sgd"},
                    "learning_rate",
                ),
            ),
        ),
    )
}


def arms(experiments: Sequence[str]) -> list[Arm]:
    """The distinct arms of the named experiments, in order.

    Raises:
        SystemExit: an experiment the grid does not have (one error line).
    """
    unknown = [e for e in experiments if e not in EXPERIMENTS]
    if unknown:
        raise SystemExit(
            cli.error_line(f"no experiment {unknown} in the grid: use some of {list(EXPERIMENTS)}")
        )
    return list(dict.fromkeys(arm for e in experiments for arm in EXPERIMENTS[e].arms))


def plan_jobs(
    experiments: Sequence[str], seeds: int, results_dir: Path, extra: Sequence[str] = ()
) -> list[Job]:
    """One job per (arm, seed), seed by seed across the arms.

    Args:
        experiments: names in EXPERIMENTS.
        seeds: seeds 0..seeds-1 per arm.
        results_dir: where the run directories go.
        extra: more flags for bn_keras.main, after the arm's (--quick's, --data_dir...).
    """
    planned = [arm.experiment() for arm in arms(experiments)]
    return [
        jobs.plan(experiment, seed, Path(results_dir), extra)
        for seed in range(seeds)
        for experiment in planned
    ]


def levels(series: Series, runs: Sequence[Run]) -> list[trend.Level]:
    """The finished runs of a series as reporting.why.trend levels: the final accuracies of the runs
    that trained, and the counts of those that diverged and of those that ended at chance (at most
    the chance_accuracy of the runs' dataset).

    Raises:
        ConfigError: the runs are of several datasets.
    """
    chance = reader.one_dataset(runs).chance_accuracy
    finished: dict[str, list[Run]] = {}
    for run in runs:
        if run.finished:
            finished.setdefault(run.experiment, []).append(run)
    out = []
    for level in series.levels:
        values, diverged, at_chance = [], [], []
        for arm in series.pair(level):
            arm_runs = finished.get(arm.name, [])
            ended = [r.final_accuracy for r in arm_runs if not _diverged(r)]
            values.append(tuple(a for a in ended if a > chance))
            diverged.append(len(arm_runs) - len(ended))
            at_chance.append(sum(a <= chance for a in ended))
        out.append(trend.Level(level, *values, tuple(diverged), tuple(at_chance)))
    return out


def _diverged(run: Run) -> bool:
    return run.result.get("diverged_at") is not None
