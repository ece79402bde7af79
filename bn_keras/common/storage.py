"""Failed writes (full disk, quota, size limit, no permission, read-only) reported in one line.

Kept free of TensorFlow; TensorFlow's errors are recognized only once it is loaded.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
from collections.abc import Iterator

from bn_keras.common.errors import WriteError

# What to do about each kind of failed write.
_ADVICE = {
    errno.ENOSPC: "free space on that disk",
    errno.EDQUOT: "free space within your disk quota",
    errno.EFBIG: "raise the file size limit (ulimit -f)",
    errno.EACCES: "make that directory writable, or choose another --results_dir or --data_dir",
    errno.EPERM: "make that directory writable, or choose another --results_dir or --data_dir",
    errno.EROFS: "choose a directory on a writable file system",
}
_TF_PATH = re.compile(r"(\S+?)(?:\.tempstate\d+)?; ")


def write_error(err: BaseException) -> WriteError | None:
    """The one-line report of a failed write, or None when `err` is something else.

    Args:
        err: an OSError, or a TensorFlow OpError whose message carries the system's reason.
    """
    for code, advice in _ADVICE.items():
        reason = os.strerror(code)
        if isinstance(err, OSError) and err.errno == code:
            path = err.filename or "a file"
        elif _is_tf_error(err) and f"; {reason}" in str(err):
            match = _TF_PATH.search(str(err).split(f"; {reason}")[0] + "; ")
            path = match.group(1) if match else "a file"
        else:
            continue
        return WriteError(
            f"could not write {path}: {reason}: {advice}, then run the same command again "
            "(a run resumes from its last checkpoint)"
        )
    return None


def _is_tf_error(err: BaseException) -> bool:
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(err, tf.errors.OpError)


@contextlib.contextmanager
def write_errors_reported() -> Iterator[None]:
    """Turns a failed write inside the block into a WriteError; other errors pass unchanged."""
    try:
        yield
    except Exception as err:
        error = write_error(err)
        if error is None:
            raise
        raise error from err
