"""Starts a multi-worker run on this machine: `python -m bn_keras.launch --workers=2 -- <flags>`.

Its own flags, before `--`, are LaunchOptions' (bn_keras/config/commands.py, listed in
docs/flags.md); the flags after `--` go to every worker.

Each worker is `python -m bn_keras.main <flags>` with its own TF_CONFIG naming all workers on
loopback ports; worker 0 is the chief. Their output is shown prefixed with the worker's index. When
a worker fails, the others are stopped (they would wait for it forever) and the launcher exits
with that worker's exit code and error line. SIGINT and SIGTERM reach every worker (as SIGINT), so
all stop at the same iteration with a checkpoint, and the same command resumes them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import NoReturn

from absl import flags

from bn_keras.common import cli
from bn_keras.common.errors import ConfigError
from bn_keras.config import checks, fields
from bn_keras.config import flags as config_flags
from bn_keras.config.commands import LaunchOptions
from bn_keras.distribution import cluster

config_flags.define_flags(LaunchOptions)
flags.adopt_module_key_flags(config_flags)  # --help lists them as the launcher's own
FLAGS = flags.FLAGS
USAGE = "python -m bn_keras.launch --workers=2 -- <flags of bn_keras.main>"

ERROR_PREFIX = cli.ERROR_PREFIX
# The cluster's addresses must be known before its servers start, so ports are picked free and
# released; another process may take one before a worker binds it. TensorFlow's gRPC server then
# fails with this line, and the launch starts again on other ports, up to PORT_ATTEMPTS times.
PORT_TAKEN = "Could not start gRPC server"
PORT_ATTEMPTS = 3


def free_ports(host: str, count: int) -> list[int]:
    """`count` distinct ports that are free now on every interface, as TensorFlow's servers bind
    them (0.0.0.0, whatever `host` the cluster names); they may be taken again before use."""
    del host  # the workers' servers listen on all interfaces
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Worker:
    """One worker process, with its output relayed and its error line kept."""

    def __init__(self, index: int, command: list[str], tf_config: str):
        self.index = index
        self.error_line: str | None = None
        self.port_taken = False
        env = {**os.environ, "TF_CONFIG": tf_config}
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # a terminal's Ctrl-C reaches workers through us only
        )
        self._relay = threading.Thread(target=self._relay_output, daemon=True)
        self._relay.start()

    def _relay_output(self) -> None:
        for line in self.process.stdout:
            if line.startswith(ERROR_PREFIX):
                self.error_line = line[len(ERROR_PREFIX) :].strip()
            self.port_taken = self.port_taken or PORT_TAKEN in line
            sys.stderr.write(f"[worker {self.index}] {line}")

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def finish(self) -> int:
        """Waits for the process and its output; returns its exit code."""
        code = self.process.wait()
        self._relay.join()
        return code


def _fail(message: str, code: int) -> NoReturn:
    print(f"bn_keras.launch: error: {message}", file=sys.stderr)
    sys.exit(code)


def run_workers(
    main_flags: list[str],
    count: int,
    host: str,
    grace_s: float,
    pick_ports: Callable[[str, int], list[int]] = free_ports,
) -> int:
    """Runs `count` workers of `python -m bn_keras.main main_flags`; returns the exit code.

    0 when all succeed; otherwise the code of the first worker that failed, after its error
    line is printed and the other workers are stopped. A launch whose port was taken before a
    worker could bind it starts again on other ports (PORT_TAKEN), from `pick_ports`.
    """
    stopped: list[int] = []
    for attempt in range(1, PORT_ATTEMPTS + 1):
        addresses = [f"{host}:{port}" for port in pick_ports(host, count)]
        failed, workers = _run_once(main_flags, addresses, grace_s, stopped)
        port_taken = failed is not None and any(w.port_taken for w in workers)
        if not port_taken or stopped or attempt == PORT_ATTEMPTS:
            break
        print(
            f"bn_keras.launch: a port was taken before worker {failed.index} could bind it; "
            "starting again on other ports",
            file=sys.stderr,
        )
    if failed is None:
        return 0
    code = failed.process.returncode
    reason = failed.error_line or "no error line; see its output above"
    print(
        f"bn_keras.launch: error: worker {failed.index} exited with code {code}: {reason}",
        file=sys.stderr,
    )
    return code if code > 0 else 128 - code  # killed by a signal: 128 + its number


def _run_once(
    main_flags: list[str], addresses: list[str], grace_s: float, stopped: list[int]
) -> tuple[Worker | None, list[Worker]]:
    """One launch on `addresses`: (the first worker that failed or None, every worker); signals
    received are appended to `stopped`."""
    command = [sys.executable, "-m", "bn_keras.main", *main_flags]
    workers = [
        Worker(i, command, cluster.make_tf_config(addresses, i)) for i in range(len(addresses))
    ]

    def forward(signum, frame):
        del frame
        stopped.append(signum)
        # As SIGINT: under MultiWorkerMirroredStrategy, TensorFlow's coordination service takes
        # SIGTERM (as a preemption notice) before bn_keras's handler can checkpoint.
        for worker in workers:
            worker.signal(signal.SIGINT)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    failed: Worker | None = None
    running = list(workers)
    while running:
        for worker in list(running):
            code = worker.process.poll()
            if code is None:
                continue
            running.remove(worker)
            if code != 0 and failed is None:
                failed = worker
                _stop(running, grace_s)
        time.sleep(0.2)
    for worker in workers:
        worker.finish()
    return failed, workers


def _stop(workers: list[Worker], grace_s: float) -> None:
    for worker in workers:
        worker.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for worker in workers:
        try:
            worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.signal(signal.SIGKILL)


def main(argv: list[str]) -> None:
    main_flags = argv[1:]
    if not main_flags:
        _fail(f"no flags for the workers: use {USAGE}", 2)
    options = config_flags.from_flags(LaunchOptions)
    try:
        fields.check_fields(options)
    except ConfigError as err:
        _fail(str(err), 2)
    sys.exit(run_workers(main_flags, options.workers, options.host, options.grace_s))


def parse_flags(argv: list[str]) -> list[str]:
    """Parses the launcher's flags (before `--`, or all of them, e.g. --help); what follows `--`
    goes to every worker."""
    split = argv.index("--") if "--" in argv else len(argv)
    try:
        checks.check_flagfiles(argv[:split])
        FLAGS(argv[:split])
    except ConfigError as err:
        _fail(str(err), 2)
    except flags.Error as err:
        hint = "" if split < len(argv) else f" (separate the workers' flags with --: {USAGE})"
        _fail(str(err).splitlines()[0] + hint, 2)
    return [argv[0], *argv[split + 1 :]]


if __name__ == "__main__":
    cli.run(main, flags_parser=parse_flags)
