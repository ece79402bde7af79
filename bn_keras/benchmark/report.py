"""The benchmark's numbers: medians and paired ratios, the CSV file and the printed tables."""

from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path

from bn_keras.common.atomic import write_text_atomic

CSV_FIELDS = (
    "network",
    "option",
    "worker",
    "variant",
    "description",
    "steps",
    "steps_per_s",
    "ratio_to_plain",
    "ratio_to_default",
    "callback_share",
    "steps_per_s_reps",
)
CONTEXT_FIELDS = (
    "date",
    "wall_s",
    "command",
    "machine",
    "tensorflow",
    "keras",
    "torch",
    "torch_threads",
    "reps",
)


def paired_ratio(numerator: list[float], denominator: list[float]) -> float:
    """Median over repetitions of numerator[i] / denominator[i], timed in the same round."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def summarize(
    network: str, name: str, option, steps: int, timings: dict, baseline: str, default: str
):
    """One record: the option's steps/s per repetition, their median and its paired ratios.

    Args:
        network: e.g. "lenetr_bn".
        name: the option's name; `option` its worker, variant and description.
        steps: training steps per timing.
        timings: option name -> the workers' replies, one per repetition: {"seconds": ...}, and
            "steps" where a worker stopped early (PyTorch's timings are capped in time).
        baseline, default: the option names that ratios refer to.
    """
    rates = {
        key: [reply.get("steps", steps) / reply["seconds"] for reply in replies]
        for key, replies in timings.items()
    }
    replies = timings[name]
    shares = [r["callback_seconds"] / r["seconds"] for r in replies if "callback_seconds" in r]
    return {
        "network": network,
        "option": name,
        "worker": option.worker,
        "variant": option.variant,
        "description": option.description,
        "steps": steps,
        "steps_per_s": statistics.median(rates[name]),
        "ratio_to_plain": paired_ratio(rates[name], rates[baseline]),
        "ratio_to_default": paired_ratio(rates[name], rates[default]),
        "callback_share": statistics.median(shares) if shares else math.nan,
        "steps_per_s_reps": rates[name],
    }


def _cell(value) -> str:
    if isinstance(value, list):
        return " ".join(f"{v:.4g}" for v in value)
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def write_csv(path: Path, records: list[dict], context: dict) -> None:
    """One row per (network, option); the run's context (date, machine, versions) on every row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS + CONTEXT_FIELDS)
    for record in records:
        writer.writerow(
            [_cell(record[f]) for f in CSV_FIELDS] + [_cell(context[f]) for f in CONTEXT_FIELDS]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, buffer.getvalue())


def read_csv(path: Path) -> list[dict]:
    """The rows of a benchmark CSV as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _percent(value: float) -> str:
    return "" if math.isnan(value) else f"{100 * value:.1f}%"


def _times(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.2f}x"


def tables(records: list[dict], context: dict) -> str:
    """Markdown: steps/s, pipeline cost, callback share and PyTorch ratios per network; then each
    option as a ratio to plain `model.fit` and to bn_keras's defaults."""
    by_network: dict[str, dict[str, dict]] = {}
    for record in records:
        by_network.setdefault(record["network"], {})[record["option"]] = record

    def rates(options: dict, name: str) -> list[float] | None:
        return options[name]["steps_per_s_reps"] if name in options else None

    def ratio(options: dict, numerator: str, denominator: str) -> float:
        a, b = rates(options, numerator), rates(options, denominator)
        return paired_ratio(a, b) if a and b else math.nan

    def speed(options: dict, name: str) -> str:
        return f"{options[name]['steps_per_s']:.0f}" if name in options else ""

    main_rows = []
    for network, options in by_network.items():
        pipeline = ratio(options, "default", "synthetic")
        share = options.get("callback", {}).get("callback_share", math.nan)
        main_rows.append(
            [
                f"`{network}`",
                speed(options, "plain"),
                speed(options, "default"),
                speed(options, "synthetic"),
                _percent(1 - pipeline),
                _percent(share),
                speed(options, "torch_loader"),
                speed(options, "torch_memory"),
                speed(options, "torch_threads_1"),
                _times(ratio(options, "default", "torch_loader")),
                _times(ratio(options, "synthetic", "torch_memory")),
                _times(_to_best_torch(options)),
            ]
        )
    main = _table(
        [
            "network",
            "plain fit steps/s",
            "bn_keras default",
            "synthetic batches",
            "pipeline cost",
            "callback share",
            "PyTorch DataLoader",
            "PyTorch in-memory",
            "PyTorch in-memory, 1 thread",
            "bn_keras / PyTorch: default / DataLoader",
            "synthetic / in-memory",
            "default / fastest PyTorch",
        ],
        main_rows,
    )
    option_names = [
        name
        for name in dict.fromkeys(r["option"] for r in records)
        if name != "plain" and not name.startswith("torch")
    ]
    option_rows = [
        [f"`{network}`"]
        + [
            f"{_times(options[n]['ratio_to_plain'])} ({_times(options[n]['ratio_to_default'])})"
            if n in options
            else ""
            for n in option_names
        ]
        for network, options in by_network.items()
    ]
    ratios = _table(["network", *option_names], option_rows)
    return (
        _header(context)
        + main
        + _sweep_estimate(by_network)
        + "\n\nsteps/s as a ratio to plain model.fit (and to bn_keras's defaults):\n\n"
        + ratios
    )


def _to_best_torch(options: dict[str, dict]) -> float:
    """bn_keras's defaults against the fastest PyTorch measurement of the same round."""
    torch = [r["steps_per_s_reps"] for name, r in options.items() if name.startswith("torch")]
    if not torch or "default" not in options:
        return math.nan
    return paired_ratio(options["default"]["steps_per_s_reps"], [max(v) for v in zip(*torch)])


def _sweep_estimate(by_network: dict[str, dict[str, dict]]) -> str:
    """The paper sweep's training time (3 seeds x 10,000 iterations each, one run at a time) at
    the callback measurement's steps/s, which includes the evaluations."""
    rates = [
        options["callback"]["steps_per_s"]
        for options in by_network.values()
        if "callback" in options
    ]
    if len(rates) != len(by_network):
        return ""
    minutes = sum(3 * 10_000 / rate for rate in rates) / 60
    return (
        f"\n\nThese {len(rates)} networks x 3 seeds x 10,000 iterations with evaluations, "
        f"one run at a time: {minutes:.0f} min of training at these speeds."
    )


def _header(context: dict) -> str:
    return (
        f"{context['command']}\n{context['date']}, {context['wall_s']} s; {context['machine']}; "
        f"TensorFlow {context['tensorflow']}, Keras {context['keras']}"
        + (
            f", PyTorch {context['torch']} ({context['torch_threads']} threads)"
            if context["torch"]
            else ""
        )
        + f"; median of {context['reps']} repetitions\n\n"
    )
