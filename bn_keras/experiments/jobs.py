"""The sweep's jobs: planned from flagfiles, finished ones skipped, the rest run in parallel."""

import dataclasses
import datetime
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from bn_keras.config.settings import Config
from bn_keras.runs import run_dir

REPO = Path(__file__).resolve().parents[2]
PAPER_EXPERIMENTS = ("mlp", "mlp_bn", "lenet", "lenet_bn", "lenetr", "lenetr_bn")
NOT_EXPERIMENTS = ("recipe", "smoke")  # flagfiles that are included by others or only a check
QUICK_FLAGS = ("--train_steps=200", "--eval_every=50")
_PROGRESS = re.compile(r"step (\d+)/(\d+) .*\| (\S+) steps/s \| test acc ([\d.]+)")


@dataclasses.dataclass
class Job:
    """One training run of the sweep and its live progress."""

    experiment: str
    seed: int
    args: list[str]
    run_dir: Path
    config: dict
    step: int = 0
    steps_per_second: float = 0.0
    test_accuracy: float | None = None
    returncode: int | None = None
    last_error: str = ""
    start_flags: tuple[str, ...] = ()  # ("--overwrite",) to start afresh rather than resume

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def total_steps(self) -> int:
        return self.config["train_steps"]


def resolve_config(args: list[str]) -> dict:
    """The configuration bn_keras.main would run with these flags (no training)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bn_keras.main", *args, "--print_config"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.strip() or f"invalid flags {args}")
    return json.loads(proc.stdout)


def all_experiments(flag_dir: str = "flags") -> list[str]:
    """Every experiment flagfile in `flag_dir`: the paper's six first, then the others by name."""
    names = sorted(p.stem for p in (REPO / flag_dir).glob("*.flags"))
    others = [n for n in names if n not in PAPER_EXPERIMENTS and n not in NOT_EXPERIMENTS]
    return [e for e in PAPER_EXPERIMENTS if e in names] + others


def plan_jobs(
    experiments: list[str],
    seeds: int,
    extra_seeds: int,
    results_dir: Path,
    extra: list[str],
    flag_dir: str = "flags",
) -> list[Job]:
    """One job per (experiment, seed), in a fixed order; flagfiles from `flag_dir`."""
    jobs = []
    for experiment in experiments:
        flagfile = REPO / flag_dir / f"{experiment}.flags"
        if not flagfile.is_file():
            raise SystemExit(
                f"bn_keras: error: no flagfile {flagfile} for experiment {experiment!r}"
            )
        for seed in range(seeds if experiment in PAPER_EXPERIMENTS else extra_seeds):
            run_name = f"{experiment}_seed{seed}"
            args = [f"--flagfile={flag_dir}/{experiment}.flags", f"--seed={seed}", *extra]
            args += [f"--run_name={run_name}", f"--results_dir={results_dir}"]
            jobs.append(Job(experiment, seed, args, results_dir / run_name, resolve_config(args)))
    return jobs


FINISHED, RESUMABLE, FRESH = "finished", "resumable", "fresh"


def run_state(job: Job) -> str:
    """FINISHED or RESUMABLE when the run directory holds this job's run (settings that cannot
    change its numbers, such as steps_per_execution, aside), FRESH otherwise."""
    try:
        record = json.loads((job.run_dir / run_dir.CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return FRESH
    if run_dir.settings_that_differ(record.get("config", {}), Config(**job.config)):
        return FRESH
    return FINISHED if (job.run_dir / run_dir.RESULT_FILE).is_file() else RESUMABLE


def _watch(job: Job, proc: subprocess.Popen, log_path: Path) -> None:
    with open(log_path, "w") as log:
        for line in proc.stderr:
            log.write(line)
            match = _PROGRESS.search(line)
            if match:
                job.step = int(match[1])
                job.steps_per_second = float(match[3]) if match[3] != "nan" else 0.0
                job.test_accuracy = float(match[4])
            elif line.startswith("bn_keras: error:"):
                job.last_error = line.strip()
    job.returncode = proc.wait()


def _status_line(jobs: list[Job], running: list[Job], done: int, start: float) -> str:
    remaining = sum(j.total_steps - j.step for j in jobs if j.returncode is None)
    rate = sum(j.steps_per_second for j in running)
    eta = datetime.timedelta(seconds=round(remaining / rate)) if rate else "?"
    parts = [
        f"{j.name} {j.step}/{j.total_steps} {j.steps_per_second:.0f} steps/s acc "
        + (f"{j.test_accuracy:.4f}" if j.test_accuracy is not None else "-")
        for j in running
    ]
    elapsed = datetime.timedelta(seconds=round(time.monotonic() - start))
    return f"[{done}/{len(jobs)} done, {elapsed}] " + " | ".join(parts) + f" | sweep ETA {eta}"


def run_jobs(jobs: list[Job], parallel: int, log_dir: Path, report_every_s: float = 10.0) -> int:
    """Runs the jobs, `parallel` at a time, printing progress; returns the number that failed."""
    log_dir.mkdir(parents=True, exist_ok=True)
    pending, running, watchers = list(jobs), [], []
    start, last_report, done, failed = time.monotonic(), 0.0, 0, 0
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            proc = subprocess.Popen(
                [sys.executable, "-m", "bn_keras.main", *job.args, *job.start_flags],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            watcher = threading.Thread(target=_watch, args=(job, proc, log_dir / f"{job.name}.log"))
            watcher.start()
            running.append(job)
            watchers.append(watcher)
            print(f"started {job.name}: {' '.join(job.args)}", flush=True)
        time.sleep(0.5)
        for job in [j for j in running if j.returncode is not None]:
            running.remove(job)
            done += 1
            if job.returncode:
                failed += 1
                print(f"FAILED {job.name} (exit {job.returncode}): {job.last_error}", flush=True)
            else:
                print(f"finished {job.name}: test accuracy {job.test_accuracy:.4f}", flush=True)
        if time.monotonic() - last_report >= report_every_s and running:
            print(_status_line(jobs, running, done, start), flush=True)
            last_report = time.monotonic()
    for watcher in watchers:
        watcher.join()
    return failed
