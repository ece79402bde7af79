"""TensorFlow's start-up chatter, hidden: its banner and CUDA probes, and other libraries' INFO.

TensorFlow's C++ side writes to file descriptor 2 before its logging is set up, whatever
TF_CPP_MIN_LOG_LEVEL says: "All log messages before absl::InitializeLog()", the oneDNN notice,
"Could not find cuda drivers" and, on a machine without a GPU, "E0000 ... failed call to cuInit"
(which reads like a failure). `hide_start_up_messages` passes the process's stderr through a
small filter process that drops exactly those lines; everything else, warnings and errors
included, goes through unchanged and in order. `hide_library_info` drops INFO records that
libraries (TFDS, TensorFlow's SavedModel writer) log through absl, keeping bn_keras's own.
`--verbose` (bn_keras.common.cli) keeps both.

This file is also the filter process: `python quiet.py` copies stdin to stderr, minus the noise.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

# Lines TensorFlow writes at start-up that say nothing to a user; matched at a line's start.
NOISE = re.compile(
    rb"(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|I0000 00:00:"  # any INFO line from before absl's logging is initialized
    rb"|[IWE]\d{4} [^\n]*(failed call to cuInit|Unable to register cu\w+ factory"
    rb"|TF-TRT Warning: Could not find TensorRT|computation_placer\.cc))"
)
_PACKAGE = str(Path(__file__).resolve().parents[1])


def is_noise(line: bytes) -> bool:
    """Whether `line` (bytes, with or without its line ending) is start-up noise."""
    return NOISE.match(line) is not None


class _LibraryInfo(logging.Filter):
    """Passes warnings and above, and INFO from bn_keras's own modules."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.pathname.startswith(_PACKAGE)


def hide_library_info() -> None:
    """Drops INFO records of other packages from absl's log handler (TFDS's dataset_info, ...)."""
    from absl import logging as absl_logging

    handler = absl_logging.get_absl_handler()
    if not any(isinstance(f, _LibraryInfo) for f in handler.filters):
        handler.addFilter(_LibraryInfo())


_filter: subprocess.Popen | None = None
_saved: int | None = None  # the process's own stderr, while fd 2 is the filter's pipe


def hide_start_up_messages() -> None:
    """From now on, this process's file descriptor 2 (its children's too) goes through the filter
    process, which drops NOISE lines; restored at exit, once the filter has written the rest.

    Does nothing when already done, or when the filter process cannot start.
    """
    global _filter, _saved
    if _filter is not None:
        return
    sys.stderr.flush()
    try:
        _filter = subprocess.Popen(
            [sys.executable, "-I", "-S", __file__], stdin=subprocess.PIPE, stderr=None
        )
    except OSError:
        return
    _saved = os.dup(2)
    os.dup2(_filter.stdin.fileno(), 2)
    _filter.stdin.close()  # fd 2 is now the only writer of this process
    atexit.register(restore)


def restore() -> None:
    """Gives fd 2 back and waits for the filter to write what it holds: at exit, and before an
    exit that skips atexit (os._exit). Does nothing when the filter is not running."""
    global _filter, _saved
    if _filter is None or _saved is None:
        return
    sys.stderr.flush()
    os.dup2(_saved, 2)  # the filter sees end of input once children holding the pipe are done
    os.close(_saved)
    # A child still writing through the filter after 5 s: it goes on alone and ends after it.
    with contextlib.suppress(subprocess.TimeoutExpired):
        _filter.wait(timeout=5)
    _filter, _saved = None, None


def _filter_main() -> None:
    """Copies stdin to stderr without NOISE lines, forwarding each line (or carriage-return
    update of a progress bar) as soon as it is complete."""
    # Interrupts go to the commands; the filter ends when its input does.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pending = b""
    while chunk := os.read(0, 65536):
        pending += chunk
        *lines, pending = re.split(rb"(?<=[\n\r])", pending)
        _write(b"".join(line for line in lines if not is_noise(line)))
    if not is_noise(pending):
        _write(pending)


def _write(data: bytes) -> None:
    while data:
        data = data[os.write(2, data) :]


if __name__ == "__main__":
    _filter_main()
