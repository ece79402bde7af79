"""Checks beyond the six curves: Ioffe & Szegedy's Fig. 1(a) and the 100K-iteration question."""

from __future__ import annotations

import dataclasses

from bn_keras.reporting.paper.summary import Spread
from bn_keras.runs.reader import Run

# Test accuracy read off Ioffe & Szegedy (2015) Fig. 1(a), MLP with batch 60: iteration -> accuracy.
IOFFE_FIG1A = {
    "ioffe_mlp": {3600: 0.71, 11000: 0.935, 18500: 0.960, 44000: 0.972},
    "ioffe_mlp_bn": {4000: 0.953, 10000: 0.965, 20000: 0.974, 44000: 0.980, 49000: 0.982},
}
ITERATION_EXPERIMENTS = ("lenet_100k", "lenet_100k_bn", "lenet_100k_slow", "lenet_100k_slow_bn")
STEADY_TOLERANCE = 0.002  # accuracy within 0.2 points of the final value counts as steady
PAPER_STEADY_ITERATIONS = 100_000


def accuracy_at(run: Run, step: int) -> float | None:
    """Test accuracy at the evaluation nearest to `step`, None when none lies within 1% of it."""
    row = min(run.rows, key=lambda r: abs(r["step"] - step))
    return row["test_accuracy"] if abs(row["step"] - step) <= max(0.01 * step, 1) else None


@dataclasses.dataclass(frozen=True)
class IoffePoint:
    """Our accuracy next to Ioffe & Szegedy's at one iteration."""

    experiment: str
    step: int
    theirs: float
    ours: Spread


def ioffe_comparison(groups: dict[str, list[Run]]) -> list[IoffePoint]:
    """Our accuracies at the iterations read off Ioffe & Szegedy's Fig. 1(a), where we have runs."""
    points = []
    for experiment, reference in IOFFE_FIG1A.items():
        for step, theirs in reference.items():
            ours = [
                a for r in groups.get(experiment, []) if (a := accuracy_at(r, step)) is not None
            ]
            if ours:
                points.append(IoffePoint(experiment, step, theirs, Spread.of(ours)))
    return points


def steady_state_step(run: Run, tolerance: float = STEADY_TOLERANCE) -> int:
    """The first evaluated step from which every later test accuracy stays within `tolerance`
    of the run's final accuracy."""
    final = run.final_accuracy
    steady = int(run.rows[-1]["step"])
    for row in reversed(run.rows):
        if abs(row["test_accuracy"] - final) > tolerance:
            break
        steady = int(row["step"])
    return steady


@dataclasses.dataclass(frozen=True)
class IterationResult:
    """How long one 100K-iteration LeNet experiment takes to reach its steady state."""

    experiment: str
    schedule: str
    steady_step: Spread
    final: Spread
    final_learning_rate: float


def iteration_question(groups: dict[str, list[Run]]) -> list[IterationResult]:
    """Steady-state iterations and final accuracy of the 100K-iteration LeNet experiments."""
    results = []
    for experiment in ITERATION_EXPERIMENTS:
        runs = groups.get(experiment)
        if not runs:
            continue
        config = runs[0].record["config"]
        schedule = (
            "x0.7 every epoch"
            if config["lr_schedule"] == "epoch"
            else f"x0.7 every {config['lr_decay_steps']} iterations"
        )
        results.append(
            IterationResult(
                experiment=experiment,
                schedule=schedule,
                steady_step=Spread.of([steady_state_step(r) for r in runs]),
                final=Spread.of([r.final_accuracy for r in runs]),
                final_learning_rate=runs[0].rows[-1]["learning_rate"],
            )
        )
    return results


def iteration_answer(results: list[IterationResult]) -> str | None:
    """Which schedule fits the paper's "about 100K iterations to steady state", from the data.

    A schedule fits when its steady-state iteration lies within 50% of 100K; the answer names the
    closest one either way, with every experiment's steady state and final accuracy.
    """
    if not results:
        return None
    paper = PAPER_STEADY_ITERATIONS

    def distance(r: IterationResult) -> float:
        return abs(r.steady_step.mean - paper)

    closest = min(results, key=distance)
    fits = distance(closest) <= 0.5 * paper
    head = (
        f"the paper's ~{paper // 1000}K iterations to steady state fit {closest.experiment}"
        if fits
        else f"the paper's ~{paper // 1000}K iterations to steady state fit neither schedule; "
        f"the closest is {closest.experiment}"
    )
    details = "; ".join(
        f"{r.experiment} ({r.schedule}): steady from {r.steady_step.mean:.0f}, "
        f"final {r.final.mean:.4f}"
        for r in results
    )
    return f"{head} ({details})"
