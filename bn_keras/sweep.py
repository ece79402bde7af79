"""Runs experiments from flags/ over seeds: skips finished runs, shows sweep-wide progress.

`./run_all.sh` calls this after setting up the environment:
    python -m bn_keras.sweep [--seeds=10] [--jobs=2] [--stack_size=5] [--quick] [--force]
        [--experiments=mlp,mlp_bn] [--until_decided --seeds=3 --max_seeds=10] [--twin]

The six paper experiments run with --seeds seeds (the fixed design's 10 by default). With
--until_decided (exploratory, off by default) each pair with an UNDECIDED claim then gets one more
seed in both arms per round until its claims are decided or it has --max_seeds
(bn_keras/experiments/adaptive.py; this is optional stopping, see there). The longer extra
experiments of flags/ (Ioffe & Szegedy's setting, the 100K-iteration LeNets) run with
--extra_seeds. Each paper experiment's Keras seeds left to run train --stack_size at a time
as one stacked model in one process (bn_keras/experiments/stacks.py), each still its
own run directory; the rest, the twin's runs included, one seed per process. With --twin (the
default) and torch importable, the paper experiments also run in the PyTorch twin into
<results_dir>/pytorch/; without torch one line says so. `--probes` runs the probe experiments
of flags/probes/ instead (one seed unless --seeds is given) into results/probes/.
`--why` runs the explanation grid (bn_keras/experiments/grid.py) into results/why/.

It reads as its phases: plan the jobs (bn_keras/experiments/sweep_plan.py), choose the executor
(--executor: the local process pool, or Ray: bn_keras/experiments/executors/, docs/cluster.md),
prepare the dataset once, run the rounds (bn_keras/experiments/rounds.py), report.

Its flags are SweepOptions' (bn_keras/config/commands.py, listed in docs/flags.md). It prints
what runs and how far it got; the verdicts come once, at the end, from the final summary that
`python -m bn_keras.plot` writes (run_all.sh runs it next). The verdicts of the seed-adding rounds
go to <results_dir>/logs/sweep.log. TensorFlow loads only in the runs' processes and in the one
that prepares the dataset (--dataset, MNIST by default; another dataset's runs go to
results/<dataset>/ unless --results_dir says otherwise).
"""

import datetime
import sys
import time

from absl import flags

from bn_keras.common import cli
from bn_keras.common.errors import ConfigError
from bn_keras.config import datasets, fields
from bn_keras.config import flags as config_flags
from bn_keras.config.commands import SweepOptions
from bn_keras.experiments import executors, sweep_plan
from bn_keras.experiments.jobs import prepare_dataset
from bn_keras.experiments.rounds import Rounds, Tally

config_flags.define_flags(SweepOptions)
flags.adopt_module_key_flags(config_flags)  # --help lists them as the sweep's own


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments {argv[1:]}: all settings are --flags")
    options = config_flags.from_flags(SweepOptions)
    fields.check_fields(options)
    datasets.get(options.dataset)  # an unknown name, refused before any run is planned
    executors.check(options)  # Ray missing or an unreachable cluster, refused in seconds
    start = time.monotonic()
    plan = sweep_plan.plan(options, seeds_given=flags.FLAGS["seeds"].present)
    for note in plan.notes:
        print(note, flush=True)
    executor = executors.make(options, plan.results_dir)  # a cluster refused before any run
    try:
        rounds = Rounds(executor, options)
        first = rounds.schedule(plan.jobs)
        if first:
            prepare_data(options)
        rounds.run(first)
        if plan.pairs:
            rounds.add_seeds_until_decided(plan)
    finally:
        executor.close()
    report(plan, rounds.tally, time.monotonic() - start)


def prepare_data(options: SweepOptions) -> None:
    """Prepares the dataset once, before parallel runs start (in a child: no TensorFlow here)."""
    label = datasets.get(options.dataset).label
    print(f"preparing {label} (once, before the runs)", flush=True)
    source = prepare_dataset(
        options.dataset, options.dataset_source, options.data_dir, options.dataset_files
    )
    print(f"{label}: {source}", flush=True)


def report(plan: sweep_plan.SweepPlan, tally: Tally, seconds: float) -> None:
    """The sweep's last line: how many runs finished and failed, and where the verdicts are."""
    elapsed = datetime.timedelta(seconds=round(seconds))
    verdicts = "" if plan.grid else f"; the verdicts: python -m bn_keras.plot {plan.results_dir}"
    print(
        f"sweep: {tally.ran - tally.failed} runs finished, {tally.failed} failed, "
        f"{elapsed} wall time{verdicts}",
        flush=True,
    )
    if tally.failed:
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main, flags_parser=config_flags.parse_flags)
