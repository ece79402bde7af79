"""The confirmatory grid: three explanations of where BN's help goes, each one contrast, on MNIST
and Fashion-MNIST, by the design registered in docs/why_design.md before its runs.

Command: python -m bn_keras.sweep --confirm --dataset=mnist (into results/confirm/mnist/)
         python -m bn_keras.sweep --confirm --dataset=fashion_mnist (results/confirm/fashion_mnist/)
         then python -m bn_keras.plot results/confirm
Runtime: 12 arms x SEEDS seeds of 10,000 iterations per dataset; docs/why_design.md gives the
         estimate and results/confirm/summary.md the measured wall and training time.
Result:  results/confirm/summary.md, one verdict per contrast and dataset, Holm across all six.

- capacity: the ReLU LeNet-5 at width 0.25 and 1: BN's effect at the narrow width minus its effect
  at the recipe's. The paper (Sec. 2.3) predicts it positive.
- depth: the ReLU MLP with 10 hidden layers of 100 units against 3 hidden layers of 154 (the same
  parameter count to 0.2%): BN's effect in the deep network minus in the shallow wide one, so that
  depth, not capacity, is what differs. Optimization (Bjorck et al. 2018) predicts it positive.
- step_size: the ReLU LeNet-5 under Adadelta at lr 0.1 and 10 against lr 1: the mean of BN's
  effects at the two rates a decade off the recipe's minus its effect at lr 1. "The recipe's step
  size masks BN's help" predicts it positive.

Every run records the training set's loss and accuracy at each evaluation (--eval_train), its
test predictions (--save_predictions) and the design file's hash (--design). Seeds start at
FIRST_SEED, so no run repeats one of the exploratory grid's (experiments/grid.py, seeds 0-4).
Jobs run seed by seed across all arms, so a grid cut short leaves every arm with about as many
seeds. No TensorFlow here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bn_keras.experiments import catalog, grid, jobs
from bn_keras.experiments.jobs import Job
from bn_keras.reporting.why import confirmatory

DESIGN = Path("docs/why_design.md")
# The smallest growth that matters, m, per dataset (docs/why_design.md says why).
MARGINS = {"mnist": 0.002, "fashion_mnist": 0.01}
RESULTS_DIR = Path("results") / "confirm"
FIRST_SEED = 200
SEEDS = 10
EVAL_EVERY = 1000
COMMON = (
    f"--flagfile={grid.RECIPE}",
    f"--train_steps={grid.TRAIN_STEPS}",
    f"--eval_every={EVAL_EVERY}",
    "--noexport",
    "--record_divergence",
    "--eval_train",
    "--save_predictions",
    # The training set's pass costs about 39% of 1,000 steps, 29% with BN folded into the
    # layer before it (the same outputs up to float rounding).
    "--fold_bn_eval",
    f"--design={DESIGN}",
)
# 3 hidden layers of 154 units: 2 x 154^2 + 797 x 154 + 10 = 170,180 weights and biases, against
# 170,410 for 10 hidden layers of 100 (784 x 100 + 9 x 100^2 + 100 x 10, with biases).
EQUAL_PARAMETER_WIDTH = 1.54


@dataclasses.dataclass(frozen=True)
class Contrast:
    """One hypothesis' primary test: a weighted sum of BN's effects at levels of the grid.

    Attributes:
        name: e.g. "capacity".
        question: the hypothesis in words, with its predicted sign.
        levels: (level, weight) pairs; a level is an Arm's fields without `bn`, its effect the
            mean final accuracy with BN minus without.
    """

    name: str
    question: str
    levels: tuple[tuple[dict, float], ...]

    def arms(self) -> list[tuple[grid.Arm, float]]:
        """Each arm with its weight in the contrast of arm means (+w with BN, -w without)."""
        return [
            (grid.Arm(bn=bn, **fields), weight if bn else -weight)
            for fields, weight in self.levels
            for bn in (False, True)
        ]


LENETR = {"model": "lenetr"}
RELU_MLP = {"model": "mlp", "activation": "relu"}
CONTRASTS = (
    Contrast(
        "capacity",
        "ReLU LeNet-5: BN's effect at width 0.25 minus at width 1 is positive",
        (({**LENETR, "width": 0.25}, 1.0), ({**LENETR, "width": 1.0}, -1.0)),
    ),
    Contrast(
        "depth",
        "ReLU MLP at equal parameters: BN's effect with 10 hidden layers of 100 minus with 3 of "
        "154 is positive",
        (
            ({**RELU_MLP, "mlp_depth": 10}, 1.0),
            ({**RELU_MLP, "mlp_depth": 3, "width": EQUAL_PARAMETER_WIDTH}, -1.0),
        ),
    ),
    Contrast(
        "step_size",
        "ReLU LeNet-5 under Adadelta: the mean of BN's effects at lr 0.1 and 10 minus at lr 1 is "
        "positive",
        (
            ({**LENETR, "learning_rate": 0.1}, 0.5),
            ({**LENETR, "learning_rate": 10.0}, 0.5),
            ({**LENETR, "learning_rate": 1.0}, -1.0),
        ),
    ),
)


def arms() -> list[grid.Arm]:
    """The grid's distinct arms, in the contrasts' order (the ReLU LeNet at width 1 and lr 1 is
    shared by two contrasts and runs once)."""
    return list(dict.fromkeys(arm for c in CONTRASTS for arm, _ in c.arms()))


def experiment(arm: grid.Arm) -> catalog.Experiment:
    """The arm as an experiment: this grid's recipe (COMMON), then the arm's flags."""
    return catalog.Experiment(arm.name, (*COMMON, *arm.flags()), catalog.WHY)


def planned_runs() -> int:
    """The runs the design fixes: every arm at every seed on every dataset."""
    return len(arms()) * SEEDS * len(MARGINS)


def seeds(count: int = SEEDS) -> range:
    """The grid's seeds: `count` of them from FIRST_SEED."""
    return range(FIRST_SEED, FIRST_SEED + count)


def results_dir(dataset: str, root: Path = RESULTS_DIR) -> Path:
    """Where one dataset's runs go: <root>/<dataset>."""
    return root / dataset


def plan_jobs(count: int, directory: Path, extra: tuple[str, ...] | list[str] = ()) -> list[Job]:
    """One job per (arm, seed), seed by seed across the arms.

    Args:
        count: seeds per arm, from FIRST_SEED.
        directory: where the run directories go (one dataset's).
        extra: more flags for bn_keras.main, after the arm's (the dataset's, --quick's...).
    """
    planned = [experiment(arm) for arm in arms()]
    return [jobs.plan(e, seed, Path(directory), extra) for seed in seeds(count) for e in planned]


def report_contrasts(
    dataset: str, contrasts: tuple | list = CONTRASTS
) -> list[confirmatory.Contrast]:
    """The contrasts of `dataset` as the report reads them (reporting.why.confirmatory), with
    its margin (MARGINS)."""
    out = []
    for contrast in contrasts:
        levels = []
        for fields, weight in contrast.levels:
            without, with_bn = grid.Arm(bn=False, **fields), grid.Arm(bn=True, **fields)
            label = ", ".join(f"{k} {v:g}" for k, v in fields.items() if not isinstance(v, str))
            levels.append((label, without.name, with_bn.name, weight))
        out.append(
            confirmatory.bn_contrast(
                dataset, contrast.name, levels, MARGINS[dataset], contrast.question
            )
        )
    return out


def selectors(seeds_from: int | None = FIRST_SEED) -> dict:
    """Arm name -> a predicate picking that arm's runs (from seed `seeds_from` on; None: any)."""

    def picks(name: str):
        return lambda run: run.experiment == name and (seeds_from is None or run.seed >= seeds_from)

    return {arm.name: picks(arm.name) for arm in arms()}


# The exploratory grid (experiments/grid.py) re-read by this design's rule: it has the capacity
# and step-size levels, but no MLP of equal parameters, so its depth contrast compares 10 and 3
# hidden layers of 100 units (capacity grows with depth there).
EXPLORATORY_DEPTH = Contrast(
    "depth",
    "ReLU MLP: BN's effect with 10 hidden layers of 100 minus with 3 of 100 (not at equal "
    "parameters) is positive",
    (({**RELU_MLP, "mlp_depth": 10}, 1.0), ({**RELU_MLP, "mlp_depth": 3}, -1.0)),
)


def exploratory_contrasts(dataset: str = "mnist") -> list[confirmatory.Contrast]:
    """The exploratory grid's contrasts for the re-reading (report_contrasts' form)."""
    chosen = [c if c.name != "depth" else EXPLORATORY_DEPTH for c in CONTRASTS]
    return report_contrasts(dataset, chosen)
