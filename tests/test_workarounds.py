"""Each workaround in bn_keras.distribution.workarounds is still needed: these tests reproduce
the upstream bugs without the fixes. When one fails, upstream has fixed that bug: remove its
workaround."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bn_keras.distribution import cluster
from bn_keras.launch import PORT_ATTEMPTS, PORT_TAKEN, free_ports

# Four fits in a row on the same two workers: without fixes, with fix 1, with both, and with
# both at steps_per_execution=2.
WORKER_SCRIPT = textwrap.dedent(
    """
    import json
    import keras, numpy as np, tensorflow as tf
    from bn_keras.distribution import workarounds

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    data = tf.data.Dataset.from_tensor_slices(
        (np.ones((64, 4), "float32"), np.zeros((64,), "int64"))
    ).repeat().batch(16)

    def fit(steps_per_execution, *fixes):
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
            model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          steps_per_execution=steps_per_execution)
        for fix in fixes:
            fix(model) if fix is workarounds.build_from_local_batch else fix()
        try:
            model.fit(data, epochs=1, steps_per_epoch=2, verbose=0)
            return "ok"
        except Exception as err:
            return f"{type(err).__name__}: {str(err)[:300]} ... {str(err)[-300:]}"

    build, logs = workarounds.build_from_local_batch, workarounds.reduce_scalar_logs
    print("RESULT " + json.dumps([fit(1), fit(1, build), fit(1, build, logs), fit(2, build, logs)]))
    """
)


def _two_workers(logs: list[Path], timeout_s: float) -> list[str]:
    """Runs WORKER_SCRIPT as a cluster of two, side by side (each waits for the other in its
    collectives), their output in files; returns the two outputs."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports("127.0.0.1", 2)]
    workers = []
    for index, log in enumerate(logs):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        env["TF_CONFIG"] = cluster.make_tf_config(addresses, index)
        with open(log, "w") as out:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-c", WORKER_SCRIPT], env=env, stdout=out, stderr=out
                )
            )
    deadline = time.monotonic() + timeout_s
    try:
        for worker in workers:
            worker.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for worker in workers:
            worker.kill()  # a worker left waiting for its dead peer
    return [log.read_text() for log in logs]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> list[str]:
    logs = [tmp_path_factory.mktemp("workers") / f"worker_{i}.log" for i in range(2)]
    for _ in range(PORT_ATTEMPTS):  # as bn_keras.launch: a port taken in between, other ports
        outputs = _two_workers(logs, timeout_s=240)
        if not any(PORT_TAKEN in out for out in outputs):
            break
    lines = [line for out in outputs for line in out.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 2, outputs[0][-3000:]
    return json.loads(lines[0][len("RESULT ") :])


def test_keras_20585_fit_cannot_build_from_a_batch_of_several_workers(outcomes):
    assert "Attempt to convert a value (PerReplica" in outcomes[0]


def test_keras_20585_fit_cannot_reduce_its_logs_across_workers(outcomes):
    assert "Invalid reduction dimension 0 for input with 0 dimensions" in outcomes[1]


def test_with_both_fixes_fit_trains_on_two_workers(outcomes):
    assert outcomes[2] == "ok"


def test_keras_19246_several_steps_per_execution_fail_with_several_replicas(outcomes):
    assert "You must feed a value for placeholder tensor" in outcomes[3]
