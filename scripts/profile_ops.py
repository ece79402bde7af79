"""Where a training step's time goes: TensorFlow op time by op type, for bn_keras's defaults.

Usage: python scripts/profile_ops.py lenetr_bn [--steps=100]
Traces `steps` warm training steps of `model.fit` (real input pipeline, the flagfiles' settings)
with tf.profiler and prints the op types that took the most time on TensorFlow's compute threads.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from pathlib import Path

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from bn_keras.benchmark.tf_worker import network_config
from bn_keras.data import input_pipeline
from bn_keras.training import cpu_threads, recipe, train


def op_times(trace_dir: Path) -> collections.Counter:
    """Milliseconds per op type on the host's compute threads, from the trace's XSpace."""
    space = xplane_pb2.XSpace()
    space.ParseFromString(next(trace_dir.rglob("*.xplane.pb")).read_bytes())
    totals = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and not name.startswith("ExecutorState"):
                    totals[name.rsplit(":", 1)[1]] += event.duration_ps / 1e9
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network")
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    cpu_threads.apply_cpu_defaults()
    mnist = input_pipeline.load_mnist(None)
    data = input_pipeline.train_dataset(mnist.train_images, mnist.train_labels, 64, seed=0)
    config = network_config(args.network, eval_every=100)
    per_epoch = input_pipeline.steps_per_epoch(mnist.num_train, 64)
    model = train.build_compiled_model(config, per_epoch, recipe.make_train_loss_metric())
    model.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0)  # traces and warms up
    with tempfile.TemporaryDirectory() as trace_dir:
        tf.profiler.experimental.start(trace_dir)
        model.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0)
        tf.profiler.experimental.stop()
        totals = op_times(Path(trace_dir))
    total = sum(totals.values())
    print(f"{args.network}: {total / args.steps:.2f} ms of op time per step")
    for op, ms in totals.most_common(15):
        print(f"  {100 * ms / total:5.1f}%  {op}")


if __name__ == "__main__":
    main()
