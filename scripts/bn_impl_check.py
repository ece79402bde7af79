"""Do FastBatchNormalization's full runs stay within the seed noise of Keras's BatchNormalization?

Reads the finished Keras runs of `--keras` (results/: runs whose config.json lacks bn_impl, or
says keras) and of `--fast` (runs with bn_impl fast), and for each BN experiment in both writes
the final test accuracy of each (mean, 95% CI), the difference fast - Keras over the seeds both
ran (the same seed starts from the same weights and batches, so the comparison is paired: a t
interval of the per-seed differences and a paired TOST at the summary's 0.002 margin), the
iterations to each threshold, and a figure of the curves:

    python scripts/bn_impl_check.py --keras=results --fast=results/bn_impl_fast

Writes `<fast>/comparison.md` and `<fast>/curves.png`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bn_keras.reporting import claims, curves, effects, statistics
from bn_keras.reporting.statistics import ACCURACY_MARGIN
from bn_keras.reporting.summary import Run, Spread, group_by_experiment, load_runs

EXPERIMENTS = ("mlp_bn", "lenet_bn", "lenetr_bn")
THRESHOLDS = (0.97, 0.98, 0.99)


def _runs(results_dir: Path, implementation: str) -> dict[str, list[Run]]:
    runs = [
        run
        for run in load_runs(results_dir)
        if run.finished
        and run.framework == "keras"
        and run.record["config"].get("bn_impl", "keras") == implementation
    ]
    return group_by_experiment(runs)


def _steps(runs: list[Run], threshold: float) -> str:
    """The RMST at train_steps and how many seeds reached the threshold, e.g. "1267 (3/3)"."""
    values, reached = effects.restricted_iterations(runs, threshold)
    return f"{np.mean(values):.0f} ({reached}/{len(runs)})"


def paired_effect(keras_runs: list[Run], fast_runs: list[Run]) -> effects.Effect:
    """fast - Keras in final accuracy over the seeds both have: the paired t interval of the
    per-seed differences, with the paired TOST p at the summary's margin."""
    keras_by_seed = {r.seed: r.final_accuracy for r in keras_runs}
    both = [r for r in fast_runs if r.seed in keras_by_seed]
    pairs = [(keras_by_seed[r.seed], r.final_accuracy) for r in both]
    keras, fast = [k for k, _ in pairs], [f for _, f in pairs]
    interval = statistics.paired_interval(keras, fast) if pairs else None
    return effects.Effect(
        effects.FINAL,
        "final_accuracy",
        interval,
        (len(pairs), len(pairs)),
        tost_p=None if interval is None else interval.tost_p(ACCURACY_MARGIN),
        margin=ACCURACY_MARGIN,
    )


def _same(keras_runs: list[Run], fast_runs: list[Run]) -> str:
    keras_by_seed = {r.seed: r.final_accuracy for r in keras_runs}
    diffs = [r.final_accuracy - keras_by_seed[r.seed] for r in fast_runs if r.seed in keras_by_seed]
    if not diffs:
        return ""
    return f"{sum(d == 0 for d in diffs)} of {len(diffs)} equal, largest {max(diffs, key=abs):+.4f}"


def compare(keras_runs: dict[str, list[Run]], fast_runs: dict[str, list[Run]]) -> str:
    header = (
        "| experiment | seeds Keras / fast / both | final accuracy, Keras BN | final accuracy, "
        "fast BN | fast - Keras, paired (95% CI) | paired TOST p (margin 0.002) | verdict | "
        "finding | same seed, fast - Keras | "
        + " | ".join(f"iterations to {t:.0%}: RMST, Keras / fast" for t in THRESHOLDS)
        + " |"
    )
    lines = [header, "|" + " --- |" * (9 + len(THRESHOLDS))]
    for experiment in EXPERIMENTS:
        if experiment not in keras_runs or experiment not in fast_runs:
            continue
        ours, theirs = fast_runs[experiment], keras_runs[experiment]
        effect = paired_effect(theirs, ours)
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
            _same(theirs, ours),
            *(f"{_steps(theirs, t)} / {_steps(ours, t)}" for t in THRESHOLDS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(keras_runs: dict[str, list[Run]], fast_runs: dict[str, list[Run]]) -> Figure:
    shown = [e for e in EXPERIMENTS if e in keras_runs and e in fast_runs]
    fig = Figure(figsize=(4.2 * len(shown), 3.8), layout="constrained")
    for ax, experiment in zip(np.atleast_1d(fig.subplots(1, len(shown))), shown):
        drawn = []
        for label, runs, color in (
            ("Keras BatchNormalization", keras_runs[experiment], "tab:blue"),
            ("FastBatchNormalization", fast_runs[experiment], "tab:red"),
        ):
            curve = curves.mean_curve(runs)
            drawn.append(curve)
            label = f"{label}, {len(runs)} seeds"
            curves.draw_curve(ax, curve, curve.steps > 0, label, color=color)
        ax.set_xscale("log")
        ax.set_ylim(0.9, 1.0)
        model = experiment.removesuffix("_bn")
        ax.set_title(f"{curves.NETWORKS.get(model, model)}, with BN", fontsize=9)
        ax.set_xlabel("training iterations")
        ax.set_ylabel("test accuracy")
        ax.grid(True, which="both", alpha=0.3)
        title = curves.legend_title(drawn)
        ax.legend(loc="lower right", fontsize=7, title=title, title_fontsize=6)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keras", type=Path, default=Path("results"))
    parser.add_argument("--fast", type=Path, default=Path("results/bn_impl_fast"))
    args = parser.parse_args()
    keras_runs, fast_runs = _runs(args.keras, "keras"), _runs(args.fast, "fast")
    table = compare(keras_runs, fast_runs)
    text = (
        "# FastBatchNormalization against Keras's BatchNormalization, full paper runs\n\n"
        f"`python scripts/bn_impl_check.py --keras={args.keras} --fast={args.fast}`\n\n"
        + table
        + "\n"
    )
    (args.fast / "comparison.md").write_text(text)
    figure(keras_runs, fast_runs).savefig(args.fast / "curves.png", dpi=110)
    print(text)


if __name__ == "__main__":
    main()
