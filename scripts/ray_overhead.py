"""The sweep's wall time on the local pool and on Ray, side by side (docs/cluster.md quotes it).

Command: python scripts/ray_overhead.py [--repeats=2] [--out=/tmp/bn_keras_ray_overhead]
Runtime: about 10 minutes on a 2-core CPU (three ways of running the same short sweep, each
         --repeats times, interleaved A B C A B C).
Result:  one line per sweep (way, repetition, wall seconds), then the median of each way.

The same short sweep (the MLP pair's quick runs, 2 seeds each: one stack of 2 per experiment, so
2 jobs) runs on the local pool (--jobs=2, one thread each) and on a Ray cluster of two nodes of
1 CPU each on this machine's loopback, which this script starts once and stops at the end (the
cluster's start-up is not timed: a cluster outlives its sweeps). On Ray it runs twice: writing
in place (--ray_results=shared, as on a shared filesystem) and shipping the runs back
(--ray_results=ship). Every sweep starts from an empty results directory; real MNIST is read
from the default TFDS directory (prepared before the first sweep).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ray.cluster_utils import Cluster

REPO = Path(__file__).resolve().parents[1]
SWEEP = ("--experiments=mlp,mlp_bn", "--seeds=2", "--quick", "--notwin")
NODE = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": 80 * 2**20}


def _sweep(out: Path, extra: list[str]) -> float:
    shutil.rmtree(out, ignore_errors=True)
    began = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bn_keras.sweep", *SWEEP, f"--results_dir={out}", *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        check=False,
    )
    seconds = time.monotonic() - began
    if proc.returncode:
        raise SystemExit(f"sweep {extra} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bn_keras_ray_overhead"))
    args = parser.parse_args()
    cluster = Cluster()
    try:
        cluster.add_node(**NODE, include_dashboard=False)
        cluster.add_node(**NODE)
        cluster.wait_for_nodes()
        ray = ["--executor=ray", f"--ray_address={cluster.address}"]
        ways = {
            "local pool (--jobs=2)": ["--jobs=2"],
            "Ray, 2 nodes x 1 CPU, in place": [*ray, "--ray_results=shared"],
            "Ray, 2 nodes x 1 CPU, shipped": [*ray, "--ray_results=ship"],
        }
        times: dict[str, list[float]] = {way: [] for way in ways}
        for repeat in range(1, args.repeats + 1):
            for index, (way, extra) in enumerate(ways.items()):
                seconds = _sweep(args.out / f"{repeat}_{index}", extra)
                times[way].append(seconds)
                print(f"{way}, repetition {repeat}: {seconds:.1f} s", flush=True)
        base = statistics.median(times["local pool (--jobs=2)"])
        for way, values in times.items():
            median = statistics.median(values)
            print(f"{way}: median {median:.1f} s ({median / base - 1:+.1%} vs the local pool)")
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
