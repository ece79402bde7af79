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

Its flags are SweepOptions' (bn_keras/config/commands.py, listed in docs/flags.md). It prints
what runs and how far it got; the verdicts come once, at the end, from the final summary that
`python -m bn_keras.plot` writes (run_all.sh runs it next). The verdicts of the seed-adding rounds
go to <results_dir>/logs/sweep.log. TensorFlow loads only in the runs' processes and in the one
that prepares the dataset (--dataset, MNIST by default; another dataset's runs go to
results/<dataset>/ unless --results_dir says otherwise).
"""

import datetime
import importlib.util
import os
import sys
import time
from pathlib import Path

from absl import flags

from bn_keras.common import cli
from bn_keras.common.errors import ConfigError
from bn_keras.config import checks, datasets, fields
from bn_keras.config import flags as config_flags
from bn_keras.config.commands import SweepOptions
from bn_keras.config.names import BN_SUFFIX, PAPER_EXPERIMENTS
from bn_keras.config.settings import default_results_dir
from bn_keras.experiments import stacks
from bn_keras.experiments.jobs import (
    FINISHED,
    KERAS,
    QUICK_FLAGS,
    RESUMABLE,
    Job,
    all_experiments,
    dataset_flags,
    frameworks_to_run,
    plan_job,
    plan_jobs,
    prepare_dataset,
    run_jobs,
    run_state,
)

config_flags.define_flags(SweepOptions)
flags.adopt_module_key_flags(config_flags)  # --help lists them as the sweep's own
SWEEP_LOG = "sweep.log"  # in <results_dir>/logs/, beside the runs' logs


def _execute(jobs: list[Job], already_run: set[str], options: SweepOptions) -> tuple[int, int]:
    """Runs the jobs not yet finished (all with --force, but each at most once per sweep);
    returns how many ran and how many of them failed."""
    states = {job.name: run_state(job) for job in jobs}
    todo = [
        j
        for j in jobs
        if j.name not in already_run and (options.force or states[j.name] != FINISHED)
    ]
    for job in todo:
        # An interrupted run with the same settings resumes; anything else starts afresh (a
        # seed of an interrupted stack, run alone, too: the stack holds its checkpoint).
        if options.force or states[job.name] != RESUMABLE or stacks.stacked_in(job):
            job.start_flags = stacks.OVERWRITE
    # Each experiment's Keras seeds left to run train a few per process.
    processes = stacks.group_into_stacks(todo, options.stack_size, options.force)
    stacked = [job for job in processes if job.members]
    print(
        f"{len(jobs)} runs planned, {len(jobs) - len(todo)} already finished, "
        f"{len(todo)} to run"
        + (f" ({_stacks(len(stacked))} of up to {options.stack_size} seeds)" if stacked else "")
        + f", {options.jobs} at a time",
        flush=True,
    )
    if todo and not already_run:  # prepare the dataset once, before parallel runs start
        label = datasets.get(options.dataset).label
        print(f"preparing {label} (once, before the runs)", flush=True)
        source = prepare_dataset(
            options.dataset, options.dataset_source, options.data_dir, options.dataset_files
        )
        print(f"{label}: {source}", flush=True)
    already_run.update(j.name for j in jobs)
    return len(todo), run_jobs(processes, options.jobs)


def _log(results_dir: Path, lines: list[str]) -> None:
    """Appends `lines`, timestamped, to the sweep's log (the seed-adding rounds' verdicts)."""
    path = results_dir / "logs" / SWEEP_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    with open(path, "a") as log:
        log.writelines(f"{stamp} {line}\n" for line in lines)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments {argv[1:]}: all settings are --flags")
    options = config_flags.from_flags(SweepOptions)
    fields.check_fields(options)
    datasets.get(options.dataset)  # an unknown name, refused before any run is planned
    base = "results_quick" if options.quick else "results"
    results_dir = Path(options.results_dir or default_results_dir(options.dataset, base))
    checks.check_directory(str(results_dir), "--results_dir")
    flag_dir, seeds = "flags", options.seeds
    if options.probes:
        flag_dir, results_dir = "flags/probes", Path(options.results_dir or results_dir / "probes")
        seeds = options.seeds if flags.FLAGS["seeds"].present else 1
    extra = list(QUICK_FLAGS) if options.quick else []
    extra += dataset_flags(options)
    if options.jobs > 1:
        # Runs side by side share the cores: TensorFlow's default of one intra-op thread per
        # core in each would oversubscribe them (measured: two one-thread processes beat one
        # two-thread process on these small kernels).
        extra.append(f"--threads={max(1, (os.cpu_count() or 1) // options.jobs)}")
    if options.why:
        _why(options, results_dir, extra)
        return
    experiments = options.experiment_list or all_experiments(flag_dir)
    paper = [] if options.probes else [e for e in experiments if e in PAPER_EXPERIMENTS]
    frameworks, note = frameworks_to_run(
        results_dir, paper, options.twin, importlib.util.find_spec("torch") is not None
    )
    if note:
        print(note, flush=True)
    jobs = plan_jobs(experiments, seeds, options.extra_seeds, results_dir, extra, flag_dir)
    for framework, directory in list(frameworks.items()):
        if framework == KERAS:
            continue
        try:
            jobs += plan_jobs(paper, seeds, 0, directory, extra, flag_dir, framework)
        except SystemExit as err:  # a bn_keras.main without the twin refuses --framework
            print(f"{framework} twin skipped: {str(err).splitlines()[-1]}", flush=True)
            del frameworks[framework]
    start, already_run = time.monotonic(), set()
    ran, failed = _execute(jobs, already_run, options)
    pairs = [e for e in paper if e + BN_SUFFIX in paper]
    if options.until_decided and pairs:
        # Statistics (SciPy) load only here, so that --help and a plain sweep answer at once.
        from bn_keras.experiments import adaptive
        from bn_keras.runs.reader import load_runs

        def run_round(pending: dict[adaptive.Key, int]) -> None:
            nonlocal ran, failed
            print(
                "adding a seed to the undecided: "
                + ", ".join(f"{_name(*key)} (seed {n - 1})" for key, n in pending.items()),
                flush=True,
            )
            round_jobs = [
                plan_job(e, seed, frameworks[framework], extra, flag_dir, framework)
                for (framework, pair), n in pending.items()
                for e in (pair, pair + BN_SUFFIX)
                for seed in range(n)
            ]
            more, more_failed = _execute(round_jobs, already_run, options)
            ran, failed = ran + more, failed + more_failed

        def on_round(states: dict[adaptive.Key, adaptive.PairState]) -> None:
            # Verdicts along the way go to the log: the summary's, at the end, are the result.
            _log(results_dir, [state.line() for state in states.values()])

        keys = [(framework, pair) for framework in frameworks for pair in pairs]
        adaptive.add_seeds_until_decided(
            keys,
            run_round,
            lambda: load_runs(results_dir),
            start=seeds,
            cap=max(options.max_seeds, seeds),
            on_round=on_round,
            first_round_done=True,
        )
    print(
        f"sweep: {ran - failed} runs finished, {failed} failed, "
        f"{datetime.timedelta(seconds=round(time.monotonic() - start))} wall time; the "
        f"verdicts: python -m bn_keras.plot {results_dir}",
        flush=True,
    )
    if failed:
        sys.exit(1)


def _why(options: SweepOptions, results_dir: Path, extra: list[str]) -> None:
    """Runs the explanation grid: a fixed number of seeds per arm, no seeds added, no twin."""
    from bn_keras.experiments import grid

    directory = Path(options.results_dir or results_dir / grid.RESULTS_DIR.name)
    checks.check_directory(str(directory), "--results_dir")
    seeds = options.seeds if flags.FLAGS["seeds"].present else grid.SEEDS
    jobs = grid.plan_jobs(
        options.experiment_list or list(grid.EXPERIMENTS), seeds, directory, extra
    )
    began = time.monotonic()
    ran, failed = _execute(jobs, set(), options)
    elapsed = datetime.timedelta(seconds=round(time.monotonic() - began))
    print(f"sweep: {ran - failed} runs finished, {failed} failed, {elapsed} wall time", flush=True)
    if failed:
        sys.exit(1)


def _stacks(count: int) -> str:
    return f"{count} stack" + ("" if count == 1 else "s")


def _name(framework: str, pair: str) -> str:
    return pair if framework == KERAS else f"{framework} {pair}"


if __name__ == "__main__":
    cli.run(main, flags_parser=config_flags.parse_flags)
