"""How long must issue 22's runs be? When the committed 10,000-iteration runs reach steady state.

The learning rate decays per epoch whatever --train_steps is, so a run of S iterations is the
first S iterations of a 10,000-iteration run with the same seed: its final accuracy is the
committed run's accuracy at S. For each paper network and each S this prints, over the committed
seeds:

- the accuracy at S and at 10,000 (mean over seeds);
- the gain from S to the end, per seed: the mean accuracy over 8,000-10,000 minus the mean over
  the last fifth of the shorter run (0.8 S to S), which smooths the test set's evaluation noise,
  with its 95% t interval;
- BN's effect (BN minus no BN) on the accuracy at S with its Welch interval, and how much that
  effect changes from S to 10,000 (Welch interval of the per-seed gains, BN arm minus the other).

And the steady-state step of each seed (the first evaluation from which every later one stays
within 0.002 of the final accuracy, reporting.paper_checks.steady_state_step).

    python scripts/run_length.py [--results=results] [--steps=2000,3000,4000,6000]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

from bn_keras.reporting import paper_checks
from bn_keras.reporting import statistics as stats_lib
from bn_keras.reporting.summary import Run, Spread, group_by_experiment, load_runs

NETWORKS = ("lenetr", "lenet", "mlp")
FULL = 10_000
FINAL_WINDOW = (8_000, 10_000)


def _window_mean(run: Run, low: float, high: float) -> float:
    values = [r["test_accuracy"] for r in run.rows if low <= r["step"] <= high]
    return float(np.mean(values))


def _at(run: Run, step: int) -> float:
    (value,) = [r["test_accuracy"] for r in run.rows if int(r["step"]) == step]
    return value


def _gains(runs: list[Run], steps: int) -> list[float]:
    end = [_window_mean(r, *FINAL_WINDOW) for r in runs]
    short = [_window_mean(r, 0.8 * steps, steps) for r in runs]
    return [e - s for e, s in zip(end, short)]


def _interval(values: list[float]) -> str:
    spread = Spread.of(values)
    return f"{spread.mean:+.4f} [{spread.ci_low:+.4f}, {spread.ci_high:+.4f}]"


def _welch(first: list[float], second: list[float]) -> str:
    interval = stats_lib.welch_interval(first, second)
    return f"{interval.effect:+.4f} [{interval.low:+.4f}, {interval.high:+.4f}]"


def report(results_dir: Path, lengths: list[int]) -> str:
    """The tables described in the module docstring, as Markdown."""
    groups = group_by_experiment(
        [
            r
            for r in load_runs(results_dir)
            if r.finished and r.framework == "keras" and int(r.rows[-1]["step"]) == FULL
        ]
    )
    lines = [
        f"Committed {FULL:,}-iteration runs in {results_dir}/; accuracies are test accuracies, "
        "intervals 95%.",
        "",
        "| network | BN | seeds | steady from (mean, max) | S | acc at S | acc at 10K | "
        "gain S -> end (per seed, windows) | BN effect at S | BN effect at 10K | "
        "effect change S -> end |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for network in NETWORKS:
        arms = {bn: groups.get(network + ("_bn" if bn else ""), []) for bn in (False, True)}
        for bn, runs in arms.items():
            steady = [paper_checks.steady_state_step(r) for r in runs]
            for steps in lengths:
                at_s = {b: [_at(r, steps) for r in rs] for b, rs in arms.items()}
                at_end = {b: [r.final_accuracy for r in rs] for b, rs in arms.items()}
                gains = {b: _gains(rs, steps) for b, rs in arms.items()}
                lines.append(
                    f"| {network} | {'yes' if bn else 'no'} | {len(runs)} | "
                    f"{statistics.fmean(steady):,.0f}, {max(steady):,} | {steps:,} | "
                    f"{statistics.fmean(at_s[bn]):.4f} | {statistics.fmean(at_end[bn]):.4f} | "
                    f"{_interval(gains[bn])} | "
                    + (
                        f"{_welch(at_s[False], at_s[True])} | "
                        f"{_welch(at_end[False], at_end[True])} | "
                        f"{_welch(gains[False], gains[True])} |"
                        if bn
                        else "| | |"
                    )
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--steps", default="2000,3000,4000,6000")
    args = parser.parse_args()
    print(report(args.results, [int(s) for s in args.steps.split(",")]))


if __name__ == "__main__":
    main()
