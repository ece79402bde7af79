"""The real command line: a smoke run end to end; every flagfile parses (bad input: elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bn_keras.runs.metrics_file import read_metrics

REPO = Path(__file__).resolve().parents[1]


def test_smoke_flagfile_runs_the_whole_path(tiny_tfds_dir, tmp_path, cli):
    proc = cli.run(
        "bn_keras.main",
        "--flagfile=flags/smoke.flags",
        f"--data_dir={tiny_tfds_dir}",
        f"--results_dir={tmp_path}",
        timeout=300,
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
