"""Training-speed benchmark: `python -m bn_keras.bench` prints tables and writes a CSV.

For each network it times, in the same run and interleaved (every repetition times every
measurement once, in a rotating order), two sections (`--sections`):
    speed_options: bn_keras's training paths of one seed in worker processes (tf_worker), the
        speed options as ratios to plain `model.fit`, and, when PyTorch is installed
        (`pip install .[bench]`), the original code's framework on the same networks and recipe
        (torch_worker). Options that TensorFlow reads once at start-up (oneDNN, thread counts)
        get their own worker process.
    sweep: the headline figure, the seed-steps per second over the whole machine of each
        way to run a sweep (benchmark/sweep.py): bn_keras with one seed or a stack of
        --stack_seeds seeds per process (as `train_stack` trains it), and PyTorch eager with one
        seed or a `torch.func` ensemble of as many models per process; each in 1 process with
        all the cores' threads, and in 2 single-threaded processes timed side by side. Each way
        as a ratio to the fastest PyTorch way, and whether bn_keras's fastest reaches the
        goal of 1.5x (benchmark/sweep_report.py).
Each figure is the median over `--reps` repetitions; a ratio is the median of the per-repetition
ratios, so load that comes and goes hits both sides alike. Every timing gets a noise verdict
(benchmark/noise.py: cgroup throttling, other processes' CPU time).

Its flags are BenchOptions' (bn_keras/config/commands.py, listed in docs/flags.md). The CSV goes
to git-ignored scratch/bench.csv unless --output names another file; the committed table is
rewritten only by `--output=results/bench.csv`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # for the workers: their logs stay readable

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from absl import flags  # noqa: E402

from bn_keras.benchmark import runner  # noqa: E402
from bn_keras.common import cli  # noqa: E402
from bn_keras.common.errors import ConfigError  # noqa: E402
from bn_keras.config import flags as config_flags  # noqa: E402
from bn_keras.config.commands import BenchOptions  # noqa: E402

config_flags.define_flags(BenchOptions)
flags.adopt_module_key_flags(config_flags)  # --help lists them as the benchmark's own


def _progress(message: str) -> None:
    print(f"bench: {message}", flush=True)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments {argv[1:]}: all settings are --flags")
    options = config_flags.from_flags(BenchOptions)
    settings = runner.make_settings(options)
    _progress(runner.expected_runtime(settings))
    command = " ".join(["python -m bn_keras.bench", *sys.argv[1:]])
    print(runner.benchmark(settings, Path(options.output), command, _progress))
    print(f"\nwrote {options.output}")


if __name__ == "__main__":
    cli.run(main, flags_parser=config_flags.parse_flags)
