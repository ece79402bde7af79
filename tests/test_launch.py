"""Several machines, rehearsed on one: two worker processes on 127.0.0.1 started by the launcher."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bn_keras.metrics_file import read_metrics

REPO = Path(__file__).resolve().parents[1]
FLAGS = [
    "--model=mlp", "--bn", "--train_steps=9", "--eval_every=3", "--batch_size=32",
    "--test_batch_size=50", "--run_name=run",
]  # fmt: skip


def _run(args: list[str], data_dir: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", *args, f"--data_dir={data_dir}", "--mnist_source=tfds"],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


@pytest.fixture(scope="module")
def two_workers(tiny_tfds_dir, tmp_path_factory):
    results = tmp_path_factory.mktemp("launch")
    start = time.monotonic()
    launched = _run(
        ["bn_keras.launch", "--workers=2", "--", *FLAGS, f"--results_dir={results / 'two'}"],
        tiny_tfds_dir,
    )
    two_s = time.monotonic() - start
    assert launched.returncode == 0, launched.stderr[-3000:]
    start = time.monotonic()
    single = _run(["bn_keras.main", *FLAGS, f"--results_dir={results / 'one'}"], tiny_tfds_dir)
    one_s = time.monotonic() - start
    assert single.returncode == 0, single.stderr[-3000:]
    print(f"two workers {two_s:.1f} s, one process {one_s:.1f} s")
    return results / "two" / "run", results / "one" / "run"


def test_two_workers_train_like_one_process(two_workers, read_checkpoint_weights):
    chief, single = two_workers
    worker = chief / "workers" / "worker_1"
    chief_weights, worker_weights, single_weights = (
        read_checkpoint_weights(d) for d in (chief, worker, single)
    )
    for name, value in single_weights.items():
        np.testing.assert_array_equal(worker_weights[name], chief_weights[name], err_msg=name)
        np.testing.assert_allclose(chief_weights[name], value, rtol=1e-4, atol=2e-5, err_msg=name)
    distribution = json.loads((chief / "config.json").read_text())["distribution"]
    assert distribution["workers"] == 2 and distribution["replicas"] == 2
    assert distribution["strategy"] == "CollectiveAllReduceStrategy"  # MultiWorkerMirrored
    assert distribution["sync_bn"] is True


def test_only_the_chief_writes_the_shared_files(two_workers):
    chief, single = two_workers
    rows = read_metrics(chief / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [0, 3, 6, 9]
    single_rows = read_metrics(single / "metrics.csv")
    assert [r["test_accuracy"] for r in rows] == [r["test_accuracy"] for r in single_rows]
    for name in ("saved_model", "model.keras", "tensorboard", "result.json"):
        assert (chief / name).exists(), name
    worker = chief / "workers" / "worker_1"
    assert sorted(p.name for p in worker.iterdir()) == [
        ".lock", "checkpoints", "config.json", "result.json",
    ]  # fmt: skip


def test_a_failing_worker_fails_the_launch_with_its_message(tiny_tfds_dir, tmp_path):
    # Worker 1 finds a record of other settings in its directory and refuses to start; the
    # chief, waiting for it, is stopped.
    worker_dir = tmp_path / "run" / "workers" / "worker_1"
    worker_dir.mkdir(parents=True)
    (worker_dir / "config.json").write_text(json.dumps({"config": {"model": "lenet"}}))
    launched = _run(
        [
            "bn_keras.launch",
            "--workers=2",
            "--grace_s=5",
            "--",
            *FLAGS,
            f"--results_dir={tmp_path}",
        ],
        tiny_tfds_dir,
    )
    assert launched.returncode == 2
    last = launched.stderr.strip().splitlines()[-1]
    assert last.startswith("bn_keras.launch: error: worker 1 exited with code 2: ")
    assert "holds a run with other settings (--model='lenet' there, 'mlp' now)" in last
