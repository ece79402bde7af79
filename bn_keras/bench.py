"""Training-speed benchmark: `python -m bn_keras.bench` prints tables and writes results/bench.csv.

For each network it times, in the same run and interleaved (every repetition times every
measurement once, in a rotating order), bn_keras's training paths in worker processes
(bench_tf), the speed options as ratios to plain `model.fit`, and, when PyTorch is installed
(`pip install .[bench]`), the original code's framework on the same networks and recipe
(bench_torch). Options that TensorFlow reads once at start-up (oneDNN, thread counts) get their
own worker process. Each figure is the median over `--reps` repetitions; a ratio is the median
of the per-repetition ratios, so load that comes and goes hits both sides alike.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from absl import flags  # noqa: E402

from bn_keras.benchmark import runner  # noqa: E402
from bn_keras.benchmark.runner import CHOOSABLE, NETWORKS  # noqa: E402
from bn_keras.common import cli  # noqa: E402
from bn_keras.common.errors import ConfigError  # noqa: E402
from bn_keras.config.settings import MNIST_SOURCES  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("networks", list(NETWORKS), f"Networks to time, from {NETWORKS}.")
flags.DEFINE_list(
    "options", list(CHOOSABLE), f"What to time besides plain and default: {CHOOSABLE}."
)
flags.DEFINE_integer(
    "steps", 0, "Steps per timing, rounded up to --eval_every; 0: --seconds' worth."
)
flags.DEFINE_float(
    "seconds", 1.5, "With --steps=0: about this long per timing; PyTorch's stop after 4x this."
)
flags.DEFINE_integer("reps", 3, "Repetitions; each figure is their median.")
flags.DEFINE_integer("eval_every", 100, "Evaluation interval (the paper flagfiles' --eval_every).")
flags.DEFINE_string("output", "results/bench.csv", "CSV file to write.")
flags.DEFINE_string("data_dir", None, "TFDS data directory (TFDS's default when unset).")
flags.DEFINE_enum("mnist_source", "auto", MNIST_SOURCES, "How to prepare MNIST.")
flags.DEFINE_string("torch_python", sys.executable, "Python interpreter with PyTorch installed.")
flags.DEFINE_integer("threads", 0, "PyTorch's thread count; 0: the CPU count (TensorFlow's).")
flags.DEFINE_bool("quick", False, "Smoke check: mlp_bn and lenetr_bn, 1 repetition, 0.3 s each.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments {argv[1:]}: all settings are --flags")
    settings = runner.make_settings(
        networks=FLAGS.networks,
        options=FLAGS.options,
        steps=FLAGS.steps,
        seconds=FLAGS.seconds,
        reps=FLAGS.reps,
        eval_every=FLAGS.eval_every,
        data_dir=FLAGS.data_dir,
        mnist_source=FLAGS.mnist_source,
        torch_python=FLAGS.torch_python,
        threads=FLAGS.threads,
        quick=FLAGS.quick,
    )
    command = " ".join(["python -m bn_keras.bench", *sys.argv[1:]])
    print(runner.benchmark(settings, Path(FLAGS.output), command))
    print(f"\nwrote {FLAGS.output}")


if __name__ == "__main__":
    cli.run(main)
