"""The sweep's executor settings refused in one line before anything is planned: an address where
no Ray cluster answers (within seconds), and Ray not installed (with the command that installs
it). Neither needs Ray; tests/test_ray_cluster.py runs a real cluster."""

from __future__ import annotations

import socket
import time

from bn_keras.common import cli as common_cli


def _closed_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_cluster_is_refused_in_one_line_within_seconds(cli):
    address = f"127.0.0.1:{_closed_loopback_port()}"
    began = time.monotonic()
    proc = cli.run("bn_keras.sweep", "--executor=ray", f"--ray_address={address}", "--seeds=1")
    assert time.monotonic() - began < 30
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(common_cli.ERROR_PREFIX), proc.stderr
    assert f"--ray_address={address}: no Ray cluster answers there" in lines[0]
    assert "runs planned" not in proc.stdout


def test_ray_not_installed_is_one_line_with_its_install_command(cli):
    proc = cli.run(
        "bn_keras.sweep",
        "--executor=ray",
        "--seeds=1",
        prelude="import sys; sys.modules['ray'] = None",
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        f"{common_cli.ERROR_PREFIX}--executor=ray needs Ray, which is not installed: "
        "pip install -e .[ray]"
    )
