"""The Ray executor: one job, one Ray task reserving the CPUs it uses, retried on another node when
its node dies; the run directories come back to the driver through a `ResultsSink` actor on the
driver's node (bn_keras.experiments.executors.node says how).

Connecting: no address starts a Ray instance in this process (this machine's cores); `auto` joins
the cluster started on this machine with `ray start`; `HOST:PORT` is a cluster's head, checked
with a plain TCP connection first so that an unreachable address is refused in seconds rather
than after Ray's own retries. The code reaches the nodes as the runtime environment's working
directory (this checkout, without its results and environments); their Python packages are the
cluster's (docs/cluster.md).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import logging
import os
import secrets
import socket
from pathlib import Path

from bn_keras.common.errors import ConfigError
from bn_keras.experiments.executors import node, shipping
from bn_keras.experiments.executors.base import FINISHED, STARTED, Event
from bn_keras.experiments.jobs import REPO, Job
from bn_keras.runs.checkpoint import STATE_FILE

INSTALL = "pip install -e .[ray]"
CONNECT_TIMEOUT_S = 3.0
CPUS_PER_JOB = 1  # a run or a stack of single-threaded seeds: --threads=1
# Not shipped to the nodes as the code: results, environments, history.
EXCLUDES = ["venv", "results", "results_quick", "scratch", "__pycache__", "*.pyc"]
# Settings of the driver's environment the runs get on any node (TF_CONFIG is a tf.distribute
# cluster's, never a sweep's).
FORWARDED = ("TF_", "TFDS_", "BN_KERAS_")
MARKER_PREFIX = ".ray_marker_"


class ResultsSink:
    """Lives on the driver's node: hands tasks their runs as the driver holds them, writes what
    they ship into the driver's results directory, counts each job's attempts and reports which
    started where."""

    def __init__(self):
        self._attempts: dict[str, int] = {}
        self._checkpointed: set[str] = set()
        self._started: list[tuple[str, str]] = []

    def begin(self, name: str, where: str) -> tuple[int, bool]:
        """A task of job `name` starts on `where`: returns its attempt (0 first) and whether an
        earlier attempt left a checkpoint to resume from."""
        attempt = self._attempts.get(name, 0)
        self._attempts[name] = attempt + 1
        self._started.append((name, where + (f", attempt {attempt + 1}" if attempt else "")))
        return attempt, name in self._checkpointed

    def fetch(self, base: str, entries: list[str]) -> bytes:
        return shipping.snapshot(Path(base), entries)

    def put(self, name: str, base: str, entries: list[str], data: bytes, final: bool) -> None:
        shipping.restore(data, Path(base), entries, mirror=final)
        if not final and any(
            (Path(base) / e / "checkpoints" / STATE_FILE).is_file() for e in entries
        ):
            self._checkpointed.add(name)

    def progress(self, name: str, checkpointed: bool) -> None:
        if checkpointed:
            self._checkpointed.add(name)

    def started(self) -> list[tuple[str, str]]:
        started, self._started = self._started, []
        return started


def _check_reachable(address: str) -> None:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray_address={address}: give auto or the head's HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        raise ConfigError(
            f"--ray_address={address}: no Ray cluster answers there ({reason}); start one "
            "(ray start --head) or give its head's HOST:PORT"
        ) from None


def _loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check(address: str | None) -> None:
    """Refuses at once what would stop the executor from connecting.

    Raises:
        ConfigError: Ray is not installed, or nothing answers at `address` (HOST:PORT).
    """
    if address and address != "auto":
        _check_reachable(address)
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(f"--executor=ray needs Ray, which is not installed: {INSTALL}")


def connect(address: str | None, results_dir: Path):
    """Starts or joins Ray; returns the ray module.

    Raises:
        ConfigError: Ray is not installed, or no cluster at `address`.
    """
    check(address)
    if not address or _loopback(address):
        # A Ray of this machine alone, on its loopback: without this Ray rewrites 127.0.0.1 into
        # the machine's network address (where a loopback cluster does not listen) and starts
        # its own instance on that address.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor=ray needs Ray, which is not installed: {INSTALL}") from None
    excludes = list(EXCLUDES)
    if results_dir.resolve().is_relative_to(REPO):
        excludes.append(str(results_dir.resolve().relative_to(REPO)))
    runtime_env = {"working_dir": str(REPO), "excludes": excludes}
    local = {} if address else {"num_cpus": os.cpu_count(), "include_dashboard": False}
    try:
        ray.init(
            address=address or None,
            runtime_env=runtime_env,
            log_to_driver=False,
            logging_level=logging.WARNING,
            **local,
        )
    except ConnectionError as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        if address == "auto":
            reason = "no Ray cluster was started on this machine (ray start --head starts one)"
        raise ConfigError(f"--ray_address={address}: {reason}") from None
    return ray


def _one_line(err: BaseException) -> str:
    """A failed task's error in one line: the innermost cause Ray wraps (a task's error may
    wrap its actor call's), with its message's last line."""
    while isinstance(getattr(err, "cause", None), BaseException):
        err = err.cause
    lines = str(err).strip().splitlines()
    name = type(err).__name__.split("(")[-1].rstrip(")")
    return f"ray: {name}: {lines[-1] if lines else ''}"


class RayExecutor:
    """Every job submitted at once as a task; Ray's scheduler places them (see the module
    docstring)."""

    capacity = None

    def __init__(
        self,
        results_dir: Path,
        address: str | None = None,
        results: str = node.AUTO,
        ship_every_s: float = 30.0,
        retries: int = 3,
    ):
        self._ray = connect(address, results_dir)
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self._sink = ray.remote(ResultsSink).options(num_cpus=0, scheduling_strategy=here).remote()
        self._task = ray.remote(node.run).options(
            num_cpus=CPUS_PER_JOB, max_retries=retries, retry_exceptions=False
        )
        # One worker per CPU started now, while the driver prepares the data: a worker's start
        # (Python, Ray, the working directory unpacked) is seconds, and idle ones are reused.
        warm = ray.remote(node.warm_up).options(num_cpus=CPUS_PER_JOB, scheduling_strategy="SPREAD")
        cpus = int(ray.cluster_resources().get("CPU", 0)) // CPUS_PER_JOB
        self._warming = [warm.remote() for _ in range(cpus)]
        self._token = secrets.token_hex(8)
        self._marker = Path(results_dir).resolve() / "logs" / f"{MARKER_PREFIX}{self._token}"
        self._marker.parent.mkdir(parents=True, exist_ok=True)
        self._marker.write_text(self._token)
        self._results, self._ship_every_s = results, ship_every_s
        self._env = tuple(
            (k, v) for k, v in os.environ.items() if k.startswith(FORWARDED) and k != "TF_CONFIG"
        )
        self._jobs: dict[str, Job] = {}
        self._refs: dict = {}

    def _spec(self, job: Job) -> node.TaskSpec:
        base = job.run_dir.parent.resolve()
        relative = f"--results_dir={job.run_dir.parent}"
        job.launch_args = [f"--results_dir={base}" if a == relative else a for a in job.args] + [
            f"--threads={CPUS_PER_JOB}"
        ]
        names = list(dict.fromkeys([job.run_dir.name, *(r.run_dir.name for r in job.runs)]))
        log = str(job.log_path.relative_to(job.run_dir.parent))
        return node.TaskSpec(
            name=job.name,
            base=str(base),
            entries=(*names, log),
            log=log,
            args=tuple(job.launch_args),
            start_flags=tuple(job.start_flags),
            results=self._results,
            marker=str(self._marker),
            token=self._token,
            ship_every_s=self._ship_every_s,
            env=self._env,
        )

    def submit(self, job: Job) -> None:
        job.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._jobs[job.name] = job
        self._refs[self._task.remote(self._spec(job), self._sink)] = job

    def poll(self) -> list[Event]:
        ray = self._ray
        events = [
            Event(STARTED, self._jobs[name], where)
            for name, where in ray.get(self._sink.started.remote())
        ]
        if self._refs:
            ready, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
            for ref in ready:
                job = self._refs.pop(ref)
                try:
                    outcome = ray.get(ref)
                    job.returncode, job.last_error = outcome["returncode"], outcome["last_error"]
                except ray.exceptions.RayError as err:  # the task itself failed, retries spent
                    job.returncode = 1
                    job.last_error = (
                        f"ray: {type(err).__name__}: " + (str(err).strip().splitlines() or [""])[0]
                    )
                events.append(Event(FINISHED, job))
        return events

    def close(self) -> None:
        self._marker.unlink(missing_ok=True)
        self._ray.shutdown()
