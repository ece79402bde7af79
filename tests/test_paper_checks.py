"""Ioffe & Szegedy's Fig. 1(a) side by side, and the steady state of the iteration question."""

from pathlib import Path

import pytest

from bn_keras.reporting.paper import paper_checks
from bn_keras.runs.reader import Run


def _run(experiment: str, accuracies: dict[int, float], seed: int = 0, **config) -> Run:
    rows = [
        {"step": float(s), "test_accuracy": a, "learning_rate": 0.5} for s, a in accuracies.items()
    ]
    config = {"lr_schedule": "epoch", "lr_decay_steps": 938} | config
    return Run(experiment, seed, Path(f"{experiment}_seed{seed}"), {"config": config}, rows, {})


def test_accuracy_at_takes_the_nearest_evaluation_within_one_percent():
    run = _run("ioffe_mlp", {3500: 0.70, 3600: 0.72, 3700: 0.73, 10000: 0.9})
    assert paper_checks.accuracy_at(run, 3600) == 0.72
    assert paper_checks.accuracy_at(run, 3630) == 0.72
    assert paper_checks.accuracy_at(run, 11000) is None  # nearest is 10,000: too far


def test_ioffe_comparison_pairs_their_numbers_with_our_seed_means():
    steps = {s: 0.9 for s in range(0, 50001, 100)}
    runs = [
        _run("ioffe_mlp_bn", steps | {4000: 0.95}),
        _run("ioffe_mlp_bn", steps | {4000: 0.97}, 1),
    ]
    points = paper_checks.ioffe_comparison({"ioffe_mlp_bn": runs})
    assert [p.step for p in points] == [4000, 10000, 20000, 44000, 49000]
    first = points[0]
    assert first.theirs == 0.953 and first.ours.mean == pytest.approx(0.96)
    assert (first.ours.min, first.ours.max) == (0.95, 0.97)


def test_steady_state_is_where_accuracy_stops_moving():
    run = _run("lenet_100k", {0: 0.1, 500: 0.9, 1000: 0.97, 1500: 0.9855, 2000: 0.986, 2500: 0.987})
    assert paper_checks.steady_state_step(run, tolerance=0.002) == 1500
    assert paper_checks.steady_state_step(run, tolerance=0.0001) == 2500


def test_iteration_answer_names_the_schedule_closest_to_100k():
    fast = _run("lenet_100k", {0: 0.1, 20000: 0.98, 100000: 0.98})
    slow = _run(
        "lenet_100k_slow",
        {0: 0.1, 20000: 0.95, 90000: 0.99, 100000: 0.99},
        lr_schedule="steps",
        lr_decay_steps=9380,
    )
    results = paper_checks.iteration_question({"lenet_100k": [fast], "lenet_100k_slow": [slow]})
    assert [r.schedule for r in results] == ["x0.7 every epoch", "x0.7 every 9380 iterations"]
    assert [r.steady_step.mean for r in results] == [20000, 90000]
    answer = paper_checks.iteration_answer(results)
    assert answer.startswith("the paper's ~100K iterations to steady state fit lenet_100k_slow")
    assert "lenet_100k (x0.7 every epoch): steady from 20000, final 0.9800" in answer
    too_fast = paper_checks.iteration_question({"lenet_100k": [fast]})
    assert "fit neither schedule; the closest is lenet_100k" in paper_checks.iteration_answer(
        too_fast
    )
