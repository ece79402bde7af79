"""Runs experiments from flags/ over seeds: skips finished runs, shows sweep-wide progress.

`./run_all.sh` calls this after setting up the environment:
    python -m bn_keras.sweep --seeds=3 --jobs=2 [--quick] [--force] [--experiments=mlp,mlp_bn]

The six paper experiments run with --seeds seeds; the longer extra experiments of flags/ (Ioffe &
Szegedy's setting, the 100K-iteration LeNets) with --extra_seeds. `--probes` runs the probe
experiments of flags/probes/ instead (issue 6: one seed unless --seeds is given) into
results/probes/.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import datetime  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from absl import app, flags  # noqa: E402

from bn_keras.experiments.jobs import (  # noqa: E402
    FINISHED,
    QUICK_FLAGS,
    RESUMABLE,
    all_experiments,
    plan_jobs,
    run_jobs,
    run_state,
)

FLAGS = flags.FLAGS
flags.DEFINE_list("experiments", None, "Flagfile names in flags/ to run (default: all).")
flags.DEFINE_integer("seeds", 3, "Seeds 0..N-1 for the six paper experiments.", lower_bound=1)
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
flags.DEFINE_string("results_dir", None, "Where run directories go (results/ or results_quick/).")
flags.DEFINE_string("data_dir", None, "TFDS data directory (TFDS's default when unset).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise SystemExit(f"bn_keras: error: unexpected arguments {argv[1:]}")
    results_dir = Path(FLAGS.results_dir or ("results_quick" if FLAGS.quick else "results"))
    flag_dir, seeds = "flags", FLAGS.seeds
    if FLAGS.probes:
        flag_dir, results_dir = "flags/probes", Path(FLAGS.results_dir or results_dir / "probes")
        seeds = FLAGS.seeds if FLAGS["seeds"].present else 1
    extra = list(QUICK_FLAGS) if FLAGS.quick else []
    if FLAGS.data_dir:
        extra.append(f"--data_dir={FLAGS.data_dir}")
    experiments = FLAGS.experiments or all_experiments(flag_dir)
    jobs = plan_jobs(experiments, seeds, FLAGS.extra_seeds, results_dir, extra, flag_dir)
    states = {job.name: run_state(job) for job in jobs}
    todo = [j for j in jobs if FLAGS.force or states[j.name] != FINISHED]
    for job in todo:
        # An interrupted run with the same settings resumes; anything else starts afresh.
        if FLAGS.force or states[job.name] != RESUMABLE:
            job.start_flags = ("--overwrite",)
    print(
        f"{len(jobs)} runs planned, {len(jobs) - len(todo)} already finished, "
        f"{len(todo)} to run, {FLAGS.jobs} at a time",
        flush=True,
    )
    if todo:
        from bn_keras.common.errors import DataError
        from bn_keras.data import input_pipeline  # prepare MNIST once, before parallel runs start

        try:
            input_pipeline.ensure_mnist(FLAGS.data_dir)
        except DataError as err:
            sys.exit(f"sweep: error: {err}")
    start = time.monotonic()
    failed = run_jobs(todo, FLAGS.jobs, results_dir / "logs")
    print(
        f"sweep: {len(todo) - failed} runs finished, {failed} failed, "
        f"{datetime.timedelta(seconds=round(time.monotonic() - start))} wall time",
        flush=True,
    )
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
