"""scripts/ensure_env.sh's policy, with a stub Python: it never repoints an active environment
that imports bn_keras from another checkout unless asked, and upgrades pip only in its own .venv."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STUB = """#!/usr/bin/env bash
# A stand-in for the environment's python: the two probes answer from the environment, pip logs.
case "$1" in
  -c) echo "$STUB_IMPORTED" ;;
  -I) echo "$STUB_INSTALLED" ;;
  -m) echo "${*:2}" >> "$STUB_LOG" ;;
esac
"""


def _env_dir(path: Path) -> Path:
    (path / "bin").mkdir(parents=True)
    python = path / "bin" / "python"
    python.write_text(STUB)
    python.chmod(0o755)
    (path / "bin" / "activate").write_text(f'export VIRTUAL_ENV="{path}" PATH="{path}/bin:$PATH"\n')
    return path


@pytest.fixture
def repo(tmp_path) -> Path:
    """A checkout holding only what ensure_env.sh reads."""
    repo = tmp_path / "checkout"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "ensure_env.sh", repo / "scripts")
    shutil.copy(ROOT / "setup.py", repo)
    return repo.resolve()


def _source(repo: Path, venv: Path | None, imported: str, installed: str, **env: str):
    log = repo / "pip.log"
    environ = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "BN_KERAS_ENV")}
    environ.update(STUB_IMPORTED=imported, STUB_INSTALLED=installed, STUB_LOG=str(log), **env)
    if venv is not None:
        environ.update(VIRTUAL_ENV=str(venv), PATH=f"{venv}/bin:{environ['PATH']}")
    proc = subprocess.run(
        ["bash", "-c", "source scripts/ensure_env.sh && echo sourced"],
        cwd=repo,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    pip = log.read_text().splitlines() if log.exists() else []
    return proc, pip


def test_an_environment_with_another_checkouts_install_is_refused(repo, tmp_path):
    venv = _env_dir(tmp_path / "shared")
    proc, pip = _source(repo, venv, "/elsewhere/checkout", "/elsewhere/checkout")
    assert proc.returncode == 2 and "sourced" not in proc.stdout
    (line,) = proc.stderr.splitlines()
    assert line.startswith("bn_keras: error: the active virtual environment")
    assert "/elsewhere/checkout" in line and "BN_KERAS_ENV=keep" in line
    assert pip == []


@pytest.mark.parametrize(
    ("setting", "pip_calls"),
    [("keep", []), ("install", ["pip install --quiet -e {repo}[test]"])],
)
def test_the_opt_ins_keep_or_repoint_it_without_upgrading_pip(repo, tmp_path, setting, pip_calls):
    venv = _env_dir(tmp_path / "shared")
    proc, pip = _source(repo, venv, "/elsewhere", "/elsewhere", BN_KERAS_ENV=setting)
    assert proc.returncode == 0, proc.stderr
    assert pip == [c.format(repo=repo) for c in pip_calls]
    assert ("repointing" in proc.stderr) == (setting == "install")


def test_this_checkout_through_pythonpath_is_used_as_it_is(repo, tmp_path):
    venv = _env_dir(tmp_path / "shared")
    proc, pip = _source(repo, venv, str(repo), "/elsewhere")
    assert proc.returncode == 0, proc.stderr
    assert pip == [] and proc.stderr == ""


def test_a_foreign_environment_without_bn_keras_gets_it_but_keeps_its_pip(repo, tmp_path):
    venv = _env_dir(tmp_path / "shared")
    proc, pip = _source(repo, venv, "", "")
    assert proc.returncode == 0, proc.stderr
    assert pip == [f"pip install --quiet -e {repo}[test]"]
    assert any(p.name.startswith(".bn_keras-setup-") for p in venv.iterdir())


def test_its_own_venv_is_set_up_with_pip_upgraded_once(repo):
    _env_dir(repo / ".venv")
    proc, pip = _source(repo, None, "", "")
    assert proc.returncode == 0, proc.stderr
    assert pip == ["pip install --quiet --upgrade pip", f"pip install --quiet -e {repo}[test]"]
    proc, pip_again = _source(repo, None, str(repo), str(repo))
    assert proc.returncode == 0 and pip_again == pip  # the stamp: nothing more to install
