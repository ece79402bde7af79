"""The test evaluation's share of training time, with and without BN folding, interleaved.

Usage: nice -n 10 python scripts/eval_share.py lenet_bn lenetr_bn [--rounds=7]
For each network, one process, one model: every round trains `eval_every` steps with `model.fit`
(bn_keras's defaults, real input pipeline), then runs the stock and the folded test evaluator
(10,000 test images, batch 1000) in alternating order. Prints, per network, the median over rounds
of each evaluator's share, eval / (eval + training of eval_every steps), and of their time ratio
(and the ratio of their total CPU time in this process, which other processes' load inflates less),
with the throttling and load checks of the benchmark around each round.
"""

from __future__ import annotations

import argparse
import statistics
import time

import tensorflow as tf

from bn_keras.benchmark import noise
from bn_keras.benchmark.tf_worker import network_config
from bn_keras.data import input_pipeline
from bn_keras.training import cpu_threads, recipe, train
from bn_keras.training.evaluation import make_test_evaluator


def _timed(fn, cpu: dict | None = None) -> float:
    """Wall seconds of fn(); adds this process's CPU seconds to cpu["seconds"] when given."""
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    if cpu is not None:
        cpu["seconds"] += time.process_time() - start_cpu
    return time.perf_counter() - start


def measure(network: str, mnist, rounds: int, eval_every: int) -> None:
    """Prints one line per network: the shares, the ratio and the noise verdicts."""
    config = network_config(network, eval_every=eval_every)
    per_epoch = input_pipeline.steps_per_epoch(mnist.num_train, 64)
    model = train.build_compiled_model(config, per_epoch, recipe.make_train_loss_metric())
    data = input_pipeline.train_dataset(mnist.train_images, mnist.train_labels, 64, seed=0)
    test = input_pipeline.test_dataset(mnist.test_images, mnist.test_labels, 1000)
    strategy, n = tf.distribute.get_strategy(), len(mnist.test_labels)
    evaluators = {
        fold: make_test_evaluator(model, test, strategy, n, fold_batch_norm=fold)
        for fold in (False, True)
    }

    def train_block():
        model.fit(data, epochs=1, steps_per_epoch=eval_every, verbose=0)

    train_block()
    for evaluate in evaluators.values():  # trace both
        evaluate()
    shares = {False: [], True: []}
    ratios, noisy = [], 0
    cpu = {False: {"seconds": 0.0}, True: {"seconds": 0.0}}
    for r in range(rounds):
        before = noise.snapshot()
        seconds = _timed(train_block)
        evals = {}
        for fold in (False, True) if r % 2 == 0 else (True, False):
            evals[fold] = _timed(evaluators[fold], cpu[fold])
        check = noise.compare(before, noise.snapshot(), noise.usable_cpus())
        noisy += check["throttled"] or check["loaded"]
        for fold, e in evals.items():
            shares[fold].append(e / (e + seconds))
        ratios.append(evals[False] / evals[True])
    acc = {fold: evaluate()[1] for fold, evaluate in evaluators.items()}
    print(
        f"{network}: eval share stock {100 * statistics.median(shares[False]):.1f}%, "
        f"folded {100 * statistics.median(shares[True]):.1f}%; stock/folded eval time "
        f"{statistics.median(ratios):.2f}x (per round {', '.join(f'{x:.2f}' for x in ratios)}); "
        f"CPU time {cpu[False]['seconds'] / cpu[True]['seconds']:.2f}x; "
        f"accuracy stock {acc[False]:.4f} folded {acc[True]:.4f}; "
        f"{noisy} of {rounds} rounds noisy (load {check['load_after']:.1f}, "
        f"throttled periods {check['throttled_periods']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("networks", nargs="+")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--eval_every", type=int, default=100)
    args = parser.parse_args()
    cpu_threads.apply_cpu_defaults()
    mnist = input_pipeline.load_mnist(None)
    for network in args.networks:
        measure(network, mnist, args.rounds, args.eval_every)


if __name__ == "__main__":
    main()
