"""Does an XLA-compiled Adadelta update speed up training? A/B against Keras's Adadelta.

Usage: python scripts/optimizer_xla_ab.py lenetr_bn,lenetr,mlp_bn [--rounds=5] [--steps=200]
Builds each network twice (Keras's Adadelta; the same update as one XLA function per variable),
trains both on the same in-memory random batches with steps_per_execution 50 and one inter-op
thread, interleaved in a rotating order, and prints the median per-round ratio of steps per
second of wall time and of this process's CPU time. Not used by any run (docs/speed.md).
"""

from __future__ import annotations

import argparse
import os
import time

import keras
import numpy as np
import tensorflow as tf

from bn_keras.models import networks


@tf.function(jit_compile=True)
def _adadelta(grad, var, accumulated_grad, accumulated_delta, lr, rho, epsilon):
    accumulated_grad = rho * accumulated_grad + (1 - rho) * tf.square(grad)
    delta = -tf.sqrt(accumulated_delta + epsilon) * grad / tf.sqrt(accumulated_grad + epsilon)
    accumulated_delta = rho * accumulated_delta + (1 - rho) * tf.square(delta)
    return accumulated_grad, accumulated_delta, var + lr * delta


class XlaAdadelta(keras.optimizers.Adadelta):
    """Keras's Adadelta with each variable's update computed by one XLA function."""

    def update_step(self, grad, variable, learning_rate):
        i = self._get_variable_index(variable)
        acc_grad, acc_delta = self._accumulated_grads[i], self._accumulated_delta_vars[i]
        new_grad, new_delta, new_value = _adadelta(
            tf.cast(grad, variable.dtype),
            tf.convert_to_tensor(variable),
            tf.convert_to_tensor(acc_grad),
            tf.convert_to_tensor(acc_delta),
            tf.cast(learning_rate, variable.dtype),
            self.rho,
            self.epsilon,
        )
        self.assign(acc_grad, new_grad)
        self.assign(acc_delta, new_delta)
        self.assign(variable, new_value)


def _build(network: str, optimizer: type) -> keras.Model:
    model_name, _, bn = network.partition("_")
    keras.utils.set_random_seed(0)
    model = networks.build_model(model_name, bn=bool(bn))
    model.compile(
        optimizer=optimizer(1.0, rho=0.9, epsilon=1e-6),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=50,
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("networks")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    tf.config.threading.set_inter_op_parallelism_threads(1)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(3200, 28, 28, 1)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((images, rng.integers(0, 10, 3200)))
    data = data.batch(64).cache().repeat()
    optimizers = {"keras": keras.optimizers.Adadelta, "xla": XlaAdadelta}
    models = {
        (n, o): _build(n, cls) for n in args.networks.split(",") for o, cls in optimizers.items()
    }
    for model in models.values():
        model.fit(data, steps_per_epoch=100, epochs=1, verbose=0)  # traces and warms up
    rates = {key: [] for key in models}
    keys = list(models)
    for r in range(args.rounds):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            wall, cpu = time.perf_counter(), time.process_time()
            models[key].fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
            rates[key].append(
                (
                    args.steps / (time.perf_counter() - wall),
                    args.steps / (time.process_time() - cpu),
                )
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for network in args.networks.split(","):
        xla, stock = np.array(rates[network, "xla"]), np.array(rates[network, "keras"])
        wall, cpu = np.median(xla / stock, axis=0)
        print(
            f"{network}: XLA Adadelta / Keras's, median per round: wall {wall:.2f}x, CPU {cpu:.2f}x"
        )


if __name__ == "__main__":
    main()
