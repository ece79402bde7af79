"""Do FastBatchNormalization's full runs stay within the seed noise of Keras's BatchNormalization?

Reads the finished Keras runs of `--keras` (results/: runs whose config.json lacks bn_impl, or
says keras) and of `--fast` (runs with bn_impl fast), and for each BN experiment in both writes
the final test accuracy of each (mean, 95% CI), the difference fast - Keras with its Welch
interval and TOST at the summary's 0.002 margin, the iterations to 98% and 99%, and a figure of
the mean curves with their bands:

    python scripts/bn_impl_check.py --keras=results --fast=results/bn_impl_fast

Writes `<fast>/comparison.md` and `<fast>/curves.png`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from bn_keras.reporting import claims, figures
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
    reached = [s for s in (run.first_step_reaching(threshold) for run in runs) if s is not None]
    never = len(runs) - len(reached)
    mean = f"{np.mean(reached):.0f}" if reached else "-"
    return mean + (f" ({never} never)" if never else "")


def _paired(keras_runs: list[Run], fast_runs: list[Run]) -> str:
    """Same seed, same initial weights and batches: the per-seed differences of final accuracy."""
    keras_by_seed = {r.seed: r.final_accuracy for r in keras_runs}
    diffs = [r.final_accuracy - keras_by_seed[r.seed] for r in fast_runs if r.seed in keras_by_seed]
    if not diffs:
        return ""
    same = sum(d == 0 for d in diffs)
    return f"{len(diffs)} seeds: {same} equal, largest {max(diffs, key=abs):+.4f}"


def compare(keras_runs: dict[str, list[Run]], fast_runs: dict[str, list[Run]]) -> str:
    header = (
        "| experiment | seeds Keras / fast | final accuracy, Keras BN | final accuracy, fast BN | "
        "fast - Keras (95% CI) | TOST p (margin 0.002) | verdict | same seed, fast - Keras | "
        + " | ".join(f"mean iterations to {t:.0%}, Keras / fast" for t in THRESHOLDS)
        + " |"
    )
    lines = [header, "|" + " --- |" * (8 + len(THRESHOLDS))]
    for experiment in EXPERIMENTS:
        if experiment not in keras_runs or experiment not in fast_runs:
            continue
        ours, theirs = fast_runs[experiment], keras_runs[experiment]
        effect = claims.accuracy_effect(
            claims.FINAL,
            [r.final_accuracy for r in theirs],
            [r.final_accuracy for r in ours],
        )
        verdict = claims.no_difference_verdict(experiment, effect, claims.AGREES)
        p = "" if effect.tost_p is None else claims.p_text(effect.tost_p)
        cells = [
            f"`{experiment}`",
            f"{len(theirs)} / {len(ours)}",
            Spread.of([r.final_accuracy for r in theirs]).ci_text(),
            Spread.of([r.final_accuracy for r in ours]).ci_text(),
            f"{effect.effect_text()} ({effect.ci_text()})",
            p,
            claims.AGREEMENT_WORDS[verdict.outcome],
            _paired(theirs, ours),
            *(f"{_steps(theirs, t)} / {_steps(ours, t)}" for t in THRESHOLDS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def figure(keras_runs: dict[str, list[Run]], fast_runs: dict[str, list[Run]]) -> Figure:
    shown = [e for e in EXPERIMENTS if e in keras_runs and e in fast_runs]
    fig = Figure(figsize=(4.2 * len(shown), 3.8), layout="constrained")
    for ax, experiment in zip(np.atleast_1d(fig.subplots(1, len(shown))), shown):
        for label, runs, color in (
            ("Keras BatchNormalization", keras_runs[experiment], "tab:blue"),
            ("FastBatchNormalization", fast_runs[experiment], "tab:red"),
        ):
            curve = figures.mean_curve(runs)
            keep = curve.steps > 0
            ax.plot(
                curve.steps[keep],
                curve.mean[keep],
                color=color,
                label=f"{label}, {len(runs)} seeds",
            )
            ax.fill_between(
                curve.steps[keep], curve.low[keep], curve.high[keep], color=color, alpha=0.2, lw=0
            )
        ax.set_xscale("log")
        ax.set_ylim(0.9, 1.0)
        ax.set_title(experiment, fontsize=9)
        ax.set_xlabel("training iterations")
        ax.set_ylabel("test accuracy")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=7, title=figures.BAND_TEXT, title_fontsize=6)
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
