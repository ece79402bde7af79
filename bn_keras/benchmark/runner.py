"""The benchmark's orchestration: worker processes, interleaved timings, one record per option.

The command is `python -m bn_keras.bench` (bn_keras/bench.py); what it measures is described there.
"""

import dataclasses
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from absl import logging

from bn_keras.benchmark import report as bench_report
from bn_keras.benchmark.protocol import Worker
from bn_keras.common.errors import ConfigError

NETWORKS = ("mlp", "mlp_bn", "lenet", "lenet_bn", "lenetr", "lenetr_bn")


@dataclasses.dataclass(frozen=True)
class Option:
    """One thing timed: `variant` run by the worker `worker`."""

    worker: str
    variant: str
    description: str
    bn_only: bool = False  # timed on the BN networks only


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
    "eval_folded": Option(
        "tf", "callback_folded", "the same, BN folded into conv/dense to evaluate", bn_only=True
    ),
    "keras_bn": Option(
        "tf", "bn_keras", "defaults with Keras's BatchNormalization (--bn_impl=keras)", bn_only=True
    ),
    "bn_fused_v3": Option("tf", "bn_fused_v3", "BN by FusedBatchNormV3", bn_only=True),
    "bn_closed_form": Option(
        "tf", "bn_closed_form", "BN closed-form gradient, TF ops, no XLA", bn_only=True
    ),
    "bn_closed_form_matmul": Option(
        "tf", "bn_closed_form_matmul", "the same, sums as matmuls", bn_only=True
    ),
    "bn_xla_autodiff": Option(
        "tf", "bn_xla_autodiff", "Keras's BN ops in one XLA function, autodiff", bn_only=True
    ),
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


def make_settings(
    networks: list[str],
    options: list[str],
    steps: int,
    seconds: float,
    reps: int,
    eval_every: int,
    data_dir: str | None,
    mnist_source: str,
    torch_python: str,
    threads: int,
    quick: bool = False,
) -> BenchSettings:
    """Checks the benchmark's settings and resolves --quick, the thread count and PyTorch.

    Options timed by PyTorch are dropped, with a warning, when `torch_python` cannot import it.

    Raises:
        ConfigError: an unknown network or option, or a count out of range.
    """
    if quick:
        networks, reps, seconds = ["mlp_bn", "lenetr_bn"], 1, 0.3
    for name in networks:
        if name not in NETWORKS:
            raise ConfigError(f"--networks: {name!r} is unknown, use some of {NETWORKS}")
    for name in options:
        if name not in CHOOSABLE:
            raise ConfigError(f"--options: {name!r} is unknown, use some of {CHOOSABLE}")
    if reps < 1 or steps < 0 or eval_every < 1:
        raise ConfigError("--reps and --eval_every must be positive, --steps at least 0")
    options = list(options)
    wants_torch = any(OPTIONS[name].worker in TORCH_WORKERS for name in options)
    if wants_torch and torch_available(torch_python) is None:
        logging.warning(
            "PyTorch is not importable by %s: skipping the PyTorch reference "
            "(pip install '.[bench]', or --torch_python=/path/to/python)",
            torch_python,
        )
        options = [name for name in options if OPTIONS[name].worker not in TORCH_WORKERS]
    if reps < 3:
        logging.warning("--reps=%d: medians need at least 3 repetitions", reps)
    return BenchSettings(
        networks=tuple(networks),
        options=tuple(options),
        steps=steps,
        seconds=seconds,
        reps=reps,
        eval_every=eval_every,
        data_dir=data_dir,
        mnist_source=mnist_source,
        torch_python=torch_python,
        threads=threads or os.cpu_count() or 1,
    )


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
    package_root = str(Path(__file__).resolve().parents[2])
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
    if not network.endswith("_bn"):
        names = tuple(name for name in names if not OPTIONS[name].bn_only)
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


def benchmark(settings: BenchSettings, output: Path, command: str) -> str:
    """Runs the benchmark, writes its CSV to `output` and returns its tables as text.

    Args:
        settings: what to time (make_settings).
        output: the CSV file to write.
        command: the command line, for the CSV's provenance.
    """
    started = datetime.datetime.now(datetime.timezone.utc)
    records, info = run_benchmark(settings)
    context = {
        "date": started.isoformat(timespec="seconds"),
        "wall_s": round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()),
        "command": command,
        "machine": f"{platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs",
        "tensorflow": info["tf"]["tensorflow"],
        "keras": info["tf"]["keras"],
        "torch": info.get("torch", {}).get("torch", ""),
        "torch_threads": info.get("torch", {}).get("threads", ""),
        "reps": settings.reps,
    }
    bench_report.write_csv(output, records, context)
    return bench_report.tables(records, context)
