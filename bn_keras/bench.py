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

import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from absl import app, flags, logging  # noqa: E402

from bn_keras.benchmark import report as bench_report  # noqa: E402
from bn_keras.benchmark.protocol import Worker  # noqa: E402

NETWORKS = ("mlp", "mlp_bn", "lenet", "lenet_bn", "lenetr", "lenetr_bn")


@dataclasses.dataclass(frozen=True)
class Option:
    """One thing timed: `variant` run by the worker `worker`."""

    worker: str
    variant: str
    description: str


# Worker processes: how each is started (TensorFlow reads these settings once, at start-up).
TF_WORKERS = {
    "tf": ({}, {}),
    "tf_onednn_off": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, {}),
    "tf_threads_1": ({}, {"intra": 1, "inter": 1}),
    "tf_inter_1": ({}, {"inter": 1}),
    "tf_inter_auto": ({"TF_NUM_INTEROP_THREADS": "0"}, {}),
}
TORCH_WORKERS = {"torch": 0, "torch_threads_1": 1}  # thread count, 0: --threads
# PyTorch's timings stop after TORCH_CAP x --seconds: with more threads than free cores its
# OpenMP threads can slow to a few steps/s, and the benchmark should still end in minutes.
TORCH_CAP = 4
BASELINE, DEFAULT = "plain", "default"
OPTIONS = {
    BASELINE: Option("tf", "plain", "model.fit, 1 step per call, no XLA (Keras's defaults)"),
    DEFAULT: Option("tf", "default", "bn_keras's defaults (steps_per_execution auto, XLA auto)"),
    "synthetic": Option("tf", "synthetic", "defaults on in-memory batches (no input work)"),
    "callback": Option("tf", "callback", "defaults + test-accuracy callback (test batch 1000)"),
    "eval_batch_10000": Option("tf", "callback_b10000", "the same, test set in one batch"),
    "jit_compile": Option("tf", "jit", "defaults with jit_compile=True (XLA)"),
    "custom_loop": Option("tf", "loop", "tf.function loop, steps_per_execution steps a call"),
    "onednn_off": Option("tf_onednn_off", "default", "defaults, TF_ENABLE_ONEDNN_OPTS=0"),
    "threads_1": Option("tf_threads_1", "default", "defaults, intra- and inter-op threads 1"),
    "inter_op_1": Option("tf_inter_1", "default", "defaults, inter-op threads 1"),
    "inter_op_auto": Option("tf_inter_auto", "default", "defaults, TensorFlow's inter-op threads"),
    "torch_memory": Option("torch", "torch_memory", "PyTorch eager, the synthetic batches"),
    "torch_loader": Option("torch", "torch_loader", "PyTorch eager, in-memory DataLoader"),
    "torch_threads_1": Option(
        "torch_threads_1", "torch_memory", "PyTorch eager, the synthetic batches, 1 thread"
    ),
}
CHOOSABLE = tuple(name for name in OPTIONS if name not in (BASELINE, DEFAULT))

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


@dataclasses.dataclass(frozen=True)
class BenchSettings:
    networks: tuple[str, ...]
    options: tuple[str, ...]
    steps: int
    seconds: float
    reps: int
    eval_every: int
    data_dir: str | None
    mnist_source: str
    torch_python: str
    threads: int


def torch_available(python: str) -> str | None:
    """PyTorch's version under `python`, or None when it cannot be imported there."""
    try:
        probe = subprocess.run(
            [python, "-c", "import torch; print(torch.__version__)"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return probe.stdout.strip() if probe.returncode == 0 else None


def _start_workers(settings: BenchSettings, tmp: Path) -> dict[str, Worker]:
    needed = {OPTIONS[name].worker for name in (BASELINE, DEFAULT, *settings.options)}
    workers = {}
    for name, (env, tf_settings) in TF_WORKERS.items():
        if name in needed:
            argument = {
                **tf_settings,
                "data_dir": settings.data_dir,
                "mnist_source": settings.mnist_source,
            }
            argv = [sys.executable, "-m", "bn_keras.benchmark.tf_worker", json.dumps(argument)]
            workers[name] = Worker(name, argv, env, tmp / f"{name}.log")
    # The torch interpreter may lack bn_keras: it needs only this package's directory.
    package_root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    for name, threads in TORCH_WORKERS.items():
        if name in needed:
            argv = [settings.torch_python, "-m", "bn_keras.benchmark.torch_worker"]
            argument = {"threads": threads or settings.threads}
            env = {"PYTHONPATH": path}
            workers[name] = Worker(name, [*argv, json.dumps(argument)], env, tmp / f"{name}.log")
    for worker in workers.values():
        worker.wait_ready()
    data = tmp / "data"
    if any(name in workers for name in TORCH_WORKERS):
        workers["tf"].call("export_data", dir=str(data))
    for name in TORCH_WORKERS:
        if name in workers:
            workers[name].call("load_data", dir=str(data))
    return workers


def run_benchmark(settings: BenchSettings) -> tuple[list[dict], dict]:
    """Times every network and option; returns one record per (network, option) and the workers'
    versions and thread counts."""
    names = (BASELINE, DEFAULT, *settings.options)
    with tempfile.TemporaryDirectory(prefix="bn_keras_bench_") as tmp:
        workers = _start_workers(settings, Path(tmp))
        try:
            records = []
            for network in settings.networks:
                records += _time_network(network, names, workers, settings)
        finally:
            for worker in workers.values():
                worker.close()
        info = {name: worker.info for name, worker in workers.items()}
    return records, info


def _time_network(network: str, names, workers: dict[str, Worker], settings) -> list[dict]:
    by_worker: dict[str, list[str]] = {}
    for name in names:
        by_worker.setdefault(OPTIONS[name].worker, []).append(OPTIONS[name].variant)
    warm = {}
    for worker_name, variants in by_worker.items():
        start = time.perf_counter()
        reply = workers[worker_name].call(
            "prepare",
            network=network,
            variants=sorted(set(variants)),
            eval_every=settings.eval_every,
            max_seconds=TORCH_CAP * settings.seconds,
        )
        warm[worker_name] = reply["warm_steps_per_s"]
        logging.info(
            "%s: %s prepared %s in %.0f s",
            network,
            worker_name,
            variants,
            time.perf_counter() - start,
        )
    unit = settings.eval_every
    steps = settings.steps or settings.seconds * warm["tf"]["default"]
    steps = max(1, math.ceil(steps / unit)) * unit
    logging.info("%s: %d steps per timing, %d repetitions", network, steps, settings.reps)
    timings = {name: [] for name in names}
    for rep in range(settings.reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:  # rotating order: ABC, BCA, CAB
            option = OPTIONS[name]
            reply = workers[option.worker].call(
                "time",
                network=network,
                variant=option.variant,
                steps=steps,
                max_seconds=TORCH_CAP * settings.seconds,
            )
            timings[name].append(reply)
    for worker in workers.values():
        worker.call("release")
    return [
        bench_report.summarize(network, name, OPTIONS[name], steps, timings, BASELINE, DEFAULT)
        for name in names
    ]


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
