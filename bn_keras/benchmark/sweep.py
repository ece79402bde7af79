"""The benchmark's sweep section: the ways to run a sweep of seeds, in seed-steps/s.

A sweep trains many seeds of one network; what counts is the seeds' training steps per second
over the whole machine. Each way is a worker variant run in one process, or in two processes
(1 thread each) side by side, told to start at the same moment (`protocol.call_together`):
    bn_keras: one seed per process (`default`, bn_keras's defaults), or a stack of
        --stack_seeds seeds per process (`stack`, as `train_stack` trains it);
    PyTorch eager: one seed per process (`torch_memory`), or a `torch.func` ensemble of
        --stack_seeds models per process (`torch_ensemble`).
bn_keras reads its batches through its real input pipelines (each seed's own shuffle); PyTorch
cycles batches held in memory, which needs no input work: the comparison leans PyTorch's way.
One process gets all its threads (TensorFlow's default intra-op pool, PyTorch's --threads).
A repetition's figure is seeds per step x the steps of all its processes / the span from the
first start to the last end, so a process left running alone at the end counts no more than it
did. Every repetition times every way once, in a rotating order, as the speed options are timed.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import TYPE_CHECKING

from absl import logging

from bn_keras.benchmark import noise
from bn_keras.benchmark import report as bench_report
from bn_keras.benchmark.protocol import Worker, call_together

if TYPE_CHECKING:
    from bn_keras.benchmark.runner import BenchSettings

TENSORFLOW, PYTORCH = "bn_keras (TensorFlow)", "PyTorch eager"


@dataclasses.dataclass(frozen=True)
class Way:
    """One way to run a sweep: `variant` in each of `workers` at once."""

    framework: str
    workers: tuple[str, ...]
    variant: str
    stacked: bool  # a step trains --stack_seeds seeds, not one

    def describe(self, seeds: int, threads: int) -> str:
        """E.g. "bn_keras (TensorFlow), stacks of 5 seeds, 2 processes x 1 thread side by side"."""
        what = "a single seed"
        if self.stacked and self.framework == TENSORFLOW:
            what = f"stacks of {seeds} seeds"
        elif self.stacked:
            what = f"torch.func ensembles of {seeds} models"
        if len(self.workers) > 1:
            return (
                f"{self.framework}, {what}, {len(self.workers)} processes x 1 thread side by side"
            )
        return f"{self.framework}, {what}, 1 process x {threads} threads"


_TF_PAIR = ("tf_threads_1", "tf_threads_1_twin")
_TORCH_PAIR = ("torch_threads_1", "torch_threads_1_twin")
WAYS = {
    "sweep_tf_single_1proc": Way(TENSORFLOW, ("tf",), "default", stacked=False),
    "sweep_tf_single_2proc": Way(TENSORFLOW, _TF_PAIR, "default", stacked=False),
    "sweep_tf_stack_1proc": Way(TENSORFLOW, ("tf",), "stack", stacked=True),
    "sweep_tf_stack_2proc": Way(TENSORFLOW, _TF_PAIR, "stack", stacked=True),
    "sweep_torch_1proc": Way(PYTORCH, ("torch",), "torch_memory", stacked=False),
    "sweep_torch_2proc": Way(PYTORCH, _TORCH_PAIR, "torch_memory", stacked=False),
    "sweep_torch_vmap_1proc": Way(PYTORCH, ("torch",), "torch_ensemble", stacked=True),
    "sweep_torch_vmap_2proc": Way(PYTORCH, _TORCH_PAIR, "torch_ensemble", stacked=True),
}
STACKED_VARIANTS = frozenset(way.variant for way in WAYS.values() if way.stacked)


def workers_needed(with_torch: bool) -> set[str]:
    """The worker processes the sweep section times in."""
    return {
        worker
        for way in WAYS.values()
        if with_torch or way.framework != PYTORCH
        for worker in way.workers
    }


def preparations(ways: dict[str, Way]) -> list[tuple[tuple[str, ...], list[str]]]:
    """(workers, variants) for each group of workers that is prepared together, in order."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for way in ways.values():
        variants = groups.setdefault(way.workers, [])
        if way.variant not in variants:
            variants.append(way.variant)
    return list(groups.items())


def seed_steps_per_s(replies: list[dict], steps: int, seeds_per_step: int) -> float:
    """One repetition's figure from the replies of the processes that ran it side by side: all
    their seed-steps over the span from the first one's start to the last one's end."""
    done = sum(reply.get("steps", steps) for reply in replies)
    span = max(r["span"][1] for r in replies) - min(r["span"][0] for r in replies)
    return seeds_per_step * done / span


def time_network(
    network: str,
    workers: dict[str, Worker],
    settings: BenchSettings,
    max_seconds: float,
    progress=logging.info,
) -> list[dict]:
    """Times every way whose workers are running on `network`; one record per way.

    Args:
        network: e.g. "lenetr_bn".
        workers: the running workers by name; ways with a worker missing (PyTorch's, when it is
            not importable) are left out.
        settings: what to time (steps, seconds, reps, eval_every, stack_seeds, threads).
        max_seconds: where PyTorch's timings stop early (the runner's cap).
        progress: told what starts, as it starts.
    """
    ways = {name: way for name, way in WAYS.items() if all(w in workers for w in way.workers)}
    seeds, unit = settings.stack_seeds, settings.eval_every
    warm: dict[str, float] = {}
    for group, variants in preparations(ways):
        replies = call_together(
            [workers[w] for w in group],
            "prepare",
            network=network,
            variants=variants,
            eval_every=unit,
            max_seconds=max_seconds,
            seeds=seeds,
        )
        for name, way in ways.items():
            if way.workers == group:
                warm[name] = min(reply["warm_steps_per_s"][way.variant] for reply in replies)
    steps = {
        name: max(1, math.ceil((settings.steps or settings.seconds * warm[name]) / unit)) * unit
        for name in ways
    }
    progress(f"{network}: sweep, timing {len(ways)} ways x {settings.reps} repetitions")
    names = list(ways)
    timings: dict[str, list[list[dict]]] = {name: [] for name in names}
    for rep in range(settings.reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:  # rotating order, as the speed options
            way = ways[name]
            replies = call_together(
                [workers[w] for w in way.workers],
                "time",
                network=network,
                variant=way.variant,
                steps=steps[name],
                max_seconds=max_seconds,
            )
            timings[name].append(replies)
    for worker in {w for way in ways.values() for w in way.workers}:
        workers[worker].call("release")
    # One process's threads: PyTorch's --threads; TensorFlow's default pool, one per usable CPU.
    threads = {
        name: settings.threads if way.framework == PYTORCH else noise.usable_cpus()
        for name, way in ways.items()
    }
    records = [
        summarize(network, name, ways[name], steps[name], timings[name], seeds, threads[name])
        for name in names
    ]
    return with_torch_ratios(records)


def summarize(
    network: str,
    name: str,
    way: Way,
    steps: int,
    timings: list[list[dict]],
    seeds: int,
    threads: int,
) -> dict:
    """One record (the CSV's columns and the table's; the speed section's ratios left out):
    seed-steps/s per repetition, their median, and the noise verdicts with the side-by-side
    processes counted as the benchmark's own."""
    per_step = seeds if way.stacked else 1
    rates = [seed_steps_per_s(replies, steps, per_step) for replies in timings]
    checks = [
        noise.side_by_side([r["noise"] for r in replies if "noise" in r]) for replies in timings
    ]
    return {
        **bench_report.noise_summary([{"noise": check} for check in checks]),
        "section": bench_report.SWEEP_SECTION,
        "framework": way.framework,
        "network": network,
        "option": name,
        "worker": "+".join(way.workers),
        "variant": way.variant,
        "description": f"{way.describe(seeds, threads)}; seed-steps/s",
        "configuration": way.describe(seeds, threads),
        "steps": steps,
        "steps_per_s": statistics.median(rates),
        "ratio_to_best_torch": math.nan,  # with_torch_ratios sets it where PyTorch ran
        "steps_per_s_reps": rates,
    }


def with_torch_ratios(records: list[dict]) -> list[dict]:
    """The records of one network, each with ratio_to_best_torch: its seed-steps/s over those of
    the PyTorch way with the highest median, paired by repetition (NaN without PyTorch)."""
    torch = [r for r in records if r["framework"] == PYTORCH]
    if not torch:
        return records
    best = max(torch, key=lambda r: r["steps_per_s"])
    return [
        {
            **record,
            "best_torch": best["option"],
            "ratio_to_best_torch": bench_report.paired_ratio(
                record["steps_per_s_reps"], best["steps_per_s_reps"]
            ),
        }
        for record in records
    ]
