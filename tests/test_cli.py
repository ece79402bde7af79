"""The real command line: a smoke run end to end; every flagfile parses (bad input: elsewhere)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bn_keras.runs.metrics_file import read_metrics

REPO = Path(__file__).resolve().parents[1]


def _main(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    # Flagfiles name each other relative to the repository root, as in the README's commands.
    return subprocess.run(
        [sys.executable, "-m", "bn_keras.main", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def test_smoke_flagfile_runs_the_whole_path(tiny_tfds_dir, tmp_path):
    proc = _main(
        "--flagfile=flags/smoke.flags", f"--data_dir={tiny_tfds_dir}", f"--results_dir={tmp_path}"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "smoke"
    rows = read_metrics(run_dir / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [0, 10, 20]
    record = json.loads((run_dir / "config.json").read_text())
    assert record["config"]["model"] == "lenetr" and record["config"]["bn"] is True
    assert record["config"]["rho"] == 0.9 and record["config"]["adadelta_epsilon"] == 1e-6
    assert "prepared TFDS mnist" in record["data_source"]
    assert (run_dir / "saved_model" / "saved_model.pb").is_file()
    assert (run_dir / "model.keras").is_file()
    assert "step 20/20" in proc.stderr and "Done:" in proc.stderr


@pytest.mark.parametrize("flagfile", sorted(p.name for p in (REPO / "flags").glob("*.flags")))
def test_every_flagfile_parses_and_describes_itself(flagfile):
    text = (REPO / "flags" / flagfile).read_text()
    assert text.startswith("#")
    if flagfile != "recipe.flags":
        assert "# Command:" in text and "# Runtime:" in text and "# Result:" in text
        assert f"--flagfile=flags/{flagfile}" in text
    proc = _main(f"--flagfile=flags/{flagfile}", "--print_config", timeout=60)
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)
    # Every experiment inherits the original recipe from recipe.flags.
    assert config["learning_rate"] == 1.0 and config["rho"] == 0.9
    assert config["adadelta_epsilon"] == 1e-6 and config["bn_epsilon"] == 1e-5
