"""The executor interface and the one loop that drives any executor, with the progress line.

An executor starts jobs and reports what happened to them; it never plans, skips or reports
verdicts. The sweep hands `run_jobs` its jobs (single runs and stacks, Keras or the twin) and an
executor, and gets back how many runs failed: the planner and the reports never know which
executor ran a job.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import IO, Protocol

from bn_keras.common import cli
from bn_keras.experiments.jobs import Job, accuracies, read_progress, status_line

STARTED, FINISHED = "started", "finished"


@dataclasses.dataclass
class Event:
    """A job started (`where` says where, for an executor with more than one machine) or ended
    (the job's returncode and last_error are set)."""

    kind: str
    job: Job
    where: str = ""


class Executor(Protocol):
    """Runs the sweep's jobs. `capacity` is how many it runs at once (None: it takes them all and
    its scheduler places them); `submit` hands it a job; `poll` returns what happened since the
    last call; `close` gives back what it holds (the loop calls it however the sweep ends)."""

    capacity: int | None

    def submit(self, job: Job) -> None: ...

    def poll(self) -> list[Event]: ...

    def close(self) -> None: ...


def watch_stderr(stream: Iterable[str], log: IO[str]) -> str:
    """Copies a run's stderr to its log; returns its last `bn_keras: error:` line ("" if none)."""
    last_error = ""
    for line in stream:
        log.write(line)
        log.flush()
        if line.startswith(cli.ERROR_PREFIX):
            last_error = line.strip()
    return last_error


def run_jobs(
    jobs: list[Job], executor: Executor, report_every_s: float = 10.0, poll_s: float = 0.5
) -> int:
    """Runs the jobs on `executor`, printing when each starts and ends and a progress line every
    `report_every_s` (progress read from each run's metrics file); returns how many runs failed
    (a failed stack's every seed). A failed job's line names its log."""
    pending, submitted, running = list(jobs), 0, []
    start, last_report, done, failed = time.monotonic(), 0.0, 0, 0
    while pending or submitted:
        while pending and (executor.capacity is None or submitted < executor.capacity):
            executor.submit(pending.pop(0))
            submitted += 1
        time.sleep(poll_s)
        for event in executor.poll():
            job = event.job
            if event.kind == STARTED:
                running.append(job)
                where = f" [{event.where}]" if event.where else ""
                print(f"started {job.name}: {' '.join(job.launch_args)}{where}", flush=True)
                continue
            submitted -= 1
            done += 1
            if job in running:
                running.remove(job)
            read_progress(job)
            if job.returncode:
                failed += len(job.runs)
                print(
                    f"FAILED {job.name} (exit {job.returncode}): {job.last_error} "
                    f"(log: {job.log_path})",
                    flush=True,
                )
            else:
                print(f"finished {job.name}: {accuracies(job)}", flush=True)
        if time.monotonic() - last_report >= report_every_s and running:
            for job in running:
                read_progress(job)
            print(status_line(jobs, running, done, start), flush=True)
            last_report = time.monotonic()
    return failed
