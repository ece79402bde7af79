"""Every command's edge: flag parsing, the one-line error, and the last line of defence.

    if __name__ == "__main__":
        cli.run(main)

An error bn_keras knows (ConfigError, DataError, ...) ends in its one-line message and exit code.
Anything else ends in one line too, naming what failed and the file that holds its traceback (the
run directory's log once a run directory is known, otherwise a temporary file), and exit
code 1. `--verbose` or BN_KERAS_VERBOSE=1 also shows the traceback on the console, and the
start-up messages of TensorFlow and INFO lines of other libraries that are hidden otherwise
(bn_keras.common.quiet).
"""

from __future__ import annotations

import datetime
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from absl import app, flags

from bn_keras.common import errors, onednn, quiet

ERROR_PREFIX = "bn_keras: error: "
VERBOSE_ENV = "BN_KERAS_VERBOSE"
# Errors whose message is the whole story: reported in one line, without a traceback.
REPORTED = (
    errors.ConfigError,
    errors.DataError,
    errors.TrainingDiverged,
    errors.CheckpointError,
    errors.WriteError,
    errors.RecordError,
    errors.Interrupted,
)

_log_file: Path | None = None


def error_line(message: str) -> str:
    """`message` as the error line every command prints."""
    return f"{ERROR_PREFIX}{message}"


def fail(message: str, code: int) -> NoReturn:
    """Prints the error line for `message` on stderr and exits with `code`."""
    print(error_line(message), file=sys.stderr, flush=True)
    sys.exit(code)


def exit_code(err: BaseException) -> int:
    """The exit code of a reported error: 2 for bad settings, 128 + signal when interrupted."""
    if isinstance(err, errors.Interrupted):
        return 128 + err.signum
    return 2 if isinstance(err, errors.ConfigError) else 1


def keep_tracebacks_in(log_file: Path | None) -> None:
    """From now on, append unexpected errors' tracebacks to `log_file` (None: a temporary file).

    Args:
        log_file: the run directory's log (bn_keras.runs.run_dir.ERROR_LOG_FILE); used while
            its directory exists.
    """
    global _log_file
    _log_file = None if log_file is None else Path(log_file)


def save_traceback(err: BaseException, command: str) -> Path | None:
    """Appends `err`'s traceback to the run directory's log, or writes a temporary file.

    Returns:
        The file's path, or None when no file could be written.
    """
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    text = f"{stamp} {command}\n{''.join(traceback.format_exception(err))}\n"
    if _log_file is not None and _log_file.parent.is_dir():
        try:
            with open(_log_file, "a") as log:
                log.write(text)
            return _log_file
        except OSError:
            pass  # e.g. the disk that failed the run: try the temporary directory
    try:
        fd, name = tempfile.mkstemp(prefix="bn_keras_traceback_", suffix=".log")
        with os.fdopen(fd, "w") as log:
            log.write(text)
        return Path(name)
    except OSError:
        return None


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, but a bad flag or flagfile ends in one line and exit code 2."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as err:
        fail(str(err).splitlines()[0], 2)


def _verbose() -> bool:
    if os.environ.get(VERBOSE_ENV, "") not in ("", "0"):
        return True
    return "verbose" in flags.FLAGS and bool(flags.FLAGS["verbose"].value)


def run(
    main: Callable[[list[str]], object],
    flags_parser: Callable[[list[str]], list[str]] = parse_flags,
    tensorflow: bool = False,
) -> NoReturn:
    """Runs an absl `main` as a bn_keras command: errors end in exactly one error line.

    Unless --verbose, other libraries' INFO log lines are hidden, and with `tensorflow` also
    TensorFlow's start-up messages (bn_keras.common.quiet).

    Args:
        main: the command's main, given the arguments left after the flags.
        flags_parser: parses the command line (default: parse_flags).
        tensorflow: the command may load TensorFlow (bn_keras.main).
    """
    if "verbose" not in flags.FLAGS:
        flags.DEFINE_bool(
            "verbose",
            False,
            "Show TensorFlow's start-up messages, other libraries' INFO lines and an unexpected "
            f"error's traceback here too (or {VERBOSE_ENV}=1).",
        )
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    onednn.apply_default()  # before TensorFlow loads, here or in the processes this one starts

    def quiet_main(argv: list[str]) -> object:
        if not _verbose():
            quiet.hide_library_info()
            if tensorflow:
                quiet.hide_start_up_messages()
        return main(argv)

    try:
        app.run(quiet_main, flags_parser=flags_parser)
    except SystemExit:
        raise
    except REPORTED as err:
        fail(str(err), exit_code(err))
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as err:  # the last line of defence: anything not reported above
        path = save_traceback(err, command)
        if _verbose():
            traceback.print_exception(err, file=sys.stderr)
        where = f"traceback in {path}" if path else "no file could hold the traceback"
        what = " ".join(str(err).split())[:300]  # one line, however the message was written
        fail(f"unexpected {type(err).__name__}: {what} ({where}; --verbose shows it here)", 1)
    sys.exit(0)  # app.run always exits; this keeps the NoReturn promise for type checkers
