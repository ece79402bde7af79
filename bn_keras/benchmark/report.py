"""The benchmark's numbers: medians and paired ratios, the CSV file and the printed tables."""

from __future__ import annotations

import csv
import io
import math
import statistics
from pathlib import Path

from bn_keras.benchmark.noise import OTHERS_LIMIT
from bn_keras.common import tables as markdown_tables
from bn_keras.common.atomic import write_text_atomic

CSV_FIELDS = (
    "network",
    "option",
    "worker",
    "onednn",
    "variant",
    "description",
    "steps",
    "steps_per_s",
    "ratio_to_plain",
    "ratio_to_default",
    "ratio_to_best_torch",
    "callback_share",
    "steps_per_s_reps",
    "throttled_reps",
    "throttled_ms",
    "loaded_reps",
    "max_other_cores",
    "max_load",
    "flagged",
)
NOISY = "*"  # marks a figure that rests on a throttled or loaded timing
SWEEP_SECTION = "sweep"  # the "section" of the sweep section's records (benchmark/sweep.py)
CONTEXT_FIELDS = (
    "date",
    "wall_s",
    "command",
    "machine",
    "cpu",
    "cpu_features",
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
        **noise_summary(replies),
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


def noise_summary(replies: list[dict]) -> dict:
    """How many of an option's timings were throttled or loaded (bn_keras.benchmark.noise).

    Returns:
        throttled_reps, loaded_reps: repetitions with each verdict; throttled_ms: their total
        throttled time (NaN where no worker could read its cgroup's counters); max_other_cores:
        the most CPU other processes used during one of them, in cores; max_load: the highest
        1-minute load average seen around them; flagged: any repetition is either.
    """
    checks = [reply["noise"] for reply in replies if "noise" in reply]
    millis = [c["throttled_ms"] for c in checks if c["throttled_ms"] is not None]
    loads = [max(c["load_before"], c["load_after"]) for c in checks]
    others = [c["other_cores"] for c in checks if c.get("other_cores") is not None]
    throttled = sum(c["throttled"] for c in checks)
    loaded = sum(c["loaded"] for c in checks)
    return {
        "throttled_reps": throttled,
        "throttled_ms": sum(millis) if millis else math.nan,
        "loaded_reps": loaded,
        "max_other_cores": max(others) if others else math.nan,
        "max_load": max(loads) if loads else math.nan,
        "flagged": bool(throttled or loaded),
        "cpus": max((c["cpus"] for c in checks), default=0),
    }


def _cell(value) -> str:
    if isinstance(value, list):
        return " ".join(f"{v:.4g}" for v in value)
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def write_csv(path: Path, records: list[dict], context: dict) -> None:
    """One row per (network, option); the run's context (date, machine, versions) on every row.
    A column a record lacks (ratio_to_best_torch, the sweep section's) is left empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS + CONTEXT_FIELDS)
    for record in records:
        writer.writerow(
            [_cell(record.get(f, "")) for f in CSV_FIELDS]
            + [_cell(context[f]) for f in CONTEXT_FIELDS]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, buffer.getvalue())


def read_csv(path: Path) -> list[dict]:
    """The rows of a benchmark CSV as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def is_sweep(record: dict) -> bool:
    """Whether a record is the sweep section's."""
    return record.get("section") == SWEEP_SECTION


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    return "\n".join(markdown_tables.table(header, rows))


def _percent(value: float) -> str:
    return "" if math.isnan(value) else f"{100 * value:.1f}%"


def times(value: float) -> str:
    """A ratio as "1.23x"; empty for NaN."""
    return "" if math.isnan(value) else f"{value:.2f}x"


def tables(records: list[dict], context: dict, more: str = "") -> str:
    """Markdown: the speed options' tables (speed_tables), then `more` (the sweep section's,
    sweep_report.sweep_tables), then the noise check of every figure, sweep's included."""
    speed = [record for record in records if not is_sweep(record)]
    parts = [speed_tables(speed) if speed else "", more, noise_line(records)]
    return _header(context) + "\n\n".join(part for part in parts if part)


def speed_tables(records: list[dict]) -> str:
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
        if name not in options:
            return ""
        return _mark(f"{options[name]['steps_per_s']:.0f}", options, name)

    def paired(options: dict, numerator: str, denominator: str) -> str:
        value = times(ratio(options, numerator, denominator))
        return _mark(value, options, numerator, denominator)

    def columns(network: str, options: dict) -> list[tuple[str, str]]:
        """The main table's row for `network`, each cell beside its column's header."""
        pipeline = ratio(options, "default", "synthetic")
        share = options.get("callback", {}).get("callback_share", math.nan)
        torch_names = _torch_names(options)
        return [
            ("network", f"`{network}`"),
            ("plain fit steps/s", speed(options, "plain")),
            ("bn_keras default", speed(options, "default")),
            ("synthetic batches", speed(options, "synthetic")),
            ("pipeline cost", _mark(_percent(1 - pipeline), options, "default", "synthetic")),
            ("callback share", _mark(_percent(share), options, "callback")),
            ("PyTorch DataLoader", speed(options, "torch_loader")),
            ("PyTorch in-memory", speed(options, "torch_memory")),
            ("PyTorch in-memory, 1 thread", speed(options, "torch_threads_1")),
            (
                "bn_keras / PyTorch: default / DataLoader",
                paired(options, "default", "torch_loader"),
            ),
            ("synthetic / in-memory", paired(options, "synthetic", "torch_memory")),
            (
                "default / fastest PyTorch",
                _mark(times(_to_best_torch(options)), options, "default", *torch_names),
            ),
            (
                "with Keras's BN / fastest PyTorch",
                _mark(
                    times(_to_best_torch(options, "keras_bn")), options, "keras_bn", *torch_names
                ),
            ),
        ]

    rows = [columns(network, options) for network, options in by_network.items()]
    header = [name for name, _ in columns("", {})]
    main = table(header, [[cell for _, cell in row] for row in rows])
    option_names = [
        name
        for name in dict.fromkeys(r["option"] for r in records)
        if name != "plain" and not name.startswith("torch") and name not in BN_DIRECTIONS
    ]
    option_rows = [
        [f"`{network}`"]
        + [
            _mark(_option_ratios(options[n]), options, n, "plain", "default")
            if n in options
            else ""
            for n in option_names
        ]
        for network, options in by_network.items()
    ]
    ratios = table(["network", *option_names], option_rows)
    return (
        main
        + _sweep_estimate(by_network)
        + "\n\nsteps/s as a ratio to plain model.fit (and to bn_keras's defaults):\n\n"
        + ratios
        + _batch_norm_table(by_network)
    )


# The BatchNorm training steps tried (benchmark/bn_directions.py), against Keras's layer.
BN_DIRECTIONS = (
    "keras_bn",
    "bn_fused_v3",
    "bn_closed_form",
    "bn_closed_form_matmul",
    "bn_xla_autodiff",
)


def _batch_norm_table(by_network: dict[str, dict[str, dict]]) -> str:
    """Per BN network: each BatchNorm direction's steps/s as a paired ratio to Keras's layer
    (FastBatchNormalization is `default`), and the callback share with and without folding."""
    names = ["default", *BN_DIRECTIONS[1:]]
    rows = []
    for network, options in by_network.items():
        if "keras_bn" not in options:
            continue
        cells = [f"`{network}`", f"{options['keras_bn']['steps_per_s']:.0f}"]
        for name in names:
            if name not in options:
                cells.append("")
                continue
            ratio = paired_ratio(
                options[name]["steps_per_s_reps"], options["keras_bn"]["steps_per_s_reps"]
            )
            text = f"{options[name]['steps_per_s']:.0f} ({times(ratio)})"
            cells.append(_mark(text, options, name, "keras_bn"))
        for name in ("callback", "eval_folded"):
            share = options.get(name, {}).get("callback_share", math.nan)
            cells.append(_mark(_percent(share), options, name))
        rows.append(cells)
    if not rows:
        return ""
    header = [
        "network",
        "Keras BN steps/s",
        "FastBatchNormalization (default)",
        *BN_DIRECTIONS[1:],
        "callback share",
        "callback share, BN folded",
    ]
    return (
        "\n\nBatchNorm training steps: steps/s (ratio to Keras's BatchNormalization, same "
        "rounds):\n\n" + table(header, rows)
    )


def mark(text: str, *records: dict) -> str:
    """`text` with a NOISY marker when a record it comes from is flagged."""
    flagged = any(record.get("flagged") for record in records)
    return f"{text}{NOISY}" if text and flagged else text


def _mark(text: str, options: dict[str, dict], *names: str) -> str:
    """`mark` for the records of `names` among `options`."""
    return mark(text, *(options[n] for n in names if n in options))


def _option_ratios(record: dict) -> str:
    return f"{times(record['ratio_to_plain'])} ({times(record['ratio_to_default'])})"


def _torch_names(options: dict[str, dict]) -> list[str]:
    return [name for name in options if name.startswith("torch")]


def noise_line(records: list[dict]) -> str:
    """One sentence: how many figures are flagged, and why; or that none is."""
    flagged = [r for r in records if r.get("flagged")]
    throttled = sum(r.get("throttled_reps", 0) for r in records)
    loaded = sum(r.get("loaded_reps", 0) for r in records)
    millis = [r["throttled_ms"] for r in records if not math.isnan(r.get("throttled_ms", math.nan))]
    loads = [r["max_load"] for r in records if not math.isnan(r.get("max_load", math.nan))]
    others = [
        r["max_other_cores"] for r in records if not math.isnan(r.get("max_other_cores", math.nan))
    ]
    peak = (
        f"other processes used at most {max(others):.2f} cores during a timing"
        if others
        else "other processes' CPU time unknown"
    ) + (
        f"; highest 1-minute load average {max(loads):.1f} (this benchmark's threads included)"
        if loads
        else ""
    )
    counters = (
        f"{throttled} timings CPU-throttled by the cgroup quota ({sum(millis):.0f} ms in all)"
        if millis
        else "cgroup throttle counters unreadable"
    )
    if not flagged:
        return f"Noise check: no figure flagged; {counters}; {peak}."
    return (
        f"Noise check: {len(flagged)} of {len(records)} measurements flagged {NOISY} "
        f"(and every ratio that uses one): {counters}, {loaded} timings during which other "
        f"processes used more than {OTHERS_LIMIT} cores; {peak}."
    )


def _to_best_torch(options: dict[str, dict], name: str = "default") -> float:
    """Option `name` (bn_keras's defaults) against the fastest PyTorch measurement of the same
    round."""
    torch = [r["steps_per_s_reps"] for key, r in options.items() if key.startswith("torch")]
    if not torch or name not in options:
        return math.nan
    return paired_ratio(options[name]["steps_per_s_reps"], [max(v) for v in zip(*torch)])


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
        f"{context['cpu']} ({context['cpu_features']}); "
        f"TensorFlow {context['tensorflow']}, Keras {context['keras']}"
        + (
            f", PyTorch {context['torch']} ({context['torch_threads']} threads)"
            if context["torch"]
            else ""
        )
        + f"; median of {context['reps']} repetitions\n\n"
    )
