"""What a Ray task does on its node: one job's `python -m bn_keras.main`, its run directories
written in place (a shared filesystem) or in node-local scratch and shipped to the driver.

In scratch, the task first fetches the job's entries as the driver holds them (so that an
interrupted run resumes from its last shipped checkpoint, on whichever node), then ships them
every `ship_every_s` while the run changes them (their checkpoint and metrics, so that a run is
not lost with its node, and the driver's progress line reads their metrics), and once more when
the run ends, as a mirror. The run dies with the task's worker (a parent-death signal), so a
node that dies or a driver that stops leaves no orphaned training behind.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bn_keras.experiments.executors import shipping
from bn_keras.experiments.executors.base import watch_stderr
from bn_keras.experiments.jobs import REPO
from bn_keras.runs.checkpoint import STATE_FILE
from bn_keras.runs.run_dir import CHECKPOINT_DIR

OVERWRITE = "--overwrite"
SHARED, SHIP, AUTO = "shared", "ship", "auto"


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """One job as its task needs it: plain values, the driver's paths."""

    name: str  # the job's name, e.g. "mlp_stack_seeds0-4" or "pytorch/mlp_seed0"
    base: str  # the driver's directory holding its run directories (its --results_dir)
    entries: tuple[str, ...]  # its run directories and its log, relative to `base`
    log: str  # its log, relative to `base`
    args: tuple[str, ...]  # bn_keras.main's arguments, --results_dir=<base> among them
    start_flags: tuple[str, ...]  # ("--overwrite",) to start afresh
    results: str  # SHARED, SHIP or AUTO (SHARED where the driver's marker file is visible)
    marker: str  # a file the driver wrote into `base`; its content is `token`
    token: str
    ship_every_s: float
    env: tuple[tuple[str, str], ...]  # the driver's settings for the run's process


def shared_filesystem(spec: TaskSpec) -> bool:
    """Whether this node sees the driver's results directory (see TaskSpec.results)."""
    if spec.results != AUTO:
        return spec.results == SHARED
    try:
        return Path(spec.marker).read_text() == spec.token
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the run's process: killed when the task's worker dies (Linux; elsewhere a no-op)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _checkpoints(base: Path, entries: tuple[str, ...]) -> tuple:
    return shipping.signature(base, [f"{e}/{CHECKPOINT_DIR}/{STATE_FILE}" for e in entries])


def warm_up() -> None:
    """Nothing: a task whose worker starts (this code and the runtime environment unpacked on its
    node) while the driver prepares the data, so that the first jobs find a worker ready."""


def run(spec: TaskSpec, sink) -> dict:
    """Runs the job on this node and returns {"returncode", "last_error"}; `sink` is the
    driver's ResultsSink actor (ray_executor).

    Every call to Ray happens on a thread of its own: a task's main thread blocked in `ray.get`
    gives its CPU back to the scheduler, which starts another task on it, and then more runs
    would train at once than the node has CPUs (measured: 3 on 2 CPUs); other threads keep it.
    """
    with concurrent.futures.ThreadPoolExecutor(1) as thread:
        return thread.submit(_run, spec, sink).result()


def _run(spec: TaskSpec, sink) -> dict:
    import ray

    context = ray.get_runtime_context()
    where = f"node {context.get_node_id()[:8]} {ray.util.get_node_ip_address()}"
    attempt, checkpointed = ray.get(sink.begin.remote(spec.name, where))
    start_flags = list(spec.start_flags)
    if attempt and checkpointed:  # a retry continues what an earlier attempt checkpointed
        start_flags = [f for f in start_flags if f != OVERWRITE]
    shared = shared_filesystem(spec)
    scratch = None if shared else Path(tempfile.mkdtemp(prefix="bn_keras_ray_"))
    base = Path(spec.base) if shared else scratch / "results"
    args = list(spec.args)
    if not shared:
        data = ray.get(sink.fetch.remote(spec.base, spec.entries))
        shipping.restore(data, base, spec.entries, mirror=True)
        args = [f"--results_dir={base}" if a == f"--results_dir={spec.base}" else a for a in args]
    try:
        return _train(spec, sink, base, args + start_flags, shared)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _train(spec: TaskSpec, sink, base: Path, args: list[str], shared: bool) -> dict:
    import ray

    log = base / spec.log
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bn_keras.main", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **dict(spec.env)},
        preexec_fn=_die_with_parent,
    )
    outcome = {}
    with open(log, "w") as log_file:
        reader = threading.Thread(
            target=lambda: outcome.update(last_error=watch_stderr(proc.stderr, log_file))
        )
        reader.start()
        shipped, checkpoints = (
            shipping.signature(base, spec.entries),
            _checkpoints(base, spec.entries),
        )
        while True:
            try:
                proc.wait(timeout=spec.ship_every_s)
                break
            except subprocess.TimeoutExpired:
                pass
            now = _checkpoints(base, spec.entries)
            new_checkpoint, checkpoints = now != checkpoints, now
            if shared:
                if new_checkpoint:
                    ray.get(sink.progress.remote(spec.name, True))
                continue
            current = shipping.signature(base, spec.entries)
            if current != shipped:
                data = shipping.snapshot(base, spec.entries)
                ray.get(sink.put.remote(spec.name, spec.base, spec.entries, data, False))
                shipped = current
        reader.join()
    if not shared:
        data = shipping.snapshot(base, spec.entries)
        ray.get(sink.put.remote(spec.name, spec.base, spec.entries, data, True))
    return {"returncode": proc.returncode, "last_error": outcome.get("last_error", "")}
