"""The local executor: `--jobs` processes of `python -m bn_keras.main` at once on this machine."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from bn_keras.experiments.executors.base import FINISHED, STARTED, Event, watch_stderr
from bn_keras.experiments.jobs import REPO, Job


def threads_flags(parallel: int, cores: int | None = None) -> list[str]:
    """`--threads=<cores // parallel>` when runs share the cores, else nothing: TensorFlow's
    default of one intra-op thread per core in each would oversubscribe them (two one-thread
    processes beat one two-thread process on these small kernels)."""
    if parallel <= 1:
        return []
    return [f"--threads={max(1, (cores or os.cpu_count() or 1) // parallel)}"]


class LocalPool:
    """`parallel` processes at once, each a run or a stack, its stderr in its log_path."""

    def __init__(self, parallel: int):
        self.capacity = parallel
        self._threads = threads_flags(parallel)
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._watchers: list[threading.Thread] = []

    def submit(self, job: Job) -> None:
        job.launch_args = [*job.args, *self._threads]
        job.log_path.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            [sys.executable, "-m", "bn_keras.main", *job.launch_args, *job.start_flags],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        watcher = threading.Thread(target=self._watch, args=(job, proc), daemon=True)
        watcher.start()
        self._watchers.append(watcher)
        self._add(Event(STARTED, job))

    def _watch(self, job: Job, proc: subprocess.Popen) -> None:
        with open(job.log_path, "w") as log:
            job.last_error = watch_stderr(proc.stderr, log)
        job.returncode = proc.wait()
        self._add(Event(FINISHED, job))

    def _add(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)

    def poll(self) -> list[Event]:
        with self._lock:
            events, self._events = self._events, []
        return events

    def close(self) -> None:
        for watcher in self._watchers:
            watcher.join()
