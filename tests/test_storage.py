"""Writes that fail like on a full disk (a file size limit: EFBIG) leave the old file whole and
are reported in one line naming the path."""

from __future__ import annotations

import contextlib
import errno
import resource
import signal

import pytest
import tensorflow as tf

from bn_keras.common import storage
from bn_keras.common.atomic import write_text_atomic
from bn_keras.common.errors import WriteError
from bn_keras.runs.metrics_file import FIELDS, MetricsWriter, read_metrics

LIMIT = 4096


@contextlib.contextmanager
def file_size_limit():
    """Files of this process cannot grow past LIMIT bytes, as if the disk were full.

    Only around the writes under test: the limit holds for every file of the process, pytest's
    own output (a log file in CI) included.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def _row(step: int) -> dict:
    return {name: step if name == "step" else 0.5 for name in FIELDS}


def test_a_metrics_row_that_does_not_fit_is_not_written(tmp_path):
    path = tmp_path / "metrics.csv"
    writer = MetricsWriter(path)
    step = 0
    with pytest.raises(OSError) as raised, file_size_limit():
        while True:
            writer.append(_row(step))
            step += 1
    assert raised.value.errno == errno.EFBIG and raised.value.filename == str(path)
    text = path.read_text()
    assert text.endswith("\n") and len(path.read_bytes()) <= LIMIT
    assert [int(r["step"]) for r in read_metrics(path)] == list(range(step))


def test_an_atomic_write_that_does_not_fit_keeps_the_old_version(tmp_path):
    path = tmp_path / "config.json"
    write_text_atomic(path, "old\n")
    with pytest.raises(OSError) as raised, file_size_limit():
        write_text_atomic(path, "x" * (2 * LIMIT))
    assert raised.value.errno == errno.EFBIG and raised.value.filename == str(path)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


@pytest.mark.parametrize(
    "err, expected",
    [
        (OSError(errno.ENOSPC, "No space left on device", "/r/metrics.csv"), "free space"),
        (OSError(errno.EDQUOT, "Disk quota exceeded", "/r/metrics.csv"), "quota"),
        (OSError(errno.EFBIG, "File too large", "/r/metrics.csv"), "ulimit -f"),
        (OSError(errno.EACCES, "Permission denied", "/r/metrics.csv"), "writable"),
        (OSError(errno.EROFS, "Read-only file system", "/r/metrics.csv"), "writable file system"),
    ],
)
def test_failed_writes_get_one_line_with_path_reason_and_remedy(err, expected):
    message = str(storage.write_error(err))
    assert message.startswith("could not write /r/metrics.csv: ") and expected in message
    assert "run the same command again" in message and "\n" not in message


def test_tensorflow_write_errors_name_the_file():
    err = tf.errors.OutOfRangeError(
        None,
        None,
        "{{function_node __wrapped__SaveV2_dtypes_6_device_/job:localhost/replica:0/task:0/"
        "device:CPU:0}} /r/checkpoints/ckpt-2_temp/part-00000-of-00001.data-00000-of-00001"
        ".tempstate7789584345719026457; File too large [Op:SaveV2]",
    )
    message = str(storage.write_error(err))
    assert message.startswith(
        "could not write /r/checkpoints/ckpt-2_temp/part-00000-of-00001.data-00000-of-00001: "
        "File too large: raise the file size limit"
    )


def test_other_errors_pass_through():
    assert storage.write_error(OSError(errno.ENOENT, "No such file")) is None
    assert storage.write_error(ValueError("bad")) is None
    with pytest.raises(WriteError), storage.write_errors_reported():
        raise OSError(errno.ENOSPC, "No space left on device", "/r/x")
    with pytest.raises(KeyError), storage.write_errors_reported():
        raise KeyError("x")
