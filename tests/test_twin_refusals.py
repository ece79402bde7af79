"""What --framework=pytorch refuses, in one line and before writing anything: settings the twin
cannot honour, and a missing torch. These need no torch, so they run where test_twin.py skips."""

from __future__ import annotations

import dataclasses

import pytest

from bn_keras.common.errors import ConfigError
from bn_keras.config.settings import Config
from bn_keras.twin import support


@pytest.mark.parametrize(
    "change",
    [{"strategy": "mirrored"}, {"init": "glorot"}, {"probe_every": 10}, {"landscape_every": 10}],
)
def test_settings_the_twin_cannot_honour_are_refused(change):
    with pytest.raises(ConfigError, match="--framework=pytorch"):
        support.check_supported(dataclasses.replace(Config(), **change))


def test_without_torch_the_twin_is_refused_in_one_line(tmp_path, cli):
    hide_torch = "import sys; sys.modules['torch'] = None"  # import torch now fails
    proc = cli.run(
        "bn_keras.main",
        "--framework=pytorch",
        f"--results_dir={tmp_path}",
        prelude=hide_torch,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert support.CPU_WHEEL_COMMAND in proc.stderr
    assert not any(tmp_path.iterdir())
