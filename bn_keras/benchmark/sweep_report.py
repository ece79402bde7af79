"""The sweep section's tables: seed-steps/s per way to run a sweep, and the 1.5x goal."""

from __future__ import annotations

from bn_keras.benchmark.report import is_sweep, mark, table, times
from bn_keras.benchmark.sweep import PYTORCH, TENSORFLOW

GOAL = 1.5  # bn_keras's best way at least 1.5x the best PyTorch way, on every network


def _best_torch(records: list[dict]) -> dict | None:
    """The fastest PyTorch way's record among one network's (sweep.with_torch_ratios names it)."""
    best = records[0].get("best_torch", "")
    return next((record for record in records if record["option"] == best), None)


def goal_line(network: str, records: list[dict]) -> str:
    """Whether bn_keras's fastest way on `network` reaches GOAL x the fastest PyTorch way's
    seed-steps/s (paired by repetition), and by how much it falls short where it does not."""
    best_torch = _best_torch(records)
    ours = [r for r in records if r["framework"] == TENSORFLOW]
    if best_torch is None or not ours:
        return f"- `{network}`: no {'PyTorch' if ours else 'bn_keras'} figure, no verdict."
    best = max(ours, key=lambda r: r["ratio_to_best_torch"])
    ratio = best["ratio_to_best_torch"]
    figure = mark(f"{ratio:.2f}x", best, best_torch)
    against = f"{best['configuration']}, against {best_torch['configuration']}"
    if ratio >= GOAL:
        return f"- `{network}`: reaches {GOAL}x: {figure} ({against})."
    return (
        f"- `{network}`: short of {GOAL}x by {GOAL - ratio:.2f}x: {figure} ({against}); "
        f"it needs {100 * (GOAL / ratio - 1):.0f}% more seed-steps/s."
    )


def sweep_tables(records: list[dict]) -> str:
    """Per network, each way's seed-steps/s and its ratio to the fastest PyTorch way; then one
    goal line per network. Empty without sweep records."""
    by_network: dict[str, list[dict]] = {}
    for record in filter(is_sweep, records):
        by_network.setdefault(record["network"], []).append(record)
    if not by_network:
        return ""
    parts = [
        "Ways to run a sweep: seed-steps/s over the whole machine (seeds per step x "
        "the steps of every process that ran side by side / the time from the first one's start "
        f"to the last one's end), and the ratio to the fastest {PYTORCH} way on the same "
        "network (the highest median), paired by repetition:"
    ]
    for network, rows in by_network.items():
        best_torch = [r for r in [_best_torch(rows)] if r]
        cells = [
            [
                r["configuration"],
                mark(f"{r['steps_per_s']:.0f}", r),
                mark(times(r["ratio_to_best_torch"]), r, *best_torch),
            ]
            for r in rows
        ]
        parts.append(
            f"`{network}`:\n\n" + table(["way", "seed-steps/s", "/ fastest PyTorch"], cells)
        )
    goals = [goal_line(network, rows) for network, rows in by_network.items()]
    parts.append(f"The goal, bn_keras's fastest way at {GOAL}x PyTorch's:\n\n" + "\n".join(goals))
    return "\n\n".join(parts)
