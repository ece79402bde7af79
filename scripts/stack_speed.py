"""Seed-steps per second of stacked training (issue 20), by network, stack size and threads.

    python scripts/stack_speed.py           # lenetr_bn, lenet, mlp_bn; S 1, 4, 10; 1, 2 threads
    python scripts/stack_speed.py --networks=lenetr_bn --stacks=1,10 --rounds=3

Each measurement is its own process (TensorFlow's intra-op threads are fixed when its runtime
starts): it builds the stack (`bn_keras.models.stacked`, compiled as `train_stack` compiles it),
feeds it through the stacked input pipeline from 60,000 random uint8 images in memory, trains
warm-up steps, then times `--steps` training steps (no evaluation). "single" is the single-seed
model as `train_and_evaluate` compiles it (XLA on), for comparison with S = 1. Measurements are
interleaved: every round runs every configuration once, in turn. The table gives seed-steps/s
(training steps/s x S) from wall time, and the process's CPU seconds per seed-step, which a
machine loaded by other processes inflates less than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

NETWORKS = {"lenetr_bn": ("lenetr", True), "lenet": ("lenet", False), "mlp_bn": ("mlp", True)}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(network: str, stack: str, threads: int, steps: int) -> dict:
    """Times `steps` training steps of one configuration in this process; returns the figures."""
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)  # as bn_keras on a CPU

    from bn_keras.config.settings import Config
    from bn_keras.data.input_pipeline import train_dataset
    from bn_keras.data.stacked_pipeline import stacked_train_dataset
    from bn_keras.models import stacked
    from bn_keras.training import recipe
    from bn_keras.training import stacked as stacked_training
    from bn_keras.training.compiled_model import build_compiled_model

    model_name, bn = NETWORKS[network]
    config = Config(model=model_name, bn=bn, eval_every=50, train_steps=steps)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60000, 28, 28, 1), dtype=np.uint8)
    labels = rng.integers(0, 10, 60000).astype(np.int64)
    if stack == "single":
        seeds = 1
        model = build_compiled_model(config, steps_per_epoch=938)
        data = train_dataset(images, labels, config.batch_size, seed=0)
    else:
        seeds = int(stack)
        model = stacked.stack_seeds(model_name, bn, list(range(seeds)))
        model.compile(
            optimizer=recipe.make_optimizer(config, 938),
            loss=stacked.stacked_cross_entropy,
            metrics=[stacked.PerSeedCrossEntropy(seeds)],
            steps_per_execution=50,
            jit_compile=stacked_training.stack_jit_compile(config),
        )
        data = stacked_train_dataset(images, labels, config.batch_size, list(range(seeds)))
    model.fit(data, epochs=1, steps_per_epoch=100, verbose=0)  # compile and warm up
    wall, cpu = time.perf_counter(), _cpu_seconds()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0)
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    return {
        "network": network,
        "stack": stack,
        "threads": threads,
        "seed_steps_per_s": steps * seeds / wall,
        "cpu_ms_per_seed_step": 1000 * cpu / (steps * seeds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="lenetr_bn,lenet,mlp_bn")
    parser.add_argument("--stacks", default="single,1,4,10")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", nargs=3, metavar=("NETWORK", "STACK", "THREADS"))
    args = parser.parse_args()
    if args.worker:
        network, stack, threads = args.worker
        print(json.dumps(worker(network, stack, int(threads), args.steps)))
        return
    configs = [
        (network, stack, threads)
        for network in args.networks.split(",")
        for stack in args.stacks.split(",")
        for threads in args.threads.split(",")
    ]
    results: dict[tuple, list[dict]] = {config: [] for config in configs}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    load = os.getloadavg()
    for round_ in range(args.rounds):
        for config in configs:
            command = [sys.executable, __file__, "--worker", *config, f"--steps={args.steps}"]
            out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
            results[config].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {round_ + 1}: {results[config][-1]}", file=sys.stderr, flush=True)
    print(
        f"load average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; after: "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)"
    )
    print("| network | S | threads | seed-steps/s (each round) | CPU ms per seed-step |")
    print("|---|---|---|---|---|")
    for (network, stack, threads), runs in results.items():
        rates = ", ".join(f"{r['seed_steps_per_s']:.0f}" for r in runs)
        cpu = ", ".join(f"{r['cpu_ms_per_seed_step']:.2f}" for r in runs)
        print(f"| {network} | {stack} | {threads} | {rates} | {cpu} |")


if __name__ == "__main__":
    main()
