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
from collections.abc import Callable
from pathlib import Path

from absl import logging

from bn_keras.benchmark import report as bench_report
from bn_keras.benchmark import sweep, sweep_report
from bn_keras.benchmark.protocol import Worker
from bn_keras.common import cpu
from bn_keras.config.commands import (
    BENCH_OPTIONS,
    BENCH_QUICK_NETWORKS,
    BENCH_QUICK_STACK_SEEDS,
    BENCH_QUICK_SWEEP_NETWORKS,
    BenchOptions,
)
from bn_keras.config.fields import check_fields
from bn_keras.config.names import PAPER_EXPERIMENTS, split_experiment

NETWORKS = PAPER_EXPERIMENTS


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
    "tf_threads_1_twin": ({}, {"intra": 1, "inter": 1}),  # beside tf_threads_1 (sweep section)
}
TORCH_WORKERS = {"torch": 0, "torch_threads_1": 1, "torch_threads_1_twin": 1}  # 0: --threads
SPEED_OPTIONS, SWEEP = "speed_options", "sweep"  # the sections (config.commands.BENCH_SECTIONS)
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
# The names --options accepts (config.commands.BENCH_OPTIONS; a test checks they are OPTIONS').
CHOOSABLE = BENCH_OPTIONS
# With BENCH_QUICK_NETWORKS; the sweep section on BENCH_QUICK_SWEEP_NETWORKS only.
QUICK = {"reps": 1, "seconds": 0.3, "stack_seeds": BENCH_QUICK_STACK_SEEDS}
# expected_runtime's model of a run on an idle 2-core CPU: the workers' start, each measurement's
# compilation per network, and each timing's cost beyond its --seconds. Fitted to the full run of
# docs/speed.md (19 min, 306 timings, 102 compilations) and the 85 s that --quick's start and
# first network took (docs/speed.md).
START_S, COMPILE_S, TIMING_OVERHEAD_S = 30.0, 3.4, 1.0
# The sweep section's preparation of a stacked variant (compilation, then 2 x --eval_every steps of
# S seeds to warm up): a guess from the stacks' prototype rates, not yet fitted to a full run.
STACK_COMPILE_S = 8.0


@dataclasses.dataclass(frozen=True)
class BenchSettings:
    """What one benchmark times, resolved from BenchOptions (make_settings)."""

    networks: tuple[str, ...]  # every network timed, in order
    sections: tuple[str, ...]
    options: tuple[str, ...]  # the speed_options section's
    steps: int
    seconds: float
    reps: int
    eval_every: int
    dataset: str
    data_dir: str | None
    dataset_source: str
    dataset_files: str | None
    torch_python: str
    threads: int
    stack_seeds: int = 1
    with_torch: bool = False  # PyTorch is importable and a section times it
    sweep_networks: tuple[str, ...] = ()  # the networks the sweep section times


def make_settings(options: BenchOptions) -> BenchSettings:
    """Checks the benchmark's options and resolves --quick, the thread count and PyTorch.

    Options and ways to run a sweep timed by PyTorch are dropped, with a warning, when the
    PyTorch interpreter (--torch_python, default this one) cannot import it.

    Raises:
        ConfigError: an unknown network or option, or a count out of range.
    """
    check_fields(options)
    if options.quick:
        options = dataclasses.replace(options, networks=",".join(BENCH_QUICK_NETWORKS), **QUICK)
    sections = tuple(options.section_list)
    networks = tuple(options.network_list)
    sweep_networks = ()
    if SWEEP in sections:
        sweep_networks = BENCH_QUICK_SWEEP_NETWORKS if options.quick else networks
    if SPEED_OPTIONS not in sections:
        networks = sweep_networks
    names = options.option_list if SPEED_OPTIONS in sections else []
    torch_python = options.torch_python or sys.executable
    wants_torch = SWEEP in sections or any(OPTIONS[n].worker in TORCH_WORKERS for n in names)
    with_torch = wants_torch and torch_available(torch_python) is not None
    if wants_torch and not with_torch:
        logging.warning(
            "PyTorch is not importable by %s: skipping the PyTorch reference "
            "(pip install '.[bench]', or --torch_python=/path/to/python)",
            torch_python,
        )
        names = [name for name in names if OPTIONS[name].worker not in TORCH_WORKERS]
    if options.reps < 3:
        logging.warning("--reps=%d: medians need at least 3 repetitions", options.reps)
    return BenchSettings(
        networks=networks,
        sections=sections,
        options=tuple(names),
        steps=options.steps,
        seconds=options.seconds,
        reps=options.reps,
        eval_every=options.eval_every,
        dataset=options.dataset,
        data_dir=options.data_dir,
        dataset_source=options.dataset_source,
        dataset_files=options.dataset_files,
        torch_python=torch_python,
        threads=options.threads or os.cpu_count() or 1,
        stack_seeds=options.stack_seeds,
        with_torch=with_torch,
        sweep_networks=sweep_networks,
    )


def _speed_names(settings: BenchSettings) -> tuple[str, ...]:
    """What the speed_options section times: plain fit, the defaults and --options."""
    return (BASELINE, DEFAULT, *settings.options) if SPEED_OPTIONS in settings.sections else ()


def _sweep_ways(settings: BenchSettings) -> dict[str, sweep.Way]:
    """The ways the sweep section times: all, less PyTorch's where it is not importable."""
    if SWEEP not in settings.sections:
        return {}
    needed = sweep.workers_needed(settings.with_torch)
    return {n: w for n, w in sweep.WAYS.items() if all(x in needed for x in w.workers)}


def expected_runtime(settings: BenchSettings) -> str:
    """What will be timed and about how long it takes on an idle 2-core CPU, as one line.

    The estimate: the workers' start (TensorFlow, the dataset), each network's compilation of every
    measurement, then `reps` rounds of every measurement at about --seconds each (START_S,
    COMPILE_S, TIMING_OVERHEAD_S). The sweep section's ways count as one timing each, its two
    processes side by side as one, and each group of workers' variants is compiled once
    (STACK_COMPILE_S for a stack). Other load on the machine makes it longer.
    """
    names = _speed_names(settings)
    per_network = [
        [n for n in names if split_experiment(network)[1] or not OPTIONS[n].bn_only]
        for network in settings.networks
    ]
    ways = _sweep_ways(settings)
    compiles = [
        STACK_COMPILE_S if variant in sweep.STACKED_VARIANTS else COMPILE_S
        for _, variants in sweep.preparations(ways)
        for variant in variants
    ]
    swept = len(settings.sweep_networks)
    timings = (sum(len(n) for n in per_network) + len(ways) * swept) * settings.reps
    seconds = START_S + sum(COMPILE_S * len(n) for n in per_network)
    seconds += swept * sum(compiles)
    seconds += timings * (settings.seconds + TIMING_OVERHEAD_S)
    return (
        f"{len(settings.networks)} networks, {timings} timings in all; expect about "
        f"{max(1, round(seconds / 60))} min on an idle 2-core CPU"
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


Progress = Callable[[str], None]


def _start_workers(settings: BenchSettings, tmp: Path, progress: Progress) -> dict[str, Worker]:
    needed = {OPTIONS[name].worker for name in _speed_names(settings)} | {"tf"}  # exports the data
    needed |= {worker for way in _sweep_ways(settings).values() for worker in way.workers}
    progress(f"starting {len(needed)} worker processes (TensorFlow, PyTorch, {settings.dataset})")
    workers = {}
    for name, (env, tf_settings) in TF_WORKERS.items():
        if name in needed:
            argument = {
                **tf_settings,
                "dataset": settings.dataset,
                "data_dir": settings.data_dir,
                "dataset_source": settings.dataset_source,
                "dataset_files": settings.dataset_files,
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
            workers[name].call("load_data", dir=str(data), dataset=settings.dataset)
    return workers


def run_benchmark(
    settings: BenchSettings, progress: Progress = logging.info
) -> tuple[list[dict], dict]:
    """Times every network in each section; returns one record per (network, option or way) and
    the workers' versions and thread counts. `progress` is told what starts, as it starts."""
    names = _speed_names(settings)
    with tempfile.TemporaryDirectory(prefix="bn_keras_bench_") as tmp:
        workers = _start_workers(settings, Path(tmp), progress)
        try:
            records = []
            for i, network in enumerate(settings.networks, 1):
                progress(f"{network} ({i}/{len(settings.networks)}): compiling")
                if names:
                    records += _time_network(network, names, workers, settings, progress)
                if network in settings.sweep_networks:
                    cap = TORCH_CAP * settings.seconds
                    records += sweep.time_network(network, workers, settings, cap, progress)
        finally:
            for worker in workers.values():
                worker.close()
        info = {name: worker.info for name, worker in workers.items()}
    return records, info


def _time_network(
    network: str,
    names,
    workers: dict[str, Worker],
    settings: BenchSettings,
    progress: Progress = logging.info,
) -> list[dict]:
    if not split_experiment(network)[1]:
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
    progress(
        f"{network}: timing {len(names)} measurements x {settings.reps} repetitions, "
        f"{steps} steps each"
    )
    timings = {name: [] for name in names}
    for rep in range(settings.reps):
        if rep:
            progress(f"{network}: repetition {rep + 1}/{settings.reps}")
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


def onednn_of(workers: str, info: dict[str, dict]) -> str:
    """Whether oneDNN was on in the TensorFlow workers of a record ("a+b"); "" for PyTorch's."""
    states = {info[name]["onednn"] for name in workers.split("+") if "onednn" in info[name]}
    return "/".join(sorted(states))


def benchmark(
    settings: BenchSettings, output: Path, command: str, progress: Progress = logging.info
) -> str:
    """Runs the benchmark, writes its CSV to `output` and returns its tables as text.

    Args:
        settings: what to time (make_settings).
        output: the CSV file to write.
        command: the command line, for the CSV's provenance.
        progress: told what starts, as it starts.
    """
    started = datetime.datetime.now(datetime.timezone.utc)
    records, info = run_benchmark(settings, progress)
    records = [{**record, "onednn": onednn_of(record["worker"], info)} for record in records]
    described = cpu.describe()
    context = {
        "date": started.isoformat(timespec="seconds"),
        "wall_s": round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()),
        "command": command,
        "machine": f"{platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs",
        "cpu": described["model"],
        "cpu_features": cpu.features_text(described),
        "tensorflow": info["tf"]["tensorflow"],
        "keras": info["tf"]["keras"],
        "torch": info.get("torch", {}).get("torch", ""),
        "torch_threads": info.get("torch", {}).get("threads", ""),
        "reps": settings.reps,
    }
    bench_report.write_csv(output, records, context)
    return bench_report.tables(records, context, sweep_report.sweep_tables(records))
