"""Writes the summary as summary.md (tables, verdicts, provenance) and summary.csv."""

from __future__ import annotations

import csv
import datetime
import io
from pathlib import Path

from bn_keras.common.atomic import write_text_atomic
from bn_keras.reporting import claims, paper_checks
from bn_keras.reporting.claims import THRESHOLDS
from bn_keras.reporting.statistics import ACCURACY_MARGIN, MARGIN_JUSTIFICATION
from bn_keras.reporting.summary import (
    ExperimentStats,
    Pair,
    Run,
    Summary,
    format_speedup,
    framework_name,
    group_by_experiment,
)


def _distinct(values) -> str:
    return ", ".join(sorted({str(v) for v in values})) or "unknown"


def _machine(record: dict) -> str:
    m = record.get("machine", {})
    gpus = ", ".join(m.get("gpus") or []) or "no GPU"
    return f"{m.get('platform')}, {m.get('processor')}, {m.get('cpu_count')} CPUs, {gpus}"


METHOD = [
    "Effect: BN minus no BN, over seeds, with Welch's t 95% confidence interval for the "
    "difference of means. Why Welch: with 3-10 seeds per arm a bootstrap over seeds has too few "
    "distinct resamples and its percentile interval undercovers; Welch does not assume that both "
    "arms vary alike (BN often narrows the spread).",
    "Never reached: a seed that never reached a threshold counts as censored at its train_steps "
    "(it needed at least that many). Where only the arm without BN has such seeds the "
    "interval's upper limit is a bound (BN at least that much sooner), where only BN has them "
    "its lower limit is, and where both do the effect is not estimable and left out of the "
    "verdict; the tables say how many of how many seeds never reached it.",
    '"BN raises accuracy" and "BN speeds convergence": REPRODUCED when the 95% interval '
    "excludes zero in the claimed direction (for speed, at every estimable threshold); NOT "
    "REPRODUCED when it excludes zero the other way, or for accuracy when TOST shows equivalence "
    "within the margin; otherwise UNDECIDED.",
    '"BN makes no difference": TOST, two one-sided Welch t tests at alpha 0.05 (the 90% '
    "interval inside the margin); REPRODUCED when it passes, NOT REPRODUCED when the 95% "
    "interval lies wholly beyond the margin, otherwise UNDECIDED. A 95% interval that excludes "
    "zero but stays within the margin is reported as a real but tiny effect.",
    f"Margin: {MARGIN_JUSTIFICATION}.",
    "Seeds to decide (UNDECIDED): the smallest number of seeds per arm at which the expected "
    "interval, with the observed SDs, would clear the limit (zero, or the margin for TOST); at "
    "that n about half of repeated experiments would decide. The sweep adds seeds to undecided "
    "pairs up to 10 per arm (optional stopping, bounded by that cap).",
    "Figures draw the mean with the same t-based 95% CI of the mean, per evaluation step, as "
    "their band; the tables give the same interval for each experiment's mean.",
]


def _header(summary: Summary, command: str | None, total_wall_time: str | None) -> list[str]:
    records = [r.record for r in summary.finished]
    versions = [rec.get("versions", {}) for rec in records]
    seeds = _distinct(len(s.seeds) for s in summary.experiments.values())
    lines = ["# BatchNorm ablation on MNIST: summary", ""]
    lines += [f"- Command: `{command}`"] if command else []
    lines += [f"- Wall time of this command: {total_wall_time}"] if total_wall_time else []
    finished = summary.finished + [r for t in summary.twins.values() for r in t.finished]
    trained = sum(r.result.get("train_seconds", 0.0) for r in finished)
    return lines + [
        f"- Training time summed over the {len(finished)} finished runs: "
        f"{datetime.timedelta(seconds=round(trained))} (runs skipped as finished count too)",
        f"- Machine: {_distinct(_machine(rec) for rec in records)}",
        f"- TensorFlow {_distinct(v.get('tensorflow') for v in versions)}, "
        f"Keras {_distinct(v.get('keras') for v in versions)}",
        f"- Git commit: {_distinct(v.get('git_commit') for v in versions)}",
        f"- Seeds per experiment: {seeds} (finished runs only)",
    ]


def _claims_table(verdicts: list[claims.Verdict]) -> list[str]:
    if not verdicts:
        return ["- no pair of the paper has finished"]
    lines = [
        "| pair | claim | quantity | BN - no BN | 95% CI | seeds per arm | method | verdict | "
        "finding |",
        "|" + " --- |" * 9,
    ]
    for v in verdicts:
        e = v.effect
        lines.append(
            f"| {v.pair} | {v.claim} | {e.quantity} | {e.effect_text()} | {e.ci_text()} | "
            f"{_seeds(e)} | {v.method} | **{v.outcome}** | {v.note} |"
        )
    return lines


def _seeds(effect: claims.Effect) -> str:
    return str(effect.n[0]) if effect.n[0] == effect.n[1] else f"{effect.n[0]}/{effect.n[1]}"


def _experiments_table(experiments: dict[str, ExperimentStats]) -> list[str]:
    thresholds = " | ".join(f"it. to {t:.0%}" for t in THRESHOLDS)
    lines = [
        "| experiment | seeds | final acc. [95% CI] | final min-max | best acc. [95% CI] | "
        f"{thresholds} | wall time (s) | steps/s |",
        "|" + " --- |" * (7 + len(THRESHOLDS)),
    ]
    for s in experiments.values():
        its = " | ".join(s.iterations_text(t) for t in THRESHOLDS)
        lines.append(
            f"| {s.experiment} | {len(s.seeds)} | {s.final.ci_text()} | "
            f"{s.final.min:.4f}-{s.final.max:.4f} | {s.best.ci_text()} | {its} | "
            f"{s.train_seconds:.0f} | {s.steps_per_second:.1f} |"
        )
    return lines


def _effects_table(pairs: list[Pair]) -> list[str]:
    lines = [
        "| pair | quantity | BN - no BN | 95% CI | seeds per arm | never reached (no BN / BN) | "
        f"TOST p (±{ACCURACY_MARGIN}) | speed-up (ratio of means) |",
        "|" + " --- |" * 8,
    ]
    for p in pairs:
        for e, t in zip(p.effects, (None, None, *THRESHOLDS)):
            tost = "" if e.tost_p is None else claims.p_text(e.tost_p)
            ratio = "" if t is None else format_speedup(p.speedups[t])
            lines.append(
                f"| {p.name} / {p.bn.experiment} | {e.quantity} | {e.effect_text()} | "
                f"{e.ci_text()} | {_seeds(e)} | {e.never_text()} | {tost} | {ratio} |"
            )
    return lines


def _separate_findings(pairs: list[Pair]) -> list[str]:
    """Iterations of the pairs whose claim is about accuracy only (lenetr), as their own finding."""
    lines = []
    for p in pairs:
        if claims.CLAIMS.get(p.name) != (claims.NO_DIFFERENCE,):
            continue
        for e in (e for e in p.effects if e.is_iterations):
            lines.append(
                f"- {p.name}, {e.quantity}: BN - no BN {e.effect_text()}, 95% CI {e.ci_text()}, "
                f"{_seeds(e)} seeds per arm (never reached: {e.never_text()})"
            )
    if not lines:
        return []
    head = ["", "## Beyond the claims: convergence where BN makes no difference in accuracy", ""]
    return head + lines


def _twin_section(summary: Summary) -> list[str]:
    primary = framework_name(summary.framework)
    if not summary.twins:
        return ["", f"No PyTorch twin runs (results/pytorch/): {primary} only."]
    lines = []
    for key, view in summary.twins.items():
        framework = framework_name(key)
        lines += [
            "",
            f"## {primary} and {framework} side by side",
            "",
            f"Final accuracy, {primary} minus {framework}, Welch 95% CI; agreement by TOST at the "
            f"same margin (±{ACCURACY_MARGIN}).",
            "",
            f"| experiment | seeds ({primary} / {framework}) | {primary} - {framework} | 95% CI | "
            "TOST p | agreement | finding |",
            "|" + " --- |" * 7,
        ]
        for a in summary.agreement[key]:
            e, v = a.effect, a.verdict
            tost = "" if e.tost_p is None else claims.p_text(e.tost_p)
            lines.append(
                f"| {a.experiment} | {e.n[1]} / {e.n[0]} | {e.effect_text()} | {e.ci_text()} | "
                f"{tost} | **{claims.AGREEMENT_WORDS[v.outcome]}** | {v.note} |"
            )
        lines += ["", f"### The paper's claims from the {framework} runs alone", ""]
        lines += _claims_table(view.verdicts)
        lines += ["", f"### {framework} experiments", ""]
        lines += _experiments_table(view.experiments)
    return lines


def _run_name(run: Run, primary: str) -> str:
    return run.run_dir.name if run.framework == primary else f"{run.framework}/{run.run_dir.name}"


def _markdown(summary: Summary, command: str | None, total_wall_time: str | None) -> str:
    lines = _header(summary, command, total_wall_time)
    lines += ["", "## Claims", ""] + _claims_table(summary.verdicts)
    lines += ["", "### How the verdicts are decided", ""] + [f"- {m}" for m in METHOD]
    lines += _separate_findings(summary.pairs)
    lines += ["", "## Experiments", ""] + _experiments_table(summary.experiments)
    lines += ["", "## BatchNorm against no BatchNorm", ""] + _effects_table(summary.pairs)
    lines += _twin_section(summary)
    lines += ["", "## Verdicts", ""]
    lines += [f"- {v.line}" for v in summary.verdicts] or ["- no pair of the paper has finished"]
    groups = group_by_experiment(summary.finished)
    lines += _ioffe_section(paper_checks.ioffe_comparison(groups))
    lines += _iteration_section(paper_checks.iteration_question(groups))
    if summary.unfinished:
        lines += ["", "## Unfinished runs (left out of the statistics)", ""]
        lines += [
            f"- {_run_name(r, summary.framework)}: last evaluation at step "
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


CLAIM_KEYS = {
    claims.SPEEDS_UP: "speeds_up",
    claims.RAISES: "raises",
    claims.NO_DIFFERENCE: "no_difference",
}


def _quantity_key(quantity: str) -> str:
    return quantity.replace(" ", "_").replace("%", "")


def _effect_fields(e: claims.Effect) -> dict:
    key = _quantity_key(e.quantity)
    ci = e.interval
    row = {f"{key}_effect": "" if ci is None else ci.effect}
    row[f"{key}_ci_low"] = "" if ci is None or e.bound == claims.UPPER_IS_BOUND else ci.low
    row[f"{key}_ci_high"] = "" if ci is None or e.bound == claims.LOWER_IS_BOUND else ci.high
    if e.is_iterations:
        row |= {f"{key}_never_base": e.never[0], f"{key}_never_bn": e.never[1]}
    else:
        row[f"{key}_tost_p"] = "" if e.tost_p is None else e.tost_p
    return row


def _fields() -> list[str]:
    pct = [f"{t * 100:.0f}" for t in THRESHOLDS]
    fields = ["framework", "experiment", "seeds"]
    fields += [
        f"{k}_{s}"
        for k in ("final", "best")
        for s in ("mean", "std", "min", "max", "ci_low", "ci_high")
    ]
    fields += [f"{k}_{p}" for p in pct for k in ("iterations_to", "seeds_reaching")]
    fields += ["train_seconds_mean", "steps_per_second_mean", "baseline", "seeds_per_arm"]
    for q in ("final_accuracy", "best_accuracy"):
        fields += [f"{q}_{s}" for s in ("effect", "ci_low", "ci_high", "tost_p")]
    for p in pct:
        fields += [
            f"iterations_to_{p}_{s}"
            for s in ("effect", "ci_low", "ci_high", "never_base", "never_bn")
        ]
    fields += [f"speedup_to_{p}" for p in pct]
    for key in CLAIM_KEYS.values():
        fields += [f"{key}_{s}" for s in ("verdict", "quantity", "method", "seeds_needed", "note")]
    fields += ["margin"]
    fields += [f"vs_primary_{s}" for s in ("effect", "ci_low", "ci_high", "tost_p", "agreement")]
    return fields


def _experiment_rows(
    framework: str, view_experiments, pairs, verdicts, agreements=()
) -> list[dict]:
    pct = [f"{t * 100:.0f}" for t in THRESHOLDS]
    twins = {p.bn.experiment: p for p in pairs}
    by_experiment = {a.experiment: a for a in agreements}
    rows = []
    for s in view_experiments.values():
        row = {"framework": framework, "experiment": s.experiment, "seeds": len(s.seeds)}
        for key, spread in (("final", s.final), ("best", s.best)):
            fields = ("mean", "std", "min", "max", "ci_low", "ci_high")
            row |= {f"{key}_{k}": getattr(spread, k) for k in fields}
        for t, p in zip(THRESHOLDS, pct):
            row[f"iterations_to_{p}"] = "" if s.iterations[t] is None else s.iterations[t]
            row[f"seeds_reaching_{p}"] = s.reached[t]
        row |= {"train_seconds_mean": s.train_seconds, "steps_per_second_mean": s.steps_per_second}
        if pair := twins.get(s.experiment):
            row |= {"baseline": pair.name, "seeds_per_arm": _seeds(pair.effects[0])}
            for e in pair.effects:
                row |= _effect_fields(e)
            row |= {f"speedup_to_{p}": pair.speedups[t] for t, p in zip(THRESHOLDS, pct)}
            for v in (v for v in verdicts if v.pair == pair.name):
                key = CLAIM_KEYS[v.claim]
                row |= {
                    f"{key}_verdict": v.outcome,
                    f"{key}_quantity": v.effect.quantity,
                    f"{key}_method": v.method,
                    f"{key}_seeds_needed": v.seeds_needed or "",
                    f"{key}_note": v.note,
                }
            row["margin"] = ACCURACY_MARGIN
        if a := by_experiment.get(s.experiment):
            ci = a.effect.interval
            row |= {
                "vs_primary_effect": "" if ci is None else ci.effect,
                "vs_primary_ci_low": "" if ci is None else ci.low,
                "vs_primary_ci_high": "" if ci is None else ci.high,
                "vs_primary_tost_p": "" if a.effect.tost_p is None else a.effect.tost_p,
                "vs_primary_agreement": claims.AGREEMENT_WORDS[a.verdict.outcome],
                "margin": ACCURACY_MARGIN,
            }
        rows.append(row)
    return rows


def _csv(summary: Summary) -> str:
    """One row per framework and experiment; a BN experiment's row carries its pair's effects
    and verdicts, a twin experiment's row its difference from the primary framework."""
    rows = _experiment_rows(summary.framework, summary.experiments, summary.pairs, summary.verdicts)
    for framework, view in summary.twins.items():
        rows += _experiment_rows(
            framework, view.experiments, view.pairs, view.verdicts, summary.agreement[framework]
        )
    out = io.StringIO()
    writer = csv.DictWriter(out, _fields(), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
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
    return md_path, csv_path
