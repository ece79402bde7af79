"""The real command line: a smoke run end to end, and bad input refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bn_keras.metrics_file import read_metrics

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


def _bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    a_file = tmp / "a_file"
    a_file.write_text("not a directory")
    return [
        (["--model=resnet"], "--model"),
        (["--train_steps=0"], "--train_steps"),
        (["--train_steps=-5"], "--train_steps"),
        (["--batch_size=0"], "--batch_size"),
        (["--batch_size=abc"], "--batch_size"),
        (["--train_steps=100", "--eval_every=200"], "--eval_every"),
        (["--strategy=tpu_pod"], "--strategy"),
        (
            ["--steps_per_execution=3", "--eval_every=10", "--train_steps=30"],
            "--steps_per_execution",
        ),
        (["--lr_decay=1.5"], "--lr_decay"),
        ([f"--results_dir={a_file}"], "--results_dir"),
        ([f"--results_dir={a_file}/below"], "--results_dir"),
        (["--flagfile=flags/no_such.flags"], "no_such.flags"),
        (["--no_such_flag=1"], "no_such_flag"),
        (["positional"], "unexpected arguments"),
    ]


def test_bad_input_gets_one_line_and_touches_nothing(tmp_path):
    cases = _bad_inputs(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, named in cases:
        proc = _main(
            *args,
            f"--results_dir={tmp_path / 'results'}"
            if not any(a.startswith("--results_dir") for a in args)
            else "--verbosity=0",
            timeout=60,
        )
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode != 0, args
        assert len(lines) == 1, (args, proc.stderr)
        assert named in lines[0] and lines[0].startswith("bn_keras: error:"), (args, lines)
        assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_existing_run_is_not_overwritten_without_the_flag(tmp_path):
    run_dir = tmp_path / "lenetr_seed0"
    run_dir.mkdir()
    (run_dir / "metrics.csv").write_text("precious\n")
    proc = _main(f"--results_dir={tmp_path}", timeout=60)
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    assert (run_dir / "metrics.csv").read_text() == "precious\n"


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
