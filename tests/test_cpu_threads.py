"""The CPU thread default: applied before TensorFlow starts, and the same losses step by step."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

# Trains lenetr_bn for a few steps in a fresh process (TensorFlow reads thread settings once).
_SCRIPT = """
import json
from bn_keras.training import cpu_threads
applied = cpu_threads.apply_cpu_defaults()
import keras, numpy as np, tensorflow as tf
from bn_keras.training import train
from bn_keras.config.settings import Config
keras.utils.set_random_seed(0)
model = train.build_compiled_model(Config(model="lenetr", bn=True, steps_per_execution=1), 7)
rng = np.random.default_rng(0)
losses = []
for _ in range(5):
    x = rng.normal(size=(32, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=32)
    losses.append(float(model.train_on_batch(x, y)))
inter = tf.config.threading.get_inter_op_parallelism_threads()
print(json.dumps({"applied": applied, "inter": inter, "losses": losses}))
"""


def _environment_without_thread_settings() -> dict:
    return {k: v for k, v in os.environ.items() if k != "TF_NUM_INTEROP_THREADS"}


def _train(env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**_environment_without_thread_settings(), "TF_CPP_MIN_LOG_LEVEL": "3", **env},
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_inter_op_default_changes_speed_not_results():
    default = _train({"CUDA_VISIBLE_DEVICES": ""})
    tensorflow_own = _train({"TF_NUM_INTEROP_THREADS": "0", "CUDA_VISIBLE_DEVICES": ""})
    assert default["applied"] and default["inter"] == 1
    assert not tensorflow_own["applied"] and tensorflow_own["inter"] == 0
    np.testing.assert_allclose(default["losses"], tensorflow_own["losses"], rtol=1e-6)
