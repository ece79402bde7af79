"""Shared fixtures: a tiny MNIST-shaped dataset, in memory and as a prepared TFDS `mnist`; two
logical CPU devices for the tests of distribution; reading weights from a run's checkpoint; the
one way tests run a command (`run_cli`, `start_cli`) and `bn_keras.main` in this process
(`main_here`, for input refused before TensorFlow runs); the benchmark's settings without
PyTorch (`bench_settings`); `--reverse`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from collections.abc import Mapping
from pathlib import Path

from bn_keras.common import onednn

onednn.apply_default()  # as the commands do, before TensorFlow loads; the suite's second leg sets 0

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402

from bn_keras.config import datasets  # noqa: E402
from bn_keras.data import offline_build  # noqa: E402
from bn_keras.data.originals import Splits  # noqa: E402

TINY_TRAIN = 200
TINY_TEST = 100
LOGICAL_CPUS = 2
REPO = Path(__file__).resolve().parents[1]
MNIST = datasets.get("mnist")  # the default dataset, whose shape the tiny arrays have


def pytest_addoption(parser):
    parser.addoption(
        "--reverse", action="store_true", help="Run the collected tests in reverse order."
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--reverse"):
        items.reverse()


def pytest_configure(config):
    """Splits the CPU into two logical devices (before TensorFlow's runtime starts), so that
    MirroredStrategy can run two replicas; single-device code still runs on /cpu:0 alone."""
    del config
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * LOGICAL_CPUS
    )


def checkpoint_weights(run_dir: Path) -> dict[str, np.ndarray]:
    """The model variables (weights and BN statistics) of a run's last checkpoint, by name."""
    state = json.loads((Path(run_dir) / "checkpoints" / "state.json").read_text())
    reader = tf.train.load_checkpoint(state["path"])
    names = [n for n in reader.get_variable_to_shape_map() if n.startswith("model/")]
    assert names, f"no model variables in the checkpoint of {run_dir}"
    return {n: reader.get_tensor(n) for n in names}


@pytest.fixture(scope="session")
def read_checkpoint_weights():
    """`checkpoint_weights` for tests (a fixture, so tests need not import conftest)."""
    return checkpoint_weights


def _tiny_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced digits-like data: each class lights up its own block of pixels, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 60, size=(n, 28, 28, 1), dtype=np.uint8)
    for i, label in enumerate(labels):
        row = 2 + 2 * label
        images[i, row : row + 3, 4:24, 0] = 255
    return images, labels.astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_arrays() -> Splits:
    train_x, train_y = _tiny_split(TINY_TRAIN, seed=1)
    test_x, test_y = _tiny_split(TINY_TEST, seed=2)
    return Splits(train_x, train_y, test_x, test_y)


@pytest.fixture(scope="session")
def tiny_mnist(tiny_arrays) -> Splits:
    a = tiny_arrays
    return Splits(
        a.train_images,
        a.train_labels.astype(np.int64),
        a.test_images,
        a.test_labels.astype(np.int64),
    )


@pytest.fixture(scope="session")
def tiny_tfds_dir(tiny_arrays, tmp_path_factory) -> str:
    """A TFDS data dir holding `mnist` built by the offline path from the tiny arrays."""
    data_dir = tmp_path_factory.mktemp("tfds")
    offline_build.build(MNIST, tiny_arrays, str(data_dir), "the tests' tiny arrays")
    return str(data_dir)


def command_env(changes: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment with TensorFlow's C++ log quiet and `changes` applied (a value
    of None removes the variable)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)  # a cluster, only where a test names one
    for name, value in (changes or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_cli(
    module: str,
    *args: str,
    timeout: float = 120,
    env: Mapping[str, str | None] | None = None,
    cwd: Path = REPO,
    prelude: str = "",
    **kwargs,
) -> subprocess.CompletedProcess:
    """`python -m <module> args`, by default from the repository root (flagfiles name each other
    relative to it, as in the README's commands), its output captured as text; killed after
    `timeout`. `prelude`: Python statements run first in the same process (e.g. to hide a
    module), the module then run as `-m` would."""
    command = ["-m", module]
    if prelude:
        runner = f"import runpy; runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
        command = ["-c", f"{prelude}; {runner}"]
    return subprocess.run(
        [sys.executable, *command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=command_env(env),
        **kwargs,
    )


def start_cli(
    module: str,
    *args: str,
    log: Path,
    env: Mapping[str, str | None] | None = None,
    nice: int = 0,
) -> subprocess.Popen:
    """Starts `python -m <module> args` as `run_cli` does, its stdout and stderr written to the
    file `log` (a file never fills up and blocks the child, as an undrained pipe does), at
    `nice` below this process's priority."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=command_env(env),
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )


@pytest.fixture(scope="session")
def cli():
    """`run_cli` and `start_cli` for tests, as `cli.run(...)` and `cli.start(...)`."""
    return types.SimpleNamespace(run=run_cli, start=start_cli, env=command_env, repo=REPO)


@pytest.fixture(scope="session")
def bench_settings():
    """`bench_settings(**fields)`: the benchmark's settings (runner.make_settings) for
    BenchOptions(**fields), without PyTorch whether or not it is installed, so that what they time
    is the same on every machine."""
    from bn_keras.benchmark import runner
    from bn_keras.config.commands import BenchOptions

    def make(**fields):
        return runner.make_settings(BenchOptions(torch_python="/nonexistent/python", **fields))

    return make


@pytest.fixture
def main_here(capfd, monkeypatch):
    """`python -m bn_keras.main args` run in this process, as `main_here(*args, env=..., cwd=...)`
    returning a CompletedProcess like `run_cli`'s: the same entry point (flag parsing, checks, the
    one-line error, the exit status), without a fresh interpreter's 5 s of imports.

    Only for input refused before TensorFlow runs (or --print_config, --dry_run): anything that
    trains would train here. stdout and stderr are captured at the file descriptors, so absl's
    log lines count as they would on a console. Flags are reset before and after each call."""
    from bn_keras import main as command

    def run(
        *args: str, env: Mapping[str, str | None] | None = None, cwd: Path = REPO
    ) -> subprocess.CompletedProcess:
        capfd.readouterr()  # drop what the test printed before
        with monkeypatch.context() as patch:
            patch.setattr(sys, "argv", ["bn_keras.main", *args])
            patch.chdir(cwd)
            patch.delenv("TF_CONFIG", raising=False)
            for name, value in (env or {}).items():
                if value is None:
                    patch.delenv(name, raising=False)
                else:
                    patch.setenv(name, value)
            flags.FLAGS.unparse_flags()
            try:
                command.run()
                code = 0
            except SystemExit as exit:
                code = 0 if exit.code is None else exit.code
            finally:
                flags.FLAGS.unparse_flags()
        out, err = capfd.readouterr()
        return subprocess.CompletedProcess(["bn_keras.main", *args], code, out, err)

    return run
