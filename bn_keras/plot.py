"""Rebuilds the figures, summary.md and summary.csv from run directories.

python -m bn_keras.plot results/ [--command="./run_all.sh"] [--total_wall_time="9h 12m"]
python -m bn_keras.plot results/why [--command="python -m bn_keras.sweep --why"]
python -m bn_keras.plot results/probes
python -m bn_keras.plot results/confirm   (and results/confirm_pilot: its power table)

Its flags are PlotOptions' (bn_keras/config/commands.py, listed in docs/flags.md). It prints the
verdicts of the summary it wrote, once, and last the summary's path. A directory whose runs are
all arms of the explanation grid (bn_keras/experiments/grid.py) gets that grid's summary,
figures and verdicts (bn_keras/reporting/why/why.py), and for the grid's own results/why also
docs/why.md's verdict block; one whose runs all hold the probes' files gets the probes' table
and figures (bn_keras/reporting/probes/, as `python -m bn_keras.probes.plot`). A directory
whose subdirectories are named for datasets (results/confirm/mnist, .../fashion_mnist) is the
confirmatory grid's (bn_keras/experiments/confirm.py): one summary of its contrasts across the
datasets, Holm over all of them; runs without the design's hash (a pilot) are read the same way,
as exploratory, with the power table that fixed the design's seeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from absl import flags

from bn_keras.common import cli, tables
from bn_keras.common.errors import ConfigError
from bn_keras.config import datasets
from bn_keras.config import flags as config_flags
from bn_keras.config.commands import PlotOptions
from bn_keras.experiments import confirm, grid
from bn_keras.experiments.jobs import REPO
from bn_keras.reporting import rebuild as rebuild_lib
from bn_keras.reporting.paper.figures import rebuild
from bn_keras.reporting.probes import probe_figures
from bn_keras.reporting.why import confirm_report, power, why
from bn_keras.runs.reader import Run, one_dataset
from bn_keras.runs.run_dir import ACTIVATIONS_FILE

config_flags.define_flags(PlotOptions)
flags.adopt_module_key_flags(config_flags)  # --help lists them as plot's own


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise ConfigError(
            "give the results directory, as one argument: python -m bn_keras.plot results/"
        )
    options = config_flags.from_flags(PlotOptions)
    results_dir = Path(argv[1])
    if results_dir.exists() and not results_dir.is_dir():
        raise ConfigError(
            f"{results_dir} is a file, not a directory: give the directory that holds the run "
            "directories, e.g. python -m bn_keras.plot results/"
        )
    rebuild_tree(results_dir, options.command, options.total_wall_time)


def rebuild_tree(results_dir: Path, command: str | None, wall: str | None) -> None:
    """Rebuilds the summary and figures that answer the tree (the explanation grid's, the
    probes' or the paper's) and prints what it wrote, the verdicts and the summary's path."""
    try:
        if is_confirm_tree(results_dir):
            paths, verdicts = confirm_rebuild(results_dir)
        elif is_grid(results_dir):
            result, paths = why_rebuild(results_dir, command, wall)
            verdicts = [verdict.line for verdict in result.verdicts]
        elif is_probe_tree(results_dir):
            paths, verdicts = probe_figures.rebuild(results_dir, command, wall), []
        else:
            summary, paths = rebuild(results_dir, command, wall)
            for run in summary.unfinished:
                print(f"unfinished, left out: {run.run_dir.name}")
            verdicts = [verdict.line for verdict in summary.verdicts]
    except (FileNotFoundError, NotADirectoryError) as err:
        cli.fail(str(err), 1)
    print(f"wrote {len(paths)} files into {results_dir}")
    for line in verdicts:
        print(line)
    print(f"summary: {results_dir / rebuild_lib.SUMMARY_FILE}")


def _run_dirs(results_dir: Path) -> list[Path]:
    return [p for p in results_dir.glob("*_seed*") if p.is_dir()]


def is_grid(results_dir: Path) -> bool:
    """`results_dir` holds run directories, and every one is an arm of the explanation grid."""
    names = {arm.name for arm in grid.arms(list(grid.EXPERIMENTS))}
    found = [p.name for p in _run_dirs(results_dir)]
    return bool(found) and all(name.rsplit("_seed", 1)[0] in names for name in found)


def is_confirm_tree(results_dir: Path) -> bool:
    """`results_dir` holds no runs itself, and subdirectories named for declared datasets whose
    runs are all arms of the confirmatory grid (results/fashion_mnist beside the MNIST runs of
    results/ is not one)."""
    if _run_dirs(results_dir):
        return False
    names = {arm.name for arm in confirm.arms()}
    found = [p.name for name in datasets.DATASETS for p in _run_dirs(results_dir / name)]
    return bool(found) and all(name.rsplit("_seed", 1)[0] in names for name in found)


def confirm_rebuild(results_dir: Path) -> tuple[list[Path], list[str]]:
    """The confirmatory grid's summary.md (and, for runs without the design, the pilot's power
    table); returns the files written and the verdict lines."""
    grids, contrasts, designed, waiting = {}, [], [], []
    for name in datasets.DATASETS:
        directory = results_dir / name
        if not _run_dirs(directory):
            waiting.append(name)
            continue
        runs = rebuild_lib.read_runs(directory)
        designed += [bool(run.record.get("design")) for run in runs]
        seeds_from = confirm.FIRST_SEED if all(designed) else None
        labels = _test_labels(directory, one_dataset(runs))
        grids[name] = confirm_report.read_grid(directory, confirm.selectors(seeds_from), labels)
        contrasts += confirm.report_contrasts(name)
    design = REPO / confirm.DESIGN if all(designed) else None
    if design is not None:
        # The family is the design's, both datasets, also while one has no runs yet.
        for name in (n for n in confirm.MARGINS if n in waiting):
            no_runs = {arm.name: confirm_report.Arm(arm.name, ()) for arm in confirm.arms()}
            grids[name] = confirm_report.Grid(
                datasets.DATASETS.lookup(name), {a: [] for a in no_runs}, no_runs, 0, None
            )
            contrasts += confirm.report_contrasts(name)
    planned = confirm.planned_runs() if design else None
    text = confirm_report.summary_text(
        contrasts, grids, design, _commit_of(confirm.DESIGN), planned_runs=planned
    )
    if not any(designed):
        header, rows = power.design_rows(contrasts, grids, family_size=2 * len(contrasts))
        text += "\n".join(
            [
                "## Power for the design (from these runs)",
                "",
                "Each test one-sided at Holm's strictest level (0.05 / the family's p-values); "
                "present at a true C of 2m, small at a true C of 0; seed SDs each at least the "
                "pooled SD of this dataset's arms whose runs all trained; the image-sampling SE "
                "from these runs' predictions, their seed noise removed.",
                "",
                *tables.table(header, rows, compact=True),
                "",
            ]
        )
    path = results_dir / rebuild_lib.SUMMARY_FILE
    written = [rebuild_lib.write_text(path, text)]
    verdicts = [line for line in text.splitlines() if line.startswith("| ") and "**" in line]
    return written, verdicts


def _test_labels(directory: Path, dataset) -> np.ndarray:
    """The test labels in the test set's order: `test_labels.npy` beside the runs, written from
    the prepared dataset the first time (so that a clone rebuilds without the dataset)."""
    path = directory / "test_labels.npy"
    if not path.is_file():
        from bn_keras.data import preparation

        labels = preparation.load(dataset, None).test_labels.astype(np.uint8)
        np.save(path, labels, allow_pickle=False)
    return np.load(path, allow_pickle=False)


def _commit_of(path: Path) -> str | None:
    """The commit that added `path` (git), or None outside a git checkout."""
    import subprocess

    found = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%h %cI", "--", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = found.stdout.strip().splitlines()
    return lines[-1] if found.returncode == 0 and lines else None


def is_probe_tree(results_dir: Path) -> bool:
    """`results_dir` holds run directories, and every one holds the probes' activations."""
    found = _run_dirs(results_dir)
    return bool(found) and all((p / ACTIVATIONS_FILE).is_file() for p in found)


def grid_experiments(runs: list[Run]) -> dict[str, why.Experiment]:
    """The grid's experiments read from `runs`: per series, its levels (grid.levels)."""
    return {
        e.name: why.Experiment(
            e.name,
            e.factor,
            e.scale,
            tuple((s.label, tuple(grid.levels(s, runs))) for s in e.series),
        )
        for e in grid.EXPERIMENTS.values()
    }


def why_rebuild(
    results_dir: Path, command: str | None = None, total_wall_time: str | None = None
) -> tuple[why.Answer, list[Path]]:
    """The grid's summary, figures and verdicts (and docs/why.md's block for results/why)."""
    runs = rebuild_lib.read_runs(results_dir)
    experiments = grid_experiments(runs)
    chance = one_dataset(runs).chance_accuracy
    command = "python -m bn_keras.sweep --why"
    design = why.Design(grid.SEEDS, grid.TRAIN_STEPS, grid.WELL_TRAINED, command, chance)
    own = results_dir.resolve() == (REPO / grid.RESULTS_DIR).resolve()
    page = REPO / "docs" / "why.md" if own else None
    answer, paths = why.rebuild(
        results_dir, runs, experiments, design, command, total_wall_time, page
    )
    return answer, [*paths, _reread_by_confirmatory_rule(results_dir, runs)]


def _reread_by_confirmatory_rule(results_dir: Path, runs: list[Run]) -> Path:
    """The grid re-read by the confirmatory design's rule (docs/why_design.md), seeds only (its
    runs have no predictions): reread.md beside its summary. Exploratory."""
    dataset = one_dataset(runs).name
    contrasts = confirm.exploratory_contrasts(dataset)
    arms = {name for c in contrasts for name in c.arms}
    selectors = {name: (lambda run, n=name: run.experiment == n) for name in arms}
    grids = {dataset: confirm_report.read_grid(results_dir, selectors)}
    text = confirm_report.summary_text(contrasts, grids).replace(
        "# Confirmatory contrasts of BN's effect",
        "# The explanation grid re-read by the confirmatory rule (exploratory, seeds only)",
        1,
    )
    return rebuild_lib.write_text(results_dir / "reread.md", text)


if __name__ == "__main__":
    cli.run(main, flags_parser=config_flags.parse_flags)
