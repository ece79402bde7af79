"""The settings of the commands besides `main`: sweep, bench, launch and plot, said as Config's are.

Each is a frozen dataclass of `fields.setting`s: the command's absl flags, their checks and
docs/flags.md come from it (bn_keras.config.flags). A setting that `main` has too (data_dir,
results_dir, dataset_source, eval_every) is taken from Config or CommandOptions with `fields.like`,
not written again.
"""

from __future__ import annotations

import dataclasses

from bn_keras.config.fields import NON_NEGATIVE, POSITIVE, Bounds, items, like, setting
from bn_keras.config.names import PAPER_EXPERIMENTS
from bn_keras.config.seeds import MAX_STACK
from bn_keras.config.settings import MAX_THREADS, CommandOptions, Config

# The sweep's seeds per arm of a paper pair: the fixed design's (bn_keras.reporting.paper.design
# prints it in the summary), and where the exploratory seed-adding mode starts and its cap
# (bn_keras.experiments.adaptive).
DESIGN_SEEDS = 10
START_SEEDS, MAX_SEEDS = 3, 10
# The sweep's seeds per stack: the design's 10 seeds as two stacks, one per process
# of the default --jobs=2 on 2 cores.
DEFAULT_STACK = 5
# Bounds on the sweep's sizes. Seeds: each is a run of every experiment (minutes
# apiece), and ten times the design's is past any sweep worth planning (the grid: 52 runs a
# seed). Processes: each is a TensorFlow process of about 0.7 GB at start.
MAX_SWEEP_SEEDS = 100
MAX_JOBS = 64
# What the benchmark can time besides plain model.fit and bn_keras's defaults, in its tables'
# order; bn_keras.benchmark.runner.OPTIONS says how each is timed (a test checks they agree).
BENCH_OPTIONS = (
    "synthetic",
    "callback",
    "eval_batch_10000",
    "eval_folded",
    "keras_bn",
    "bn_fused_v3",
    "bn_closed_form",
    "bn_closed_form_matmul",
    "bn_xla_autodiff",
    "jit_compile",
    "custom_loop",
    "onednn_off",
    "threads_1",
    "inter_op_1",
    "inter_op_auto",
    "torch_memory",
    "torch_loader",
    "torch_threads_1",
)
BENCH_QUICK_NETWORKS = ("mlp_bn", "lenetr_bn")
# The benchmark's sections: bn_keras's speed options (one seed, each option against plain fit) and
# the sweep's throughput (seed-steps/s over the machine, stacked and side by side, against
# PyTorch's ways to run a sweep); bn_keras.benchmark.sweep says what the second times.
BENCH_SECTIONS = ("speed_options", "sweep")
# --quick's sweep section, a smoke check of its path: the fastest BN network, stacks of 2 seeds.
BENCH_QUICK_SWEEP_NETWORKS, BENCH_QUICK_STACK_SEEDS = ("mlp_bn",), 2
# The benchmark's default CSV: git-ignored, so that no run writes over the committed
# results/bench.csv unless --output names it.
BENCH_SCRATCH = "scratch/bench.csv"
# Where the sweep's jobs run (bn_keras.experiments.executors) and, on Ray, where a task's runs are
# written: in place on a filesystem the driver shares, or in node-local scratch and shipped back.
EXECUTORS = ("local", "ray")
RAY_RESULTS = ("auto", "shared", "ship")


@dataclasses.dataclass(frozen=True)
class SweepOptions:
    """`python -m bn_keras.sweep`: experiments from flags/ over seeds, finished runs skipped."""

    experiments: str = setting(
        "", "Flagfile names in flags/ to run, comma-separated; empty: all.", many=True
    )
    seeds: int = setting(
        DESIGN_SEEDS,
        "Seeds 0..N-1 for the six paper experiments: the fixed design's 10 by default (with "
        f"--until_decided, where it starts: {START_SEEDS} is that mode's usual start).",
        bounds=Bounds(1, MAX_SWEEP_SEEDS),
        why=f": ten times the design's {DESIGN_SEEDS}",
    )
    until_decided: bool = setting(
        False,
        "Exploratory: add one seed at a time to each paper pair with an UNDECIDED claim, up to "
        "--max_seeds (optional stopping; its simulated error rates are in results/summary.md).",
    )
    max_seeds: int = setting(
        MAX_SEEDS,
        "The cap of --until_decided.",
        bounds=Bounds(1, MAX_SWEEP_SEEDS),
        why=f": ten times the design's {DESIGN_SEEDS}",
    )
    twin: bool = setting(
        True,
        "Also run the paper experiments in the PyTorch twin (--framework=pytorch) into "
        "<results_dir>/pytorch/, when torch is importable.",
    )
    extra_seeds: int = setting(
        1,
        "Seeds for the other experiments of flags/.",
        bounds=Bounds(0, MAX_SWEEP_SEEDS),
        why=f": ten times the design's {DESIGN_SEEDS}",
    )
    jobs: int = setting(
        2,
        "Processes at once, each a run or a stack (2 runs gave 1.2-1.3x the throughput of 1 on "
        "2 cores); above 1, each gets --threads=<cores // jobs>.",
        bounds=Bounds(1, MAX_JOBS),
        why=": each is a TensorFlow process of about 0.7 GB",
        short_name="j",
    )
    stack_size: int = setting(
        DEFAULT_STACK,
        "Seeds of a paper experiment trained together as one stacked model in one process "
        "(main's --seeds), in seed order: 10 seeds at --jobs=2 make two stacks of 5 side by "
        "side. Only seeds whose run is not finished are stacked; an interrupted stack resumes "
        "as one, an interrupted single run alone; 1: one run per seed. The PyTorch twin, "
        "--probes and --why train one seed per process (a stack refuses probes and "
        "--record_divergence).",
        bounds=Bounds(1, MAX_STACK),
    )
    executor: str = setting(
        "local",
        "Where the jobs run: local (--jobs processes on this machine) or ray (one Ray task per "
        "run or stack, 1 CPU each, on the cluster at --ray_address; pip install -e .[ray]; "
        "docs/cluster.md).",
        choices=EXECUTORS,
    )
    ray_address: str | None = setting(
        None,
        "With --executor=ray: auto (the cluster `ray start` began on this machine) or the head's "
        "HOST:PORT; unset: a Ray instance started in this process on this machine's cores.",
    )
    ray_results: str = setting(
        "auto",
        "With --executor=ray: shared (the nodes write the runs in place: a filesystem shared "
        "with the driver), ship (each task trains in node-local scratch and ships its runs, and "
        "their checkpoints every --ray_ship_every_s, to the driver), or auto (shared where a "
        "node sees the driver's results directory, else ship).",
        choices=RAY_RESULTS,
    )
    ray_ship_every_s: float = setting(
        30.0,
        "With --executor=ray and shipping: seconds between shipments of a running task's "
        "changed files (checkpoint, metrics, log) to the driver.",
        bounds=POSITIVE,
    )
    ray_retries: int = setting(
        3,
        "With --executor=ray: times a task is run again when its node or worker dies (Ray's "
        "max_retries); a run that fails on its own is not retried.",
        bounds=NON_NEGATIVE,
    )
    quick: bool = setting(False, "Short runs of the same pipeline, into results_quick/.")
    probes: bool = setting(False, "The probe experiments of flags/probes/, into results/probes/.")
    force: bool = setting(False, "Rerun finished runs too.")
    why: bool = setting(
        False,
        "The explanation grid (bn_keras/experiments/grid.py) instead of flags/: --experiments "
        "names its experiments, --seeds defaults to 5, results go to results/why/.",
    )
    confirm: bool = setting(
        False,
        "The confirmatory grid of docs/why_design.md (bn_keras/experiments/confirm.py) on "
        "--dataset: --seeds defaults to its 10 (from seed 200), results go to "
        "results/confirm/<dataset>/.",
    )
    results_dir: str | None = like(
        CommandOptions,
        "results_dir",
        default=None,
        more_help="Default: results/ (results_quick/ with --quick; probes/ below it with "
        "--probes), and <dataset>/ below it for a --dataset other than mnist.",
    )
    dataset: str = like(Config, "dataset")
    data_dir: str | None = like(Config, "data_dir")
    dataset_source: str = like(Config, "dataset_source")
    dataset_files: str | None = like(Config, "dataset_files")

    @property
    def experiment_list(self) -> list[str]:
        """--experiments as a list (empty: all)."""
        return items(self.experiments)


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    """`python -m bn_keras.bench`: training speed of bn_keras's paths, plain fit and PyTorch."""

    sections: str = setting(
        ",".join(BENCH_SECTIONS),
        "What to measure: speed_options (one seed: each of --options against plain fit and "
        "PyTorch), sweep (seed-steps/s over the machine: single seeds and --stack_seeds stacks, "
        "1 process or 2 side by side, against PyTorch's ways to run a sweep).",
        choices=BENCH_SECTIONS,
        many=True,
    )
    networks: str = setting(
        ",".join(PAPER_EXPERIMENTS), "Networks to time.", choices=PAPER_EXPERIMENTS, many=True
    )
    options: str = setting(
        ",".join(BENCH_OPTIONS),
        "What the speed_options section times besides plain fit and bn_keras's defaults "
        "(docs/speed.md says what each is).",
        choices=BENCH_OPTIONS,
        many=True,
    )
    steps: int = setting(
        0,
        "Steps per timing, rounded up to --eval_every.",
        bounds=NON_NEGATIVE,
        zero="--seconds' worth",
    )
    seconds: float = setting(
        1.5, "With --steps=0: about this long per timing; PyTorch's stop after 4x this.",
        bounds=POSITIVE,
    )  # fmt: skip
    reps: int = setting(3, "Repetitions; each figure is their median.", bounds=POSITIVE)
    stack_seeds: int = setting(
        DEFAULT_STACK,
        "Seeds per stack in the sweep section (bn_keras's stacks and PyTorch's torch.func "
        "ensemble); the default is the sweep's --stack_size.",
        bounds=Bounds(1, MAX_STACK),
    )
    eval_every: int = like(
        Config, "eval_every", more_help="Timings are whole multiples of it, as in the runs."
    )
    output: str = setting(
        BENCH_SCRATCH,
        "CSV file to write. The default is git-ignored scratch; the committed table is "
        "written only when named, --output=results/bench.csv.",
    )
    dataset: str = like(Config, "dataset")
    data_dir: str | None = like(Config, "data_dir")
    dataset_source: str = like(Config, "dataset_source")
    dataset_files: str | None = like(Config, "dataset_files")
    torch_python: str = setting("", "Python interpreter with PyTorch installed; empty: this one.")
    threads: int = setting(
        0,
        "PyTorch's thread count.",
        bounds=Bounds(0, MAX_THREADS),
        zero="the CPU count, TensorFlow's",
    )
    quick: bool = setting(
        False,
        f"Smoke check: {' and '.join(BENCH_QUICK_NETWORKS)} (the sweep section: "
        f"{' and '.join(BENCH_QUICK_SWEEP_NETWORKS)}, stacks of {BENCH_QUICK_STACK_SEEDS} seeds), "
        "1 repetition, 0.3 s per timing.",
    )

    @property
    def network_list(self) -> list[str]:
        return items(self.networks)

    @property
    def option_list(self) -> list[str]:
        return items(self.options)

    @property
    def section_list(self) -> list[str]:
        return items(self.sections)


@dataclasses.dataclass(frozen=True)
class LaunchOptions:
    """`python -m bn_keras.launch -- <main's flags>`: local multi-worker runs on loopback."""

    workers: int = setting(
        2,
        "Number of worker processes.",
        bounds=Bounds(1, MAX_JOBS),
        why=": each is a TensorFlow process of about 0.7 GB",
    )
    host: str = setting("127.0.0.1", "Address the workers listen on.")
    grace_s: float = setting(
        20.0, "Seconds a stopped worker gets before it is killed.", bounds=NON_NEGATIVE
    )


@dataclasses.dataclass(frozen=True)
class PlotOptions:
    """`python -m bn_keras.plot RESULTS_DIR`: figures and summary, rebuilt from run directories."""

    command: str | None = setting(
        None, "The command that produced the results, for the summary's provenance."
    )
    total_wall_time: str | None = setting(
        None, "The wall time of that command, as free text, for the summary's provenance."
    )
