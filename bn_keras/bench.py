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

import datetime  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from absl import app, flags, logging  # noqa: E402

from bn_keras.benchmark import report as bench_report  # noqa: E402
from bn_keras.benchmark.runner import (  # noqa: E402
    CHOOSABLE,
    NETWORKS,
    OPTIONS,
    TORCH_WORKERS,
    BenchSettings,
    run_benchmark,
    torch_available,
)

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
flags.DEFINE_enum("mnist_source", "auto", ("auto", "tfds", "offline"), "How to prepare MNIST.")
flags.DEFINE_string("torch_python", sys.executable, "Python interpreter with PyTorch installed.")
flags.DEFINE_integer("threads", 0, "PyTorch's thread count; 0: the CPU count (TensorFlow's).")
flags.DEFINE_bool("quick", False, "Smoke check: mlp_bn and lenetr_bn, 1 repetition, 0.3 s each.")


def settings_from_flags() -> BenchSettings:
    networks, options, reps, seconds = FLAGS.networks, FLAGS.options, FLAGS.reps, FLAGS.seconds
    if FLAGS.quick:
        networks, reps, seconds = ["mlp_bn", "lenetr_bn"], 1, 0.3
    for name in networks:
        if name not in NETWORKS:
            raise app.UsageError(f"--networks: {name!r} is unknown, use some of {NETWORKS}")
    for name in options:
        if name not in CHOOSABLE:
            raise app.UsageError(f"--options: {name!r} is unknown, use some of {CHOOSABLE}")
    if FLAGS.reps < 1 or FLAGS.steps < 0 or FLAGS.eval_every < 1:
        raise app.UsageError("--reps and --eval_every must be positive, --steps at least 0")
    options = list(options)
    if any(OPTIONS[name].worker in TORCH_WORKERS for name in options):
        version = torch_available(FLAGS.torch_python)
        if version is None:
            print(
                f"PyTorch is not importable by {FLAGS.torch_python}: skipping the PyTorch "
                "reference (pip install '.[bench]', or --torch_python=/path/to/python)"
            )
            options = [name for name in options if OPTIONS[name].worker not in TORCH_WORKERS]
    return BenchSettings(
        networks=tuple(networks),
        options=tuple(options),
        steps=FLAGS.steps,
        seconds=seconds,
        reps=reps,
        eval_every=FLAGS.eval_every,
        data_dir=FLAGS.data_dir,
        mnist_source=FLAGS.mnist_source,
        torch_python=FLAGS.torch_python,
        threads=FLAGS.threads or os.cpu_count() or 1,
    )


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    settings = settings_from_flags()
    if settings.reps < 3:
        logging.warning("--reps=%d: medians need at least 3 repetitions", settings.reps)
    started = datetime.datetime.now(datetime.timezone.utc)
    records, info = run_benchmark(settings)
    context = {
        "date": started.isoformat(timespec="seconds"),
        "wall_s": round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()),
        "command": " ".join(["python -m bn_keras.bench", *sys.argv[1:]]),
        "machine": f"{platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs",
        "tensorflow": info["tf"]["tensorflow"],
        "keras": info["tf"]["keras"],
        "torch": info.get("torch", {}).get("torch", ""),
        "torch_threads": info.get("torch", {}).get("threads", ""),
        "reps": settings.reps,
    }
    output = Path(FLAGS.output)
    bench_report.write_csv(output, records, context)
    print(bench_report.tables(records, context))
    print(f"\nwrote {output}")


if __name__ == "__main__":
    app.run(main)
