"""Runs experiments from flags/ over seeds: skips finished runs, shows sweep-wide progress.

`./run_all.sh` calls this after setting up the environment:
    python -m bn_keras.sweep --seeds=3 --jobs=2 [--quick] [--force] [--experiments=mlp,mlp_bn]
        [--until_decided --max_seeds=10] [--twin]

The six paper experiments start with --seeds seeds; with --until_decided (the default) each
pair with an UNDECIDED claim then gets one more seed in both arms per round until its claims are
decided or it has --max_seeds (bn_keras/experiments/adaptive.py; this is optional stopping,
bounded by the cap, see there). The longer extra experiments of flags/ (Ioffe & Szegedy's
setting, the 100K-iteration LeNets) run with --extra_seeds. With --twin (the default) and torch
importable, the paper experiments also run in the PyTorch twin into <results_dir>/pytorch/, their
pairs decided the same way; without torch one line says so. `--probes` runs the probe
experiments of flags/probes/ instead (issue 6: one seed unless --seeds is given) into
results/probes/. `--why` runs issue 22's grid (bn_keras/experiments/grid.py) into results/why/.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import datetime  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from absl import flags  # noqa: E402

from bn_keras.common import cli  # noqa: E402
from bn_keras.experiments import adaptive  # noqa: E402
from bn_keras.experiments.jobs import (  # noqa: E402
    FINISHED,
    KERAS,
    PAPER_EXPERIMENTS,
    QUICK_FLAGS,
    RESUMABLE,
    Job,
    all_experiments,
    frameworks_to_run,
    plan_job,
    plan_jobs,
    run_jobs,
    run_state,
)
from bn_keras.reporting.summary import BN_SUFFIX, load_runs  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("experiments", None, "Flagfile names in flags/ to run (default: all).")
flags.DEFINE_integer(
    "seeds",
    3,
    "Seeds 0..N-1 for the six paper experiments (the start with --until_decided).",
    lower_bound=1,
)
flags.DEFINE_bool(
    "until_decided",
    True,
    "Add one seed at a time to each paper pair with an UNDECIDED claim, up to --max_seeds.",
)
flags.DEFINE_integer("max_seeds", adaptive.MAX_SEEDS, "The cap of --until_decided.", lower_bound=1)
flags.DEFINE_bool(
    "twin",
    True,
    "Also run the paper experiments in the PyTorch twin (--framework=pytorch) into "
    "<results_dir>/pytorch/, when torch is importable.",
)
flags.DEFINE_integer("extra_seeds", 1, "Seeds for the other experiments.", lower_bound=0)
flags.DEFINE_integer(
    "jobs",
    2,
    "Runs at once (2 gave 1.2-1.3x the throughput of 1 on 2 cores).",
    lower_bound=1,
    short_name="j",
)
flags.DEFINE_bool("quick", False, "Short runs of the same pipeline, into results_quick/.")
flags.DEFINE_bool(
    "probes", False, "The probe experiments of flags/probes/, into results/probes/ (issue 6)."
)
flags.DEFINE_bool("force", False, "Rerun finished runs too.")
flags.DEFINE_bool(
    "why",
    False,
    "Issue 22's grid (bn_keras/experiments/grid.py) instead of flags/: --experiments names its "
    "experiments, --seeds defaults to 5, results go to results/why/.",
)
flags.DEFINE_string("results_dir", None, "Where run directories go (results/ or results_quick/).")
flags.DEFINE_string("data_dir", None, "TFDS data directory (TFDS's default when unset).")


def _execute(jobs: list[Job], already_run: set[str]) -> tuple[int, int]:
    """Runs the jobs not yet finished (all with --force, but each at most once per sweep);
    returns how many ran and how many of them failed."""
    states = {job.name: run_state(job) for job in jobs}
    todo = [
        j for j in jobs if j.name not in already_run and (FLAGS.force or states[j.name] != FINISHED)
    ]
    for job in todo:
        # An interrupted run with the same settings resumes; anything else starts afresh.
        if FLAGS.force or states[job.name] != RESUMABLE:
            job.start_flags = ("--overwrite",)
    print(
        f"{len(jobs)} runs planned, {len(jobs) - len(todo)} already finished, "
        f"{len(todo)} to run, {FLAGS.jobs} at a time",
        flush=True,
    )
    if todo and not already_run:
        from bn_keras.common.errors import DataError
        from bn_keras.data import input_pipeline  # prepare MNIST once, before parallel runs start

        try:
            input_pipeline.ensure_mnist(FLAGS.data_dir)
        except DataError as err:
            sys.exit(f"sweep: error: {err}")
    already_run.update(j.name for j in jobs)
    return len(todo), run_jobs(todo, FLAGS.jobs)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise SystemExit(cli.error_line(f"unexpected arguments {argv[1:]}"))
    results_dir = Path(FLAGS.results_dir or ("results_quick" if FLAGS.quick else "results"))
    flag_dir, seeds = "flags", FLAGS.seeds
    if FLAGS.probes:
        flag_dir, results_dir = "flags/probes", Path(FLAGS.results_dir or results_dir / "probes")
        seeds = FLAGS.seeds if FLAGS["seeds"].present else 1
    extra = list(QUICK_FLAGS) if FLAGS.quick else []
    if FLAGS.data_dir:
        extra.append(f"--data_dir={FLAGS.data_dir}")
    if FLAGS.why:
        _why(results_dir, extra)
        return
    experiments = FLAGS.experiments or all_experiments(flag_dir)
    paper = [] if FLAGS.probes else [e for e in experiments if e in PAPER_EXPERIMENTS]
    frameworks, note = frameworks_to_run(
        results_dir, paper, FLAGS.twin, importlib.util.find_spec("torch") is not None
    )
    if note:
        print(note, flush=True)
    jobs = plan_jobs(experiments, seeds, FLAGS.extra_seeds, results_dir, extra, flag_dir)
    for framework, directory in list(frameworks.items()):
        if framework == KERAS:
            continue
        try:
            jobs += plan_jobs(paper, seeds, 0, directory, extra, flag_dir, framework)
        except SystemExit as err:  # a bn_keras.main without the twin refuses --framework
            print(f"{framework} twin skipped: {str(err).splitlines()[-1]}", flush=True)
            del frameworks[framework]
    start, already_run = time.monotonic(), set()
    ran, failed = _execute(jobs, already_run)
    pairs = [e for e in paper if e + BN_SUFFIX in paper]
    if FLAGS.until_decided and pairs:

        def run_round(pending: dict[adaptive.Key, int]) -> None:
            nonlocal ran, failed
            round_jobs = [
                plan_job(e, seed, frameworks[framework], extra, flag_dir, framework)
                for (framework, pair), n in pending.items()
                for e in (pair, pair + BN_SUFFIX)
                for seed in range(n)
            ]
            more, more_failed = _execute(round_jobs, already_run)
            ran, failed = ran + more, failed + more_failed

        def on_round(states: dict[adaptive.Key, adaptive.PairState]) -> None:
            open_ = [s for s in states.values() if s.verdicts and not s.decided]
            print(f"undecided after this round: {', '.join(_name(s) for s in open_) or 'none'}")

        keys = [(framework, pair) for framework in frameworks for pair in pairs]
        states = adaptive.add_seeds_until_decided(
            keys,
            run_round,
            lambda: load_runs(results_dir),
            start=seeds,
            cap=max(FLAGS.max_seeds, seeds),
            on_round=on_round,
            first_round_done=True,
        )
        for state in states.values():
            print(f"sweep: {state.line()}", flush=True)
    print(
        f"sweep: {ran - failed} runs finished, {failed} failed, "
        f"{datetime.timedelta(seconds=round(time.monotonic() - start))} wall time",
        flush=True,
    )
    if failed:
        sys.exit(1)


def _why(results_dir: Path, extra: list[str]) -> None:
    """Runs issue 22's grid: a fixed number of seeds per arm, no seeds added, no twin."""
    from bn_keras.experiments import grid

    directory = Path(FLAGS.results_dir or results_dir / grid.RESULTS_DIR.name)
    seeds = FLAGS.seeds if FLAGS["seeds"].present else grid.SEEDS
    jobs = grid.plan_jobs(FLAGS.experiments or list(grid.EXPERIMENTS), seeds, directory, extra)
    start = time.monotonic()
    ran, failed = _execute(jobs, set())
    elapsed = datetime.timedelta(seconds=round(time.monotonic() - start))
    print(f"sweep: {ran - failed} runs finished, {failed} failed, {elapsed} wall time", flush=True)
    if failed:
        sys.exit(1)


def _name(state: adaptive.PairState) -> str:
    return state.pair if state.framework == KERAS else f"{state.framework} {state.pair}"


if __name__ == "__main__":
    cli.run(main)
