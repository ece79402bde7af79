"""summary.csv: one row per framework and experiment, with its pair's effects and verdicts."""

from __future__ import annotations

import csv
import io

from bn_keras.reporting import effects
from bn_keras.reporting.paper import claims
from bn_keras.reporting.paper.summary import Agreement, FrameworkView, Summary
from bn_keras.reporting.statistics import ACCURACY_MARGIN

CLAIM_KEYS = {
    claims.SPEEDS_UP: "speeds_up",
    claims.RAISES: "raises",
    claims.NO_DIFFERENCE: "no_difference",
}


def _percents(thresholds: tuple[float, ...]) -> list[str]:
    return [f"{t * 100:.0f}" for t in thresholds]


def _blank(value):
    return "" if value is None else value


def _effect_fields(e: effects.Effect, prefix: str = "") -> dict:
    key, ci = prefix + e.key, e.interval
    usable = ci is not None and e.estimable
    row = {
        f"{key}_effect": ci.effect if usable else "",
        f"{key}_ci_low": ci.low if usable else "",
        f"{key}_ci_high": ci.high if usable else "",
        f"{key}_p": _blank(e.p),
    }
    if e.is_iterations:
        row |= {f"{key}_perm_p": _blank(e.perm_p)}
        row |= {f"{key}_reached_base": e.reached[0], f"{key}_reached_bn": e.reached[1]}
    else:
        row[f"{key}_tost_p"] = _blank(e.tost_p)
    return row


def _fields(thresholds: tuple[float, ...]) -> list[str]:
    percents = _percents(thresholds)
    fields = ["framework", "experiment", "seeds"]
    fields += [
        f"{k}_{s}"
        for k in ("final", "best")
        for s in ("mean", "std", "min", "max", "ci_low", "ci_high")
    ]
    fields += [
        f"{k}_{p}"
        for p in percents
        for k in ("iterations_to", "median_iterations_to", "seeds_reaching")
    ]
    fields += ["rmst_tau", "train_seconds_mean", "steps_per_second_mean", "baseline"]
    fields += ["seeds_per_arm"]
    for q in ("final_accuracy", "best_accuracy"):
        fields += [f"{q}_{s}" for s in ("effect", "ci_low", "ci_high", "p", "tost_p")]
    for p in percents:
        fields += [
            f"iterations_to_{p}_{s}"
            for s in ("effect", "ci_low", "ci_high", "p", "perm_p", "reached_base", "reached_bn")
        ]
    fields += [f"speedup_to_{p}" for p in percents]
    for key in CLAIM_KEYS.values():
        fields += [f"{key}_{s}" for s in ("verdict", "quantity", "method", "seeds_needed", "note")]
    for key in CLAIM_KEYS.values():
        fields += [
            f"both_{key}_{s}"
            for s in (
                "verdict",
                "effect",
                "ci_low",
                "ci_high",
                "p",
                "p_holm",
                "interaction_effect",
                "interaction_ci_low",
                "interaction_ci_high",
                "interaction_p",
                "note",
            )
        ]
    fields += ["margin"]
    fields += [f"vs_primary_{s}" for s in ("effect", "ci_low", "ci_high", "tost_p", "agreement")]
    return fields


def _pooled_fields(verdict: claims.Verdict) -> dict:
    key = f"both_{CLAIM_KEYS[verdict.claim]}"
    ci, inter = verdict.effect.interval, verdict.interaction
    inter_ci = None if inter is None else inter.interval
    row = {
        f"{key}_verdict": verdict.outcome,
        f"{key}_effect": "" if ci is None else ci.effect,
        f"{key}_ci_low": "" if ci is None else ci.low,
        f"{key}_ci_high": "" if ci is None else ci.high,
        f"{key}_p": _blank(claims.primary_p(verdict.claim, verdict.effect)),
        f"{key}_p_holm": _blank(verdict.p_adjusted),
        f"{key}_note": verdict.note,
    }
    if inter_ci is not None:
        row |= {
            f"{key}_interaction_effect": inter_ci.effect,
            f"{key}_interaction_ci_low": inter_ci.low,
            f"{key}_interaction_ci_high": inter_ci.high,
            f"{key}_interaction_p": inter_ci.p,
        }
    return row


def _experiment_rows(
    view: FrameworkView,
    thresholds: tuple[float, ...],
    agreements: list[Agreement] = (),
    pooled: list[claims.Verdict] = (),
) -> list[dict]:
    twins = {p.bn.experiment: p for p in view.pairs}
    by_experiment = {a.experiment: a for a in agreements}
    rows, percents = [], _percents(thresholds)
    for s in view.experiments.values():
        row = {"framework": view.framework, "experiment": s.experiment, "seeds": len(s.seeds)}
        for key, spread in (("final", s.final), ("best", s.best)):
            fields = ("mean", "std", "min", "max", "ci_low", "ci_high")
            row |= {f"{key}_{k}": getattr(spread, k) for k in fields}
        for t, p in zip(thresholds, percents):
            row[f"iterations_to_{p}"] = s.iterations[t]
            row[f"median_iterations_to_{p}"] = _blank(s.medians[t])
            row[f"seeds_reaching_{p}"] = s.reached[t]
        row |= {"rmst_tau": s.tau, "train_seconds_mean": s.train_seconds}
        row |= {"steps_per_second_mean": s.steps_per_second}
        if pair := twins.get(s.experiment):
            row |= {"baseline": pair.name, "seeds_per_arm": "/".join(map(str, pair.effects[0].n))}
            for e in pair.effects:
                row |= _effect_fields(e)
            row |= {f"speedup_to_{p}": pair.speedups[t] for t, p in zip(thresholds, percents)}
            for v in (v for v in view.verdicts if v.pair == pair.name):
                key = CLAIM_KEYS[v.claim]
                row |= {
                    f"{key}_verdict": v.outcome,
                    f"{key}_quantity": v.effect.quantity,
                    f"{key}_method": v.method,
                    f"{key}_seeds_needed": v.seeds_needed or "",
                    f"{key}_note": v.note,
                }
            for v in (v for v in pooled if v.pair == pair.name):
                row |= _pooled_fields(v)
            row["margin"] = ACCURACY_MARGIN
        if a := by_experiment.get(s.experiment):
            ci = a.effect.interval
            row |= {
                "vs_primary_effect": "" if ci is None else ci.effect,
                "vs_primary_ci_low": "" if ci is None else ci.low,
                "vs_primary_ci_high": "" if ci is None else ci.high,
                "vs_primary_tost_p": _blank(a.effect.tost_p),
                "vs_primary_agreement": claims.AGREEMENT_WORDS[a.verdict.outcome],
                "margin": ACCURACY_MARGIN,
            }
        rows.append(row)
    return rows


def csv_text(summary: Summary) -> str:
    """One row per framework and experiment; a BN experiment's row carries its pair's effects
    and that framework's own verdicts (the primary framework's also the pooled, Holm-adjusted
    verdicts, columns both_*), a twin experiment's row its difference from the primary."""
    views = summary.views
    thresholds = summary.thresholds
    rows = _experiment_rows(views[summary.framework], thresholds, pooled=summary.verdicts)
    for framework, view in summary.twins.items():
        rows += _experiment_rows(view, thresholds, summary.agreement[framework])
    out = io.StringIO()
    writer = csv.DictWriter(out, _fields(thresholds), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
