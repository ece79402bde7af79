"""The real command line: TensorFlow's start-up messages hidden; every command's --help; every
flagfile parses (bad input: elsewhere; the smoke flagfile's run end to end and quiet:
test_run_all.py)."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bn_keras.common import quiet
from bn_keras.config import flags as config_flags

REPO = Path(__file__).resolve().parents[1]


def test_start_up_noise_is_told_from_real_messages():
    noise = [
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        b"I0000 00:00:1796063221.479612   12476 port.cc:153] oneDNN custom operations are on.",
        b"E0000 00:00:1796063225.541655   12476 cuda_platform.cc:52] failed call to cuInit: x",
    ]
    real = [
        b"E0000 00:00:1796063225.541655   12476 some_op.cc:52] Out of memory",
        b"W1130 18:27:12.336769 1403957 callbacks.py:10] Signal 2: checkpointing",
        b"UserWarning: something Keras wants you to know",
    ]
    assert all(quiet.is_noise(line + b"\n") for line in noise)
    assert not any(quiet.is_noise(line + b"\n") for line in real)


_WRITES_TO_FD_2 = """
import os, sys
from bn_keras.common import quiet
quiet.hide_start_up_messages()
os.write(2, b"I0000 00:00:1 port.cc:1] oneDNN notice\\nfirst real line\\n")
print("second, from Python", file=sys.stderr)
os.write(2, b"E0000 00:00:2 cuda_platform.cc:52] failed call to cuInit: x\\nno newline at the end")
"""


def test_the_filter_passes_the_rest_in_order_and_nothing_is_lost_at_exit():
    proc = subprocess.run(
        [sys.executable, "-c", _WRITES_TO_FD_2], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b"first real line\nsecond, from Python\nno newline at the end"


@pytest.mark.parametrize("command", config_flags.COMMANDS)
def test_every_command_lists_its_own_flags_in_help(command, cli):
    # launch --help answered "separate the workers' flags with --"; plot --help left out
    # --command and --total_wall_time (defined outside the command's module).
    proc = cli.run(f"bn_keras.{command}", "--help", timeout=60)
    listed = set(re.findall(r"^\s+(?:-\w,)?--(?:\[no\])?(\w+):", proc.stdout, re.M))
    expected = {f.name for cls in config_flags.COMMANDS[command] for f in dataclasses.fields(cls)}
    assert expected <= listed, proc.stdout + proc.stderr


@pytest.mark.parametrize("flagfile", sorted(p.name for p in (REPO / "flags").glob("*.flags")))
def test_every_flagfile_parses_and_describes_itself(flagfile, main_here):
    text = (REPO / "flags" / flagfile).read_text()
    assert text.startswith("#")
    if flagfile != "recipe.flags":
        assert "# Command:" in text and "# Runtime:" in text and "# Result:" in text
        assert f"--flagfile=flags/{flagfile}" in text
    proc = main_here(f"--flagfile=flags/{flagfile}", "--print_config")
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)
    # Every experiment inherits the original recipe from recipe.flags.
    assert config["learning_rate"] == 1.0 and config["rho"] == 0.9
    assert config["adadelta_epsilon"] == 1e-6 and config["bn_epsilon"] == 1e-5
