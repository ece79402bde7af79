"""Is a way of training the same run as the default one, seed for seed, at the summary's margin?

Two comparisons, each of the finished Keras runs of a candidate directory against the reference
runs of the same experiments and seeds (the same seed starts from the same weights and batches,
so the comparison is paired):
- `--check=bn_impl`: FastBatchNormalization (runs whose config.json says bn_impl fast) against
  Keras's BatchNormalization (runs without bn_impl, or keras), the three BN networks;
- `--check=stacked`: seeds trained together as one stacked model (config.json has `stack`,
  issue 20) against seeds trained alone, the six paper networks.
For each experiment in both: the final test accuracy of each (mean, 95% CI), candidate minus
reference over the seeds both ran (a t interval of the per-seed differences and a paired TOST at
the summary's 0.002 margin), how many seeds end identically, the restricted mean iterations to
each threshold, and a figure of the curves:

    python scripts/same_seed_check.py --check=bn_impl --candidate=results/bn_impl_fast
    python scripts/same_seed_check.py --check=stacked --candidate=results/stacked

(--reference=results by default.)

Writes `<candidate>/comparison.md` and `<candidate>/curves.png`.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bn_keras.config.names import PAPER_EXPERIMENTS
from bn_keras.reporting import curves, effects, statistics
from bn_keras.reporting.paper import claims
from bn_keras.reporting.paper.summary import Run, Spread, group_by_experiment, load_runs
from bn_keras.reporting.statistics import ACCURACY_MARGIN

THRESHOLDS = (0.97, 0.98, 0.99)


@dataclasses.dataclass(frozen=True)
class Check:
    """What is compared: which runs count on each side, under which names."""

    title: str
    experiments: tuple[str, ...]
    reference_name: str
    candidate_name: str
    is_reference: Callable[[dict], bool]  # of a run's config.json record
    is_candidate: Callable[[dict], bool]


def _bn_impl(record: dict) -> str:
    return record["config"].get("bn_impl", "keras")


CHECKS = {
    "bn_impl": Check(
        "FastBatchNormalization against Keras's BatchNormalization, full paper runs",
        ("mlp_bn", "lenet_bn", "lenetr_bn"),
        "Keras BN",
        "fast BN",
        lambda record: _bn_impl(record) == "keras",
        lambda record: _bn_impl(record) == "fast",
    ),
    "stacked": Check(
        "Seeds trained together in one stacked model against seeds trained alone, full paper runs",
        PAPER_EXPERIMENTS,
        "alone",
        "stacked",
        lambda record: "stack" not in record,
        lambda record: "stack" in record,
    ),
}


def _runs(results_dir: Path, belongs: Callable[[dict], bool]) -> dict[str, list[Run]]:
    runs = [
        run
        for run in load_runs(results_dir)
        if run.finished and run.framework == "keras" and belongs(run.record)
    ]
    return group_by_experiment(runs)


def _steps(runs: list[Run], threshold: float) -> str:
    """The RMST at train_steps and how many seeds reached the threshold, e.g. "1267 (3/3)"."""
    values, reached = effects.restricted_iterations(runs, threshold)
    return f"{np.mean(values):.0f} ({reached}/{len(runs)})"


def same_seeds(reference: list[Run], candidate: list[Run]) -> list[tuple[float, float]]:
    """(reference, candidate) final accuracy of each seed both have, in the candidate's order."""
    by_seed = {r.seed: r.final_accuracy for r in reference}
    return [(by_seed[r.seed], r.final_accuracy) for r in candidate if r.seed in by_seed]


def paired_effect(pairs: list[tuple[float, float]]) -> effects.Effect:
    """candidate - reference in final accuracy over `pairs` (same_seeds): the paired t interval
    of the per-seed differences, with the paired TOST p at the summary's margin."""
    before, after = [b for b, _ in pairs], [a for _, a in pairs]
    interval = statistics.paired_interval(before, after) if pairs else None
    return effects.Effect(
        effects.FINAL,
        "final_accuracy",
        interval,
        (len(pairs), len(pairs)),
        tost_p=None if interval is None else interval.tost_p(ACCURACY_MARGIN),
        margin=ACCURACY_MARGIN,
    )


def _same(pairs: list[tuple[float, float]]) -> str:
    diffs = [after - before for before, after in pairs]
    if not diffs:
        return ""
    return f"{sum(d == 0 for d in diffs)} of {len(diffs)} equal, largest {max(diffs, key=abs):+.4f}"


def _shown(check: Check, reference: dict, candidate: dict) -> list[str]:
    return [e for e in check.experiments if e in reference and e in candidate]


def compare(check: Check, reference: dict[str, list[Run]], candidate: dict[str, list[Run]]) -> str:
    """The comparison's markdown table, one row per experiment both directories hold."""
    ref, cand = check.reference_name, check.candidate_name
    header = (
        f"| experiment | seeds {ref} / {cand} / both | final accuracy, {ref} | final accuracy, "
        f"{cand} | {cand} - {ref}, paired (95% CI) | paired TOST p (margin {ACCURACY_MARGIN}) | "
        f"verdict | finding | same seed, {cand} - {ref} | "
        + " | ".join(f"iterations to {t:.0%}: RMST, {ref} / {cand}" for t in THRESHOLDS)
        + " |"
    )
    lines = [header, "|" + " --- |" * (9 + len(THRESHOLDS))]
    for experiment in _shown(check, reference, candidate):
        ours, theirs = candidate[experiment], reference[experiment]
        pairs = same_seeds(theirs, ours)
        effect = paired_effect(pairs)
        verdict = claims.no_difference_verdict(experiment, effect, claims.AGREES)
        p = "" if effect.tost_p is None else effects.p_text(effect.tost_p)
        cells = [
            f"`{experiment}`",
            f"{len(theirs)} / {len(ours)} / {effect.n[0]}",
            Spread.of([r.final_accuracy for r in theirs]).ci_text(),
            Spread.of([r.final_accuracy for r in ours]).ci_text(),
            f"{effect.effect_text()} ({effect.ci_text()})",
            p,
            claims.AGREEMENT_WORDS[verdict.outcome],
            verdict.note,
            _same(pairs),
            *(f"{_steps(theirs, t)} / {_steps(ours, t)}" for t in THRESHOLDS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(
    check: Check, reference: dict[str, list[Run]], candidate: dict[str, list[Run]]
) -> Figure:
    """Mean test-accuracy curves of both sides, one panel per experiment."""
    shown = _shown(check, reference, candidate)
    columns = min(len(shown), 3)
    rows = -(-len(shown) // columns)
    fig = Figure(figsize=(4.2 * columns, 3.8 * rows), layout="constrained")
    for ax, experiment in zip(np.ravel(fig.subplots(rows, columns, squeeze=False)), shown):
        drawn = []
        for label, runs, color in (
            (check.reference_name, reference[experiment], "tab:blue"),
            (check.candidate_name, candidate[experiment], "tab:red"),
        ):
            curve = curves.mean_curve(runs)
            drawn.append(curve)
            curves.draw_curve(
                ax, curve, curve.steps > 0, f"{label}, {len(runs)} seeds", color=color
            )
        ax.set_xscale("log")
        ax.set_ylim(0.9, 1.0)
        model, bn = experiment.removesuffix("_bn"), experiment.endswith("_bn")
        name = curves.NETWORKS.get(model, model)
        ax.set_title(f"{name}, {'with' if bn else 'without'} BN", fontsize=9)
        ax.set_xlabel("training iterations")
        ax.set_ylabel("test accuracy")
        ax.grid(True, which="both", alpha=0.3)
        title = curves.legend_title(drawn)
        ax.legend(loc="lower right", fontsize=7, title=title, title_fontsize=6)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", choices=sorted(CHECKS), required=True)
    parser.add_argument("--reference", type=Path, default=Path("results"))
    parser.add_argument("--candidate", type=Path, required=True)
    args = parser.parse_args()
    check = CHECKS[args.check]
    reference = _runs(args.reference, check.is_reference)
    candidate = _runs(args.candidate, check.is_candidate)
    command = (
        f"python scripts/same_seed_check.py --check={args.check} --reference={args.reference} "
        f"--candidate={args.candidate}"
    )
    text = f"# {check.title}\n\n`{command}`\n\n{compare(check, reference, candidate)}\n"
    (args.candidate / "comparison.md").write_text(text)
    figure(check, reference, candidate).savefig(args.candidate / "curves.png", dpi=110)
    print(text)


if __name__ == "__main__":
    main()
