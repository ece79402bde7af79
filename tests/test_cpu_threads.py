"""The CPU thread default: applied before TensorFlow starts, and the same losses step by step."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import tensorflow as tf

from bn_keras.training import cpu_threads

# Trains lenetr_bn for a few steps (TensorFlow reads thread settings once, when its runtime
# starts: a fresh process gets the other setting); prints whether the default was applied, the
# inter-op thread count and the losses.
_SCRIPT = """
import json
from bn_keras.training import cpu_threads
applied = cpu_threads.apply_cpu_defaults()
import tensorflow as tf
from tests.test_cpu_threads import train_losses
losses = train_losses()
inter = tf.config.threading.get_inter_op_parallelism_threads()
print(json.dumps({"applied": applied, "inter": inter, "losses": losses}))
"""


def train_losses() -> list[float]:
    """The losses of 5 steps of lenetr_bn from seed 0 on fixed random batches."""
    import keras

    from bn_keras.config.settings import Config
    from bn_keras.training import train

    keras.utils.set_random_seed(0)
    model = train.build_compiled_model(Config(model="lenetr", bn=True, steps_per_execution=1), 7)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(5):
        x = rng.normal(size=(32, 28, 28, 1)).astype("float32")
        y = rng.integers(0, 10, size=32)
        losses.append(float(model.train_on_batch(x, y)))
    return losses


def _train_in_a_fresh_process(cli, inter_op_env: str | None) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=cli.repo,  # where `tests` can be imported from
        env=cli.env({cpu_threads.INTER_OP_ENV: inter_op_env, "CUDA_VISIBLE_DEVICES": ""}),
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_inter_op_default_changes_speed_not_results(cli, monkeypatch):
    """This process trains with the inter-op setting its runtime started with: TensorFlow's own
    (0), or 1 where a run earlier in the session applied the default first. A fresh process
    trains with the other one, and the losses are the same."""
    here = train_losses()
    inter_here = tf.config.threading.get_inter_op_parallelism_threads()
    assert inter_here in (0, 1)
    assert not cpu_threads.apply_cpu_defaults()  # the runtime has started: too late
    monkeypatch.setenv(cpu_threads.INTER_OP_ENV, "0")
    assert not cpu_threads.apply_cpu_defaults()  # the user's setting wins
    assert tf.config.threading.get_inter_op_parallelism_threads() == inter_here
    if inter_here == 0:
        other = _train_in_a_fresh_process(cli, None)
        assert other["applied"] and other["inter"] == 1
    else:
        other = _train_in_a_fresh_process(cli, "0")
        assert not other["applied"] and other["inter"] == 0
    np.testing.assert_allclose(other["losses"], here, rtol=1e-6)
