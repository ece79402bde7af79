"""Runs into the confirmatory analysis's arms, every run counted (intention to treat).

A run that finished counts with its final test accuracy, at chance or not. A run that diverged
(result.json records `diverged_at`) counts as a network that predicts the training set's most
frequent class for every test image: its accuracy is that class's share of the test labels,
whatever accuracy it recorded when it stopped. A run that has not finished is no result yet and
is left out (the report counts it). Per-image scores come from each run's test_predictions.npy
(the predicted class of each test image, in the test set's order) against the caller's labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from bn_keras.common.errors import RecordError
from bn_keras.config.datasets import Dataset
from bn_keras.reporting.why.confirmatory import Arm
from bn_keras.runs.predictions import read_predictions
from bn_keras.runs.reader import Run
from bn_keras.runs.run_dir import PREDICTIONS_FILE

TRAIN_SET_COLUMNS = ("train_set_accuracy", "train_set_loss")  # metrics.csv, with --eval_train
# A run's final accuracy and the share its predictions get right may differ by the recorded
# accuracy's rounding (4 decimals); more means the predictions are of another run or test set.
PREDICTIONS_TOLERANCE = 1e-3

Selector = Sequence[Path] | Callable[[Run], bool]


def diverged(run: Run) -> bool:
    return run.result is not None and run.result.get("diverged_at") is not None


def majority_class(dataset: Dataset) -> int:
    """The training set's most frequent class (the lowest label on a tie)."""
    return int(np.argmax(dataset.train_class_counts))


def failure_accuracy(dataset: Dataset) -> float:
    """The test accuracy of predicting the training set's most frequent class everywhere."""
    return dataset.test_class_counts[majority_class(dataset)] / dataset.test_examples


def run_accuracy(run: Run, dataset: Dataset) -> float:
    """The run's test accuracy by the failure rule (the run must have finished)."""
    if diverged(run):
        return failure_accuracy(dataset)
    final = (run.result or {}).get("final_test_accuracy")
    return float(final) if final is not None else run.final_accuracy


def run_correct(run: Run, dataset: Dataset, labels: np.ndarray) -> np.ndarray | None:
    """Whether the run classified each test image right; None when its predictions are missing.

    Raises:
        RecordError: the predictions do not match the test labels in number, or score an
            accuracy other than the run's recorded one.
    """
    if diverged(run):
        return labels == majority_class(dataset)
    predictions = read_predictions(run.run_dir)
    if predictions is None:
        return None
    path = run.run_dir / PREDICTIONS_FILE
    if predictions.shape != labels.shape:
        raise RecordError(
            f"{path} holds {predictions.shape} predictions for {labels.shape} test labels: "
            "score it against the test set it was predicted on"
        )
    correct = predictions == labels
    if abs(correct.mean() - run_accuracy(run, dataset)) > PREDICTIONS_TOLERANCE:
        raise RecordError(
            f"{path} scores {correct.mean():.4f} but the run recorded "
            f"{run_accuracy(run, dataset):.4f}: its predictions are of another run or test set"
        )
    return correct


def train_set(run: Run) -> tuple[float, float] | None:
    """The final train-set (accuracy, loss) of a run evaluated on its training set, else None."""
    if diverged(run) or not run.rows:
        return None
    values = tuple(run.rows[-1].get(column, math.nan) for column in TRAIN_SET_COLUMNS)
    return None if any(math.isnan(v) for v in values) else values


def select(runs: Iterable[Run], selector: Selector) -> list[Run]:
    """The runs a selector picks: those in its list of run directories, or those it accepts."""
    if callable(selector):
        return [run for run in runs if selector(run)]
    wanted = {Path(d).resolve() for d in selector}
    return [run for run in runs if run.run_dir.resolve() in wanted]


def finished(runs: Iterable[Run]) -> list[Run]:
    """The runs with a result: those that ended, finished or diverged."""
    return [run for run in runs if run.result is not None]


def arms_from_runs(
    runs: Sequence[Run],
    selectors: Mapping[str, Selector],
    dataset: Dataset,
    labels: np.ndarray | None = None,
) -> dict[str, Arm]:
    """Each named arm from the runs its selector picks, ordered by seed.

    Args:
        runs: the runs of one dataset (runs.reader.load_runs).
        selectors: arm name -> run directories, or a predicate on a run.
        dataset: the runs' dataset, for the failure rule.
        labels: the test labels in the test set's order; None: no per-image scores.

    Returns:
        Arm name -> arm (its runs that ended; per-image scores when every one has them).
    """
    arms = {}
    for name, selector in selectors.items():
        chosen = sorted(finished(select(runs, selector)), key=lambda run: run.seed)
        correct = None
        if labels is not None and chosen:
            scores = [run_correct(run, dataset, labels) for run in chosen]
            correct = None if any(s is None for s in scores) else np.stack(scores)
        accuracies = tuple(run_accuracy(run, dataset) for run in chosen)
        arms[name] = Arm(name, accuracies, correct, sum(diverged(run) for run in chosen))
    return arms
