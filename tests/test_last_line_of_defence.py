"""An unexpected exception in any command ends in one error line that names a traceback file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bn_keras.common.errors import ConfigError
from bn_keras.config.settings import Config
from bn_keras.runs import run_dir

REPO = Path(__file__).resolve().parents[1]
PREFIX = "bn_keras: error: "
# A command whose main fails in a way nothing reports: as a bug would.
FAILING_COMMAND = """
import sys
from pathlib import Path
from bn_keras.common import cli

def main(argv):
    if len(argv) > 1:
        cli.keep_tracebacks_in(Path(argv[1]))  # as main.py does once the run directory exists
    {{}}["missing_key"]  # a KeyError: a bug, not an input error

cli.run(main)
"""


def _run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )


def _traceback_file(stderr: str) -> Path:
    """Checks the one-line promise and returns the file that line names."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len([line for line in lines if line.startswith(PREFIX)]) == 1, stderr
    assert lines[-1].startswith(PREFIX) and "Traceback" not in stderr, stderr
    match = re.search(r"traceback in (\S+);", lines[-1])
    assert match, lines[-1]
    return Path(match[1])


@pytest.fixture
def failing_command(tmp_path) -> Path:
    script = tmp_path / "failing_command.py"
    script.write_text(FAILING_COMMAND.replace("{{}}", "{}"))
    return script


def test_unexpected_error_is_one_line_and_a_temporary_traceback_file(failing_command):
    proc = _run([str(failing_command)])
    assert proc.returncode == 1
    path = _traceback_file(proc.stderr)
    assert "unexpected KeyError: 'missing_key'" in proc.stderr
    try:
        text = path.read_text()
        assert "Traceback (most recent call last)" in text and '["missing_key"]' in text
    finally:
        path.unlink()


def test_the_run_directory_log_holds_the_traceback_once_there_is_one(failing_command, tmp_path):
    log = tmp_path / "run" / "errors.log"
    log.parent.mkdir()
    for attempt in (1, 2):
        proc = _run([str(failing_command), str(log)])
        assert proc.returncode == 1
        assert _traceback_file(proc.stderr) == log
        assert log.read_text().count("KeyError: 'missing_key'") == attempt  # appended, not replaced


@pytest.mark.parametrize("how", [["--verbose"], "env"])
def test_verbose_shows_the_traceback_on_the_console(failing_command, how):
    args = [str(failing_command), *how] if how != "env" else [str(failing_command)]
    proc = _run(args, env={"BN_KERAS_VERBOSE": "1"} if how == "env" else None)
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(PREFIX) and proc.stderr.count(PREFIX) == 1
    Path(re.search(r"traceback in (\S+);", last)[1]).unlink()


def test_plot_reports_a_corrupt_record_in_one_line(tmp_path):
    # A run directory whose config.json is not JSON: once the last line of defence's, now a
    # refusal by name (test_bad_inputs has the other damaged records).
    run = tmp_path / "lenet_seed0"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    (run / "metrics.csv").write_text("step,test_accuracy\n0,0.1\n")
    proc = _run(["-m", "bn_keras.plot", str(tmp_path)])
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"bn_keras: error: {run / 'config.json'} cannot be read (JSONDecodeError): move {run} "
        f"out of {tmp_path} (or delete it and run the sweep that made it again, which trains it "
        "afresh)"
    ]


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "bn_keras.main", "--model=resnet"],
        ["-m", "bn_keras.sweep", "--seeds=0"],
        ["-m", "bn_keras.launch", "--workers=0", "--", "--model=mlp"],
        ["-m", "bn_keras.bench", "--reps=0"],
        ["-m", "bn_keras.plot"],
        ["-m", "bn_keras.probes.plot", "a", "b"],
    ],
    ids=lambda c: c[1],
)
def test_reported_errors_keep_their_one_line(command):
    proc = _run(command)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and re.match(r"bn_keras(\.launch)?: error: ", lines[0]), proc.stderr
    assert "traceback in" not in lines[0]


def test_print_config_still_prints_json(main_here):
    proc = main_here("--flagfile=flags/smoke.flags", "--print_config")
    assert proc.returncode == 0 and json.loads(proc.stdout)["train_steps"] == 20


def test_a_traceback_log_alone_does_not_make_a_run_directory_foreign(tmp_path):
    # A run that failed before writing its record leaves only its lock and errors.log: the same
    # command must start there again, not refuse the directory as someone else's.
    (tmp_path / run_dir.ERROR_LOG_FILE).write_text("Traceback ...\n")
    (tmp_path / run_dir.LOCK_FILE).write_text("123")
    run_dir.check_run_dir(tmp_path, Config(), overwrite=False)
    (tmp_path / run_dir.METRICS_FILE).write_text("precious\n")
    with pytest.raises(ConfigError, match="not a readable bn_keras run directory"):
        run_dir.check_run_dir(tmp_path, Config(), overwrite=False)
