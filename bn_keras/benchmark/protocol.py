"""The line protocol between `python -m bn_keras.bench` and the worker processes that time training.

Standard library only: the PyTorch worker may run under an interpreter that has no TensorFlow.
Each command and each reply is one JSON object on one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from bn_keras.benchmark import noise


class WorkerError(RuntimeError):
    """A worker failed or died; the message ends with the tail of its log."""


def reserve_stdout() -> TextIO:
    """Keeps stdout for the replies: returns it, and sends whatever else gets printed from now on
    (by TensorFlow, TFDS's preparation of the dataset, ...) to the log on stderr. Call it first."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return replies


def serve(handle: Callable[[dict], dict], ready: dict, replies: TextIO) -> None:
    """Answers commands read from stdin until {"cmd": "exit"} or end of input.

    Args:
        handle: maps a command to its reply; an exception becomes an error reply.
        ready: sent first, once the worker is set up (versions, thread counts).
        replies: the stream `reserve_stdout` returned.
    """

    def send(message: dict) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    send({"ready": ready})
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "exit":
            break
        try:
            send({"ok": _handle_timed(handle, command)})
        except Exception as err:  # reported to the parent, which stops the benchmark
            traceback.print_exc()
            send({"error": f"{type(err).__name__}: {err}"})
    # A worker keeps nothing: exit at once (TensorFlow's teardown can hang with live iterators).
    sys.stderr.flush()
    os._exit(0)


def _handle_timed(handle: Callable[[dict], dict], command: dict) -> dict:
    """`handle(command)`; a "time" reply also gets "noise", throttling and load around it, and
    "span", when it started and ended on the machine's monotonic clock (seconds; comparable
    between processes on Linux), so that timings run side by side can be put together."""
    if command["cmd"] != "time":
        return handle(command)
    before = noise.snapshot()
    start = time.monotonic()
    reply = handle(command)
    span = [start, time.monotonic()]
    return {
        **reply,
        "span": span,
        "noise": noise.compare(before, noise.snapshot(), noise.usable_cpus()),
    }


class Worker:
    """A worker process started with `argv` and `env`, its stderr going to `log_path`.

    Starting returns at once; `wait_ready` waits for the worker's set-up, so several can start
    side by side.
    """

    def __init__(
        self, name: str, argv: Sequence[str], env: Mapping[str, str] | None, log_path: Path
    ):
        self.name = name
        self.log_path = Path(log_path)
        with open(self.log_path, "w") as log:
            self._process = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, **(env or {})},
            )
        self.info: dict = {}

    def wait_ready(self) -> dict:
        """Waits until the worker is set up; returns what it reported (versions, threads)."""
        self.info = self._read()["ready"]
        return self.info

    def call(self, cmd: str, **arguments) -> dict:
        """Sends one command and returns the worker's reply.

        Raises:
            WorkerError: the command failed or the worker died.
        """
        self.send(cmd, **arguments)
        return self.receive()

    def send(self, cmd: str, **arguments) -> None:
        """Sends one command without waiting for its reply (`receive` reads it)."""
        self._process.stdin.write(json.dumps({"cmd": cmd, **arguments}) + "\n")
        self._process.stdin.flush()

    def receive(self) -> dict:
        """The reply to the command sent last.

        Raises:
            WorkerError: the command failed or the worker died.
        """
        reply = self._read()
        if "error" in reply:
            raise WorkerError(f"worker {self.name}: {reply['error']}\n{self._log_tail()}")
        return reply["ok"]

    def _read(self) -> dict:
        line = self._process.stdout.readline()
        if not line:
            status = self._process.wait()
            raise WorkerError(f"worker {self.name} exited with status {status}\n{self._log_tail()}")
        return json.loads(line)

    def _log_tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(f"  | {line}" for line in text)

    def close(self) -> None:
        """Asks the worker to exit and waits for it (kills it after 30 s)."""
        try:
            self._process.stdin.write(json.dumps({"cmd": "exit"}) + "\n")
            self._process.stdin.close()
            self._process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()


def call_together(workers: Sequence[Worker], cmd: str, **arguments) -> list[dict]:
    """Sends the same command to every worker at once, then returns their replies in order: the
    workers run it side by side.

    Raises:
        WorkerError: a command failed or a worker died.
    """
    for worker in workers:
        worker.send(cmd, **arguments)
    return [worker.receive() for worker in workers]
