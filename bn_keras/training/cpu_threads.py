"""TensorFlow's thread settings for a machine without GPUs, applied before its runtime starts."""

from __future__ import annotations

import os

import tensorflow as tf
from absl import logging

from bn_keras.common import onednn

# TensorFlow reads these once, when its runtime starts; a user's setting always wins.
INTER_OP_ENV = "TF_NUM_INTEROP_THREADS"


def apply_cpu_defaults() -> bool:
    """On a machine without GPUs, runs one op at a time (inter-op threads 1).

    The networks are small: their ops gain nothing from running side by side, and the inter-op
    pool competes with the intra-op pool and the input pipeline for the cores (docs/speed.md,
    measured by `python -m bn_keras.bench --options=inter_op_1`). Ops are the same and each runs
    the same way, so results do not change (a test checks the per-step losses).

    Returns:
        Whether the setting was applied: not when GPUs are visible, when the user set
        TF_NUM_INTEROP_THREADS or the inter-op thread count, or when TensorFlow's runtime has
        already started (as in a test session).
    """
    if os.environ.get(INTER_OP_ENV) or tf.config.threading.get_inter_op_parallelism_threads():
        return False
    if tf.config.list_physical_devices("GPU"):
        return False
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime has started: too late, keep TensorFlow's default
        return False
    logging.info("CPU only: inter-op threads 1 (set %s to choose)", INTER_OP_ENV)
    return True


def set_intra_op_threads(threads: int) -> None:
    """Sets TensorFlow's intra-op threads (`--threads`) before its runtime starts; 0 keeps its
    default. Logs whether oneDNN's kernels are on (bn_keras.common.onednn), decided before
    TensorFlow loaded."""
    logging.info("%s", onednn.summary())
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        logging.info("Intra-op threads %d", threads)
