"""Checks of command-line text that needs no TensorFlow: flagfiles, paths and names.

Each refusal is a ConfigError naming the flag and the way out; nothing here writes anything.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from bn_keras.common.errors import ConfigError

# A run name becomes a directory and, in a sweep, `<name>.log`: well within a file name's limit
# of 255 bytes on Linux and macOS file systems.
MAX_NAME_BYTES = 200
_FLAGFILE_PREFIXES = ("--flagfile=", "-flagfile=")
# What a path that is not a regular file is, in the refusal of it as a flagfile.
_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_file_name(value: str, flag: str) -> None:
    """Refuses text that cannot be one file name: empty, '.' or '..', a path separator, a
    character that is not printable (control characters, bytes that were not valid text in
    the command line), or more than MAX_NAME_BYTES bytes.

    Raises:
        ConfigError: naming the flag and what is wrong.
    """
    separators = {"/", os.sep, *([os.altsep] if os.altsep else [])}
    problem = None
    if value in ("", ".", ".."):
        problem = "is not a name"
    elif any(s in value for s in separators):
        problem = "contains '/': the run directory goes into --results_dir"
    elif not value.isprintable():
        problem = "contains characters that are not printable text"
    elif len(value.encode("utf-8")) > MAX_NAME_BYTES:
        problem = f"is longer than {MAX_NAME_BYTES} bytes"
    if problem:
        raise ConfigError(f"{flag}={value!r} {problem}: choose a plain file name")


def _check_path_text(path: str, flag: str) -> None:
    if not path or "\0" in path or not path.isprintable():
        raise ConfigError(f"{flag}={path!r} is not a usable path: choose another")


def _nearest_existing(path: Path, flag: str) -> Path:
    """`path` or its nearest existing ancestor."""
    probe = path
    try:
        while not probe.exists():
            probe = probe.parent
    except OSError as err:  # a name too long, a loop of links, ...
        raise ConfigError(f"{flag}={path}: {err.strerror}: choose another path") from None
    return probe


def check_directory(path: str, flag: str, writable: bool = True) -> None:
    """Refuses a path that is not a directory and cannot be made one (a file, or under a file),
    or, when `writable`, one that this process could not write into. Creates nothing.

    Raises:
        ConfigError: naming the flag, the path and what stands in the way.
    """
    _check_path_text(path, flag)
    target = Path(path)
    probe = _nearest_existing(target, flag)
    if probe == target and not probe.is_dir():
        raise ConfigError(f"{flag}={path} is a file, not a directory: choose another path")
    if not probe.is_dir():
        raise ConfigError(f"{flag}={path} lies under the file {probe}: choose another path")
    if writable and not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag}={path} is not writable (no write access to {probe})")


def _check_regular_file(name: str) -> None:
    """Refuses a flagfile that is not a regular file, without opening it (opening a named pipe
    waits for a writer; reading a device may never end)."""
    try:
        mode = os.stat(name).st_mode
    except OSError as err:
        raise ConfigError(f"--flagfile={name}: {err.strerror}: name a readable file") from None
    for test, what in _NOT_REGULAR:
        if test(mode):
            raise ConfigError(f"--flagfile={name} is {what}, not a file: name a flagfile")


def check_readable_file(path: str, flag: str) -> None:
    """Refuses a path that is not a regular file this process can read, without reading it.

    Raises:
        ConfigError: naming the flag, the path and what is wrong.
    """
    _check_path_text(path, flag)
    try:
        mode = os.stat(path).st_mode
    except OSError as err:
        raise ConfigError(f"{flag}={path}: {err.strerror}: name a readable file") from None
    if not stat.S_ISREG(mode):
        what = next((what for test, what in _NOT_REGULAR if test(mode)), "not a regular file")
        raise ConfigError(f"{flag}={path} is {what}, not a file: name a readable file")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{flag}={path} is not readable (no read access): name a readable file")


def check_batch_size(batch_size: int, examples: int) -> None:
    """Refuses a batch larger than the training set it draws from (every batch would hold the
    whole set, fewer examples than the batch size recorded). Config.validate checks the dataset's
    declared size before TensorFlow loads; this checks the arrays actually loaded (e.g. a test's
    tiny data).

    Raises:
        ConfigError: naming the batch size and the number of examples.
    """
    if batch_size > examples:
        raise ConfigError(
            f"--batch_size={batch_size} is above the {examples:,} training examples: use at "
            f"most {examples}"
        )


def check_flagfiles(argv: Sequence[str]) -> None:
    """Refuses flagfiles that include themselves, directly or through others, that are not
    regular files, or that cannot be read as text, before absl reads them (absl prints a warning
    and skips a file met again, so a loop went unnoticed; a named pipe or a device such as
    /dev/zero was read until the process was killed; a file that is not UTF-8 text ended in a
    UnicodeDecodeError traceback).

    Args:
        argv: the command line, program name first.

    Raises:
        ConfigError: naming the chain of files, or the file and why it cannot be read.
    """
    args = list(argv[1:])
    for i, arg in enumerate(args):
        name = _flagfile_name(arg)
        if name is None and arg in ("--flagfile", "-flagfile") and i + 1 < len(args):
            name = os.path.expanduser(args[i + 1])
        if name:
            _follow(name, [])


def _flagfile_name(text: str) -> str | None:
    for prefix in _FLAGFILE_PREFIXES:
        if text.startswith(prefix):
            return os.path.expanduser(text[len(prefix) :].strip())
    return None


def _follow(name: str, chain: list[tuple[str, str]]) -> None:
    """Reads flagfile `name` and the ones it names, `chain` holding (name, real path) above."""
    _check_path_text(name, "--flagfile")
    real = os.path.realpath(name)
    if real in [r for _, r in chain]:
        names = " -> ".join([n for n, _ in chain] + [name])
        raise ConfigError(f"--flagfile={chain[0][0]} includes itself ({names}): remove the loop")
    _check_regular_file(name)
    try:
        with open(name, encoding="utf-8") as f:
            lines = f.readlines()
    except UnicodeDecodeError:
        raise ConfigError(f"--flagfile={name} is not UTF-8 text: name a flagfile") from None
    except OSError as err:
        raise ConfigError(f"--flagfile={name}: {err.strerror}: name a readable file") from None
    for line in lines:
        nested = _flagfile_name(line)
        if nested:
            _follow(nested, [*chain, (name, real)])
