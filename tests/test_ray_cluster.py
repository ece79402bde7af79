"""The sweep on a real Ray cluster of two nodes on this machine's loopback (marked `ray`; skipped
without Ray): a node killed mid-sweep loses no finished run, its job runs again on the other node
from the checkpoint it last shipped, and the results equal a local sweep's. Every cluster a test
starts is stopped by a finalizer, however the test ends. Marked slow too (about 100 s on 2 cores):
`python -m pytest -m slow tests` runs it, as CI does."""

from __future__ import annotations

import json
import re
import time

import pytest

from bn_keras.runs.metrics_file import read_metrics

pytestmark = [pytest.mark.ray, pytest.mark.slow]
cluster_utils = pytest.importorskip("ray.cluster_utils")

LOOPBACK = "127.0.0.1"
NODE = {"num_cpus": 1, "node_ip_address": LOOPBACK, "object_store_memory": 80 * 2**20}
# Two ReLU LeNet runs of 200 iterations, one per node: long enough (about 15 s of training on a
# shared 2-core machine) to kill a node after its run shipped a checkpoint and before it ends.
SWEEP = ("--experiments=lenetr", "--seeds=2", "--stack_size=1", "--quick", "--notwin")
SAME = ("step", "epoch", "learning_rate", "train_loss", "test_loss", "test_accuracy")


@pytest.fixture
def two_nodes(request):
    """A head and a worker node, 1 CPU each, on the loopback; the worker is killed by the test."""
    cluster = cluster_utils.Cluster()
    request.addfinalizer(cluster.shutdown)
    cluster.add_node(**NODE, include_dashboard=False)
    worker = cluster.add_node(**NODE)
    cluster.wait_for_nodes()
    return cluster, worker


def _wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _files(results):
    """The results directory's files, TensorBoard's event files (named by time and pid) aside."""
    return sorted(
        str(p.relative_to(results))
        for p in results.rglob("*")
        if p.is_file() and "tensorboard" not in p.parts
    )


def test_a_node_killed_mid_sweep_loses_nothing_and_the_results_equal_a_local_sweep(
    two_nodes, tiny_tfds_dir, tmp_path, cli
):
    cluster, worker = two_nodes
    local, remote = tmp_path / "local", tmp_path / "ray"
    data = f"--data_dir={tiny_tfds_dir}"
    local_sweep = cli.start(
        "bn_keras.sweep", *SWEEP, data, "--jobs=2", f"--results_dir={local}", log=tmp_path / "l"
    )
    log = tmp_path / "ray.log"
    ray_sweep = cli.start(
        "bn_keras.sweep", *SWEEP, data, f"--results_dir={remote}", "--executor=ray",
        f"--ray_address={cluster.address}", "--ray_results=ship", "--ray_ship_every_s=0.5",
        log=log,
    )  # fmt: skip
    try:
        on_worker = f"[node {worker.node_id[:8]} {LOOPBACK}]"
        line = _wait_for(
            lambda: next((x for x in log.read_text().splitlines() if on_worker in x), None),
            240,
            "a run started on the worker node",
        )
        run = line.split()[1].rstrip(":")
        state = remote / run / "checkpoints" / "state.json"
        _wait_for(state.is_file, 480, f"{run}'s first checkpoint shipped to the driver")
        shipped = json.loads(state.read_text())["step"]
        assert not (remote / run / "result.json").exists()
        cluster.remove_node(worker, allow_graceful=False)
        assert ray_sweep.wait(timeout=600) == 0, log.read_text()[-3000:]
        assert local_sweep.wait(timeout=600) == 0, (tmp_path / "l").read_text()[-3000:]
    finally:
        for proc in (local_sweep, ray_sweep):
            if proc.poll() is None:
                proc.kill()
    out = log.read_text()
    assert f"started {run}: " in out and ", attempt 2]" in out, out
    assert "sweep: 2 runs finished, 0 failed" in out
    resumed = re.search(
        r"Resuming \S+ at iteration (\d+)", (remote / "logs" / f"{run}.log").read_text()
    )
    assert resumed and shipped <= int(resumed[1]) < 200, (shipped, resumed)
    assert _files(remote) == _files(local)
    for seed in (0, 1):
        name = f"lenetr_seed{seed}"
        ours, theirs = (read_metrics(d / name / "metrics.csv") for d in (remote, local))
        assert [[r[c] for c in SAME] for r in ours] == [[r[c] for c in SAME] for r in theirs]
        results = [json.loads((d / name / "result.json").read_text()) for d in (remote, local)]
        assert results[0]["final_test_accuracy"] == results[1]["final_test_accuracy"]
    assert not [p for p in remote.rglob(".ray_marker_*")]
