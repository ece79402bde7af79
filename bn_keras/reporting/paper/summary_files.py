"""Writes the summary as summary.md (design, claims, tables, provenance) and summary.csv."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from bn_keras.common import tables
from bn_keras.reporting import effects, rebuild
from bn_keras.reporting.paper import claims, design, paper_checks
from bn_keras.reporting.paper.summary import (
    ExperimentStats,
    FrameworkView,
    Pair,
    Run,
    Summary,
    format_speedup,
    framework_name,
    group_by_experiment,
)
from bn_keras.reporting.paper.summary_csv import csv_text
from bn_keras.reporting.statistics import ACCURACY_MARGIN
from bn_keras.reporting.why import why_verdicts

MARKDOWN_FILE, CSV_FILE = rebuild.SUMMARY_FILE, "summary.csv"
_LEGACY_COUNT = re.compile(r"^- Training time summed over the (\d+) finished runs", re.M)


def _distinct(values) -> str:
    return ", ".join(sorted({str(v) for v in values})) or "unknown"


def _machine(record: dict) -> str:
    m = record.get("machine", {})
    gpus = ", ".join(m.get("gpus") or []) or "no GPU"
    return f"{m.get('platform')}, {m.get('processor')}, {m.get('cpu_count')} CPUs, {gpus}"


METHOD = [
    "Effect: BN minus no BN, over seeds, with Welch's t 95% confidence interval for the "
    "difference of means (for both frameworks together, for the average of their two "
    "differences). Why Welch: with 3-10 seeds per arm a bootstrap over seeds has too few "
    "distinct resamples and its percentile interval undercovers; Welch does not assume that "
    "both arms vary alike (BN often narrows the spread).",
    "Iterations to a threshold: a seed that never reached it counts at tau = train_steps "
    "(10,000 for the paper's pairs), so the mean is the restricted mean at tau (RMST), not a "
    "mean of first-reaching times; the tables give the median and the share of seeds that "
    "reached the threshold beside it, and the speed-up is the ratio of the two RMSTs. Because "
    "the values pile up at tau, a permutation p-value (exact where there are at most 10,000 "
    "relabellings, else 10,000 fixed draws; within each framework when pooled) stands beside "
    "Welch's; at 3 seeds per arm it cannot go below 0.1.",
    "Figures: with 5 or more seeds, the mean with the t-based 95% CI of the mean per "
    "evaluation step as its band (the tables give the same interval for each experiment's "
    "mean), clipped to [0, 1] where marked; with fewer seeds each seed's own curve.",
]


def _versions(versions: list[dict]) -> str:
    """E.g. "TensorFlow 2.21.0, Keras 3.15.1; PyTorch 2.14.1" (the libraries any run names)."""
    names = {"tensorflow": "TensorFlow", "keras": "Keras", "torch": "PyTorch"}
    parts = []
    for key, name in names.items():
        found = {v[key] for v in versions if v.get(key)}
        if found:
            parts.append(f"{name} {', '.join(sorted(found))}")
    return ", ".join(parts) or "unknown"


def title(summary: Summary) -> str:
    """summary.md's title, e.g. "BatchNorm ablation on MNIST: summary"."""
    return f"BatchNorm ablation on {summary.dataset.label}: summary"


def finished_runs(summary: Summary) -> list[Run]:
    """The finished runs of every framework the summary holds."""
    return [r for view in summary.views.values() for r in view.finished]


def _header(summary: Summary, head: list[str]) -> list[str]:
    finished = finished_runs(summary)
    records = [r.record for r in finished]
    versions = [rec.get("versions", {}) for rec in records]
    seeds = _distinct(len(s.seeds) for s in summary.experiments.values())
    trained = sum(r.result.get("train_seconds", 0.0) for r in finished)
    return [
        *head,
        f"- Training time summed over the {len(finished)} finished runs: "
        f"{datetime.timedelta(seconds=round(trained))} (runs skipped as finished count too)",
        f"- Machine: {_distinct(_machine(rec) for rec in records)}",
        f"- Versions: {_versions(versions)}",
        f"- Git commit: {_distinct(v.get('git_commit') for v in versions)}",
        f"- Seeds per experiment: {seeds} (finished runs only)",
    ]


def _design_section(summary: Summary) -> list[str]:
    design_lines = design.design_lines(summary.dataset)
    lines = ["", "## Design (fixed before the results below)", "", *design_lines, ""]
    for pair in claims.CLAIMS:
        counts = []
        for framework in design.frameworks_of(pair, summary.dataset):
            view = summary.views.get(framework)
            stats = [view.experiments.get(e) for e in (pair, pair + "_bn")] if view else []
            n = min((len(s.seeds) for s in stats if s), default=0) if all(stats) else 0
            counts.append(f"{framework_name(framework)} {n}")
        n_all = [int(c.rsplit(" ", 1)[1]) for c in counts]
        met = (
            "meets the design"
            if min(n_all) >= design.SEEDS_PER_ARM
            else f"short of the design's {design.SEEDS_PER_ARM}: its verdicts are provisional"
        )
        lines.append(f"- `{pair}`: seeds per arm {', '.join(counts)}; {met}")
    return lines


def _n_text(effect: effects.Effect) -> str:
    """Seeds per arm, e.g. "10" or "10/10 + 3/3" (per framework when pooled)."""
    n = effect.n
    if len(set(n)) == 1:
        return str(n[0]) if len(n) == 2 else f"{n[0]} + {n[0]}"
    return " + ".join(f"{a}/{b}" for a, b in zip(n[0::2], n[1::2]))


def _p_cell(p: float | None) -> str:
    return "" if p is None else effects.p_text(p)


def _claims_table(summary: Summary) -> list[str]:
    verdicts = summary.verdicts
    if not verdicts:
        return ["- no pair of the paper has finished"]
    names = [framework_name(f) for f in summary.views]
    agreement = " - ".join(names) if len(names) == 2 else "frameworks"
    lines = [
        f"Each claim from {' and '.join(names)} together (the BN effect averaged over the "
        "frameworks), decided at its Holm-adjusted p; the frameworks' agreement is the "
        "difference of their BN effects.",
        "",
    ]
    header = ["pair", "claim", "primary quantity", "BN - no BN", "95% CI", "seeds per arm", "p"]
    header += ["Holm p", "verdict", "finding", f"agreement ({agreement}: difference of BN effects)"]
    rows = [
        [v.pair, v.claim, v.effect.quantity, v.effect.effect_text(), v.effect.ci_text()]
        + [_n_text(v.effect), _p_cell(claims.primary_p(v.claim, v.effect))]
        + [_p_cell(v.p_adjusted), f"**{v.outcome}**", v.note, _interaction(v.interaction)]
        for v in verdicts
    ]
    return lines + tables.table(header, rows)


def _interaction(effect: effects.Effect | None) -> str:
    if effect is None:
        return "one framework only"
    return (
        f"{effect.effect_text()}, 95% CI {effect.ci_text()}, p={_p_cell(effect.p)}: "
        f"{claims.finding(effect, directed=False)}"
    )


def _alone_table(summary: Summary) -> list[str]:
    rows = [(f, a) for v in summary.verdicts for f, a in v.alone]
    if not rows:
        return []
    lines = [
        "",
        "### Each framework alone (secondary, unadjusted)",
        "",
    ]
    header = ["pair", "claim", "framework", "BN - no BN", "95% CI", "seeds per arm", "p"]
    header += ["permutation p", "verdict", "finding"]
    cells = [
        [v.pair, v.claim, framework_name(framework), v.effect.effect_text(), v.effect.ci_text()]
        + [_n_text(v.effect), _p_cell(claims.primary_p(v.claim, v.effect))]
        + [_p_cell(v.effect.perm_p), v.outcome, v.note]
        for framework, v in rows
    ]
    return lines + tables.table(header, cells)


def _experiments_table(
    experiments: dict[str, ExperimentStats], thresholds: tuple[float, ...]
) -> list[str]:
    header = ["experiment", "seeds", "final acc. [95% CI]", "final min-max", "best acc. [95% CI]"]
    header += [f"it. to {t:.0%}: RMST; median; reached" for t in thresholds]
    rows = [
        [s.experiment, len(s.seeds), s.final.ci_text(), f"{s.final.min:.4f}-{s.final.max:.4f}"]
        + [s.best.ci_text(), *(s.iterations_text(t) for t in thresholds)]
        + [f"{s.train_seconds:.0f}", f"{s.steps_per_second:.1f}"]
        for s in experiments.values()
    ]
    return tables.table([*header, "wall time (s)", "steps/s"], rows)


def _effects_table(pairs: list[Pair], thresholds: tuple[float, ...]) -> list[str]:
    header = ["pair", "quantity", "BN - no BN", "95% CI", "seeds per arm", "Welch p"]
    header += ["permutation p", f"TOST p (±{ACCURACY_MARGIN})", "reached (no BN / BN)"]
    header += ["median (no BN / BN)", "speed-up (ratio of RMSTs)"]
    rows = [
        [f"{p.name} / {p.bn.experiment}", e.quantity, e.effect_text(), e.ci_text(), _n_text(e)]
        + [_p_cell(e.p), _p_cell(e.perm_p), _p_cell(e.tost_p), e.reached_text()]
        + [e.medians_text(), "" if t is None else format_speedup(p.speedups[t])]
        for p in pairs
        for e, t in zip(p.effects, (None, None, *thresholds))
    ]
    return tables.table(header, rows)


def _separate_findings(views: dict[str, FrameworkView]) -> list[str]:
    """Iterations of the pairs whose claim is about accuracy only (lenetr), as their own finding."""
    lines = []
    for framework, view in views.items():
        for p in view.pairs:
            if claims.CLAIMS.get(p.name) != (claims.NO_DIFFERENCE,):
                continue
            for e in (e for e in p.effects if e.is_iterations):
                lines.append(
                    f"- {framework_name(framework)}, {p.name}, {e.quantity}: BN - no BN "
                    f"{e.effect_text()}, 95% CI {e.ci_text()}, {_n_text(e)} seeds per arm, "
                    f"permutation p {_p_cell(e.perm_p)} (reached: {e.reached_text()}): "
                    f"{claims.finding(e)}"
                )
    if not lines:
        return []
    head = [
        "",
        "## Beyond the claims: convergence where BN makes no difference in accuracy",
        "",
        "Secondary and unadjusted, as every result outside the claims table.",
        "",
    ]
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
            f"Final accuracy per experiment, {primary} minus {framework}, Welch 95% CI; "
            f"agreement by TOST at the same margin (±{ACCURACY_MARGIN}). Secondary and "
            "unadjusted, worded by the same rule as the claims.",
            "",
        ]
        header = ["experiment", f"seeds ({primary} / {framework})", f"{primary} - {framework}"]
        header += ["95% CI", "TOST p", "agreement", "finding"]
        rows = [
            [a.experiment, f"{a.effect.n[1]} / {a.effect.n[0]}", a.effect.effect_text()]
            + [a.effect.ci_text(), _p_cell(a.effect.tost_p)]
            + [f"**{claims.AGREEMENT_WORDS[a.verdict.outcome]}**", a.verdict.note]
            for a in summary.agreement[key]
        ]
        lines += tables.table(header, rows)
        lines += ["", f"### {framework} experiments", ""]
        lines += _experiments_table(view.experiments, summary.thresholds)
        lines += ["", f"### {framework}: BatchNorm against no BatchNorm", ""]
        lines += _effects_table(view.pairs, summary.thresholds)
    return lines


def _run_name(run: Run, primary: str) -> str:
    return run.run_dir.name if run.framework == primary else f"{run.framework}/{run.run_dir.name}"


def markdown(summary: Summary, head: list[str]) -> str:
    """summary.md's text after `head` (rebuild.summary_head): the design first, then the claims
    and every table."""
    lines = _header(summary, head)
    lines += _design_section(summary)
    lines += ["", "## Claims", ""] + _claims_table(summary) + _alone_table(summary)
    lines += ["", "### How the effects are computed", ""] + [f"- {m}" for m in METHOD]
    lines += _separate_findings(summary.views)
    primary = framework_name(summary.framework)
    lines += ["", f"## Experiments ({primary})", ""]
    lines += _experiments_table(summary.experiments, summary.thresholds)
    lines += ["", f"## BatchNorm against no BatchNorm ({primary})", ""]
    lines += _effects_table(summary.pairs, summary.thresholds)
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
    ]
    header = ["experiment", "iteration", "Ioffe & Szegedy", "ours (mean, min-max)"]
    rows = [
        [p.experiment, p.step, f"{p.theirs:.3f}"]
        + [f"{p.ours.mean:.4f} ({p.ours.min:.4f}-{p.ours.max:.4f})"]
        for p in points
    ]
    return lines + tables.table(header, rows)


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
    ]
    header = ["experiment", "schedule", "steady from iteration", "final acc.", "final lr"]
    rows = [
        [r.experiment, r.schedule, f"{r.steady_step.mean:.0f}", f"{r.final.mean:.4f}"]
        + [f"{r.final_learning_rate:.2g}"]
        for r in results
    ]
    lines += tables.table(header, rows)
    return [*lines, "", f"Answer: {paper_checks.iteration_answer(results)}."]


def _legacy_count(text: str) -> int | None:
    match = _LEGACY_COUNT.search(text)
    return int(match[1]) if match else None


def write_summary(
    summary: Summary,
    results_dir: Path,
    command: str | None = None,
    total_wall_time: str | None = None,
) -> tuple[Path, Path]:
    """Writes summary.md and summary.csv into `results_dir`, each atomically and only when its
    bytes change.

    The provenance lines of an existing summary.md are kept when the finished runs are the
    same as when it was written (`command` is then not recorded: it trained nothing), and
    `command` is added to them when the runs differ (reporting/provenance.py).

    Args:
        summary: what summarize() returned.
        results_dir: the results directory the runs were loaded from.
        command: the command that produced the results, for the provenance header.
        total_wall_time: that command's wall time as free text, for the same header.

    Returns:
        The paths of summary.md and summary.csv.
    """
    md_path, csv_path = Path(results_dir) / MARKDOWN_FILE, Path(results_dir) / CSV_FILE
    head = rebuild.summary_head(
        title(summary), md_path, finished_runs(summary), command, total_wall_time, _legacy_count
    )
    why = why_verdicts.main_summary_section(Path(results_dir) / "why" / MARKDOWN_FILE)
    text = markdown(summary, head) + "".join(f"{line}\n" for line in why)
    return rebuild.write_text(md_path, text), rebuild.write_text(csv_path, csv_text(summary))
