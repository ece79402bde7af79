"""Writes the summary as summary.md (tables, verdicts, provenance) and summary.csv."""

from __future__ import annotations

import csv
import datetime
import io
from pathlib import Path

from absl import logging

from bn_keras.common.atomic import write_text_atomic
from bn_keras.reporting import paper_checks
from bn_keras.reporting.summary import THRESHOLDS, Summary, format_speedup, group_by_experiment


def _distinct(values) -> str:
    return ", ".join(sorted({str(v) for v in values})) or "unknown"


def _machine(record: dict) -> str:
    m = record.get("machine", {})
    gpus = ", ".join(m.get("gpus") or []) or "no GPU"
    return f"{m.get('platform')}, {m.get('processor')}, {m.get('cpu_count')} CPUs, {gpus}"


def _markdown(summary: Summary, command: str | None, total_wall_time: str | None) -> str:
    records = [r.record for r in summary.finished]
    versions = [rec.get("versions", {}) for rec in records]
    seeds = _distinct(len(s.seeds) for s in summary.experiments.values())
    lines = ["# BatchNorm ablation on MNIST: summary", ""]
    lines += [f"- Command: `{command}`"] if command else []
    lines += [f"- Wall time of this command: {total_wall_time}"] if total_wall_time else []
    trained = sum(r.result.get("train_seconds", 0.0) for r in summary.finished)
    lines += [
        f"- Training time summed over the {len(summary.finished)} finished runs: "
        f"{datetime.timedelta(seconds=round(trained))} (runs skipped as finished count too)"
    ]
    lines += [
        f"- Machine: {_distinct(_machine(rec) for rec in records)}",
        f"- TensorFlow {_distinct(v.get('tensorflow') for v in versions)}, "
        f"Keras {_distinct(v.get('keras') for v in versions)}",
        f"- Git commit: {_distinct(v.get('git_commit') for v in versions)}",
        f"- Seeds per experiment: {seeds} (finished runs only; statistics over seeds, "
        "std is the sample std)",
        "",
        "## Experiments",
        "",
    ]
    thresholds = " | ".join(f"it. to {t:.0%}" for t in THRESHOLDS)
    lines += [
        "| experiment | seeds | final acc. | final min-max | best acc. | best min-max | "
        f"{thresholds} | wall time (s) | steps/s |",
        "|" + " --- |" * (8 + len(THRESHOLDS)),
    ]
    for s in summary.experiments.values():
        its = " | ".join(s.iterations_text(t) for t in THRESHOLDS)
        lines.append(
            f"| {s.experiment} | {len(s.seeds)} | {s.final.mean:.4f} ± {s.final.std:.4f} | "
            f"{s.final.min:.4f}-{s.final.max:.4f} | {s.best.mean:.4f} ± {s.best.std:.4f} | "
            f"{s.best.min:.4f}-{s.best.max:.4f} | {its} | {s.train_seconds:.0f} | "
            f"{s.steps_per_second:.1f} |"
        )
    lines += ["", "## BatchNorm against no BatchNorm", ""]
    speedup_cols = " | ".join(f"speed-up to {t:.0%}" for t in THRESHOLDS)
    lines += [
        f"| pair | final acc. difference (BN - no BN) | seed spread | {speedup_cols} |",
        "|" + " --- |" * (3 + len(THRESHOLDS)),
    ]
    for p in summary.pairs:
        ups = " | ".join(format_speedup(s) for s in p.speedups.values())
        lines.append(
            f"| {p.name} / {p.bn.experiment} | {p.final_difference:+.4f} | {p.spread:.4f} | {ups} |"
        )
    lines += ["", "## Verdicts", ""]
    lines += [f"- {v.line}" for v in summary.verdicts] or ["- no pair of the paper has finished"]
    groups = group_by_experiment(summary.finished)
    lines += _ioffe_section(paper_checks.ioffe_comparison(groups))
    lines += _iteration_section(paper_checks.iteration_question(groups))
    if summary.unfinished:
        lines += ["", "## Unfinished runs (left out of the statistics)", ""]
        lines += [
            f"- {r.run_dir.name}: last evaluation at step "
            f"{int(r.rows[-1]['step']) if r.rows else '-'} of "
            f"{r.record.get('config', {}).get('train_steps', '?')}"
            for r in summary.unfinished
        ]
    return "\n".join(lines) + "\n"


def _ioffe_section(points: list[paper_checks.IoffePoint]) -> list[str]:
    if not points:
        return []
    lines = [
        "",
        "## Ioffe & Szegedy (2015) Fig. 1(a), side by side",
        "",
        "MLP, batch 60, 50,000 iterations, our recipe (Adadelta, x0.7 per epoch); theirs read off",
        "their figure.",
        "",
        "| experiment | iteration | Ioffe & Szegedy | ours (mean, min-max) |",
        "| --- | --- | --- | --- |",
    ]
    for p in points:
        lines.append(
            f"| {p.experiment} | {p.step} | {p.theirs:.3f} | "
            f"{p.ours.mean:.4f} ({p.ours.min:.4f}-{p.ours.max:.4f}) |"
        )
    return lines


def _iteration_section(results: list[paper_checks.IterationResult]) -> list[str]:
    if not results:
        return []
    tolerance = paper_checks.STEADY_TOLERANCE
    lines = [
        "",
        "## The iteration question (notes to Figure 3)",
        "",
        "Sigmoid LeNet-5 for 100,000 iterations under two schedules. Steady from: the first",
        f"evaluation after which test accuracy stays within {tolerance:.3f} of its final value.",
        "",
        "| experiment | schedule | steady from iteration | final acc. | final lr |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.experiment} | {r.schedule} | {r.steady_step.mean:.0f} | "
            f"{r.final.mean:.4f} | {r.final_learning_rate:.2g} |"
        )
    return [*lines, "", f"Answer: {paper_checks.iteration_answer(results)}."]


def _csv(summary: Summary) -> str:
    pct = [f"{t * 100:.0f}" for t in THRESHOLDS]
    fields = ["experiment", "seeds"]
    fields += [f"{k}_{s}" for k in ("final", "best") for s in ("mean", "std", "min", "max")]
    fields += [f"{k}_{p}" for p in pct for k in ("iterations_to", "seeds_reaching")]
    fields += ["train_seconds_mean", "steps_per_second_mean", "baseline", "final_difference"]
    fields += ["seed_spread"] + [f"speedup_to_{p}" for p in pct]
    twins = {p.bn.experiment: p for p in summary.pairs}
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    for s in summary.experiments.values():
        row = {"experiment": s.experiment, "seeds": len(s.seeds)}
        for key, spread in (("final", s.final), ("best", s.best)):
            row |= {f"{key}_{k}": getattr(spread, k) for k in ("mean", "std", "min", "max")}
        for t, p in zip(THRESHOLDS, pct):
            row[f"iterations_to_{p}"] = "" if s.iterations[t] is None else s.iterations[t]
            row[f"seeds_reaching_{p}"] = s.reached[t]
        row |= {"train_seconds_mean": s.train_seconds, "steps_per_second_mean": s.steps_per_second}
        if pair := twins.get(s.experiment):
            row |= {"baseline": pair.name, "final_difference": pair.final_difference}
            row["seed_spread"] = pair.spread
            row |= {f"speedup_to_{p}": pair.speedups[t] for t, p in zip(THRESHOLDS, pct)}
        writer.writerow(row)
    return out.getvalue()


def write_summary(
    summary: Summary,
    results_dir: Path,
    command: str | None = None,
    total_wall_time: str | None = None,
) -> tuple[Path, Path]:
    """Writes summary.md and summary.csv into `results_dir`, each atomically.

    Args:
        summary: what summarize() returned.
        results_dir: the results directory the runs were loaded from.
        command: the command that produced the results, shown in the provenance header.
        total_wall_time: the sweep's wall time as free text, shown in the provenance header.

    Returns:
        The paths of summary.md and summary.csv.
    """
    md_path, csv_path = Path(results_dir) / "summary.md", Path(results_dir) / "summary.csv"
    write_text_atomic(md_path, _markdown(summary, command, total_wall_time))
    write_text_atomic(csv_path, _csv(summary))
    for verdict in summary.verdicts:
        logging.info("%s", verdict.line)
    return md_path, csv_path
