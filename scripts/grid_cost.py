"""What issue 22's grid costs on the 2-core CPU, estimated from the committed runs' speeds.

How: the committed 10,000-iteration runs were made two at a time (sweep --jobs=2), so each run's
train_seconds (result.json: training and its 100 evaluations) is its wall time with another run
beside it. Per paper network and BN setting this takes the median over the runs of the newest
code that made them: results/bn_impl_fast/ for BN (FastBatchNormalization, the default since
22c217a), results/ at the newest commit for the networks without BN. Each run also pays a start
(Python, TensorFlow, MNIST, compiling): the committed mlp_bn sweep of results/bn_impl_fast/ ran 7
runs in its logged wall time, which, less half their train_seconds, leaves this per run.

A variant is priced from its paper network (same model, BN and activation; the ReLU MLP as the
sigmoid one) at runs of --steps iterations (grid.TRAIN_STEPS), two ways:
- low: at the paper network's time (small networks on a CPU are bound by per-step overhead);
- high: at that time times the variant's multiply-accumulates per image over the paper network's,
  where that ratio is above 1 (width 2: 3.4x, 6 and 10 hidden layers: 1.3x and 1.7x).
SGD is priced as Adadelta. The grid's wall time at --jobs=2 is the sum over runs of (run time +
start) / 2.

    python scripts/grid_cost.py [--seeds=5] [--experiments=capacity,depth,learning_rate]
        [--steps=10000]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

from bn_keras.experiments import grid
from bn_keras.reporting.summary import Run, load_runs

SWEEP_LOG = Path("results/bn_impl_fast/sweep_mlp_bn.log")


def macs(arm: grid.Arm) -> int:
    """Multiply-accumulates of one image's forward pass through the arm's affine layers."""
    from bn_keras.models.networks import scaled  # the rounding rule, said once (loads Keras)

    if arm.model == "mlp":
        units = scaled(100, arm.width)
        return 784 * units + (arm.mlp_depth - 1) * units * units + units * 10
    c1, c2, f1, f2 = (scaled(n, arm.width) for n in (6, 16, 120, 84))
    return 28 * 28 * c1 * 25 + 10 * 10 * c2 * 25 * c1 + 25 * c2 * f1 + f1 * f2 + f2 * 10


def _paper(arm: grid.Arm) -> grid.Arm:
    activation = "sigmoid" if arm.model == "mlp" else "auto"
    return grid.Arm(arm.model, arm.bn, activation=activation)


def _newest(runs: list[Run]) -> list[Run]:
    latest = max(runs, key=lambda r: r.record["started"]).record["versions"]["git_commit"]
    return [r for r in runs if r.record["versions"]["git_commit"] == latest]


def base_seconds(results: Path) -> dict[tuple[str, bool], float]:
    """Median train_seconds of a 10K-iteration paper run, per (model, bn), as described above."""
    fast = [r for r in load_runs(results / "bn_impl_fast") if r.finished]
    plain = [r for r in load_runs(results) if r.finished and r.framework == "keras"]
    out = {}
    for model in ("mlp", "lenet", "lenetr"):
        for bn, pool in ((False, plain), (True, fast)):
            name = model + ("_bn" if bn else "")
            runs = [r for r in pool if r.experiment == name and r.rows[-1]["step"] == 10_000]
            out[model, bn] = statistics.median(r.result["train_seconds"] for r in _newest(runs))
    return out


def start_seconds(results: Path) -> float:
    """Per-run start cost from the logged mlp_bn sweep (2 runs at a time)."""
    log = (results.parent / SWEEP_LOG).read_text()
    h, m, s = re.search(r"(\d+):(\d\d):(\d\d) wall time", log).groups()
    wall = 3600 * int(h) + 60 * int(m) + int(s)
    names = re.findall(r"^finished (\S+):", log, re.M)
    seconds = [
        json.loads((results / "bn_impl_fast" / n / "result.json").read_text())["train_seconds"]
        for n in names
    ]
    return (2 * wall - sum(seconds)) / len(names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--seeds", type=int, default=grid.SEEDS)
    parser.add_argument("--experiments", default=",".join(grid.EXPERIMENTS))
    parser.add_argument("--steps", type=int, default=grid.TRAIN_STEPS, help="iterations per run")
    args = parser.parse_args()
    base, start = base_seconds(args.results), start_seconds(args.results)
    print("10K-iteration run, median train_seconds with another run beside it:")
    for (model, bn), seconds in sorted(base.items()):
        print(f"  {model}{'_bn' if bn else ''}: {seconds:.0f} s")
    print(f"start per run: {start:.0f} s")

    def hours(arms: list[grid.Arm]) -> str:
        """Wall hours at --jobs=2 of `arms` over the seeds, low-high."""
        seconds = [base[a.model, a.bn] * args.steps / 10_000 for a in arms]
        ratios = [max(1.0, macs(a) / macs(_paper(a))) for a in arms]
        low = sum(args.seeds * (s + start) / 2 for s in seconds)
        high = sum(args.seeds * (s * r + start) / 2 for s, r in zip(seconds, ratios))
        return f"{len(arms)} arms x {args.seeds} seeds = {len(arms) * args.seeds} runs, " + (
            f"{low / 3600:.1f}-{high / 3600:.1f} h at --jobs=2"
        )

    experiments = args.experiments.split(",")
    for experiment in experiments:
        print(f"{experiment}: {hours(grid.arms([experiment]))}")
    print(f"all (a shared arm once): {hours(grid.arms(experiments))}")


if __name__ == "__main__":
    main()
