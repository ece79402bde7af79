"""Rebuilds the figures, summary.md and summary.csv from run directories.

python -m bn_keras.plot results/ [--command="./run_all.sh"] [--total_wall_time="9h 12m"]
python -m bn_keras.plot results/why [--command="python -m bn_keras.sweep --why"]

Its flags are PlotOptions' (bn_keras/config/commands.py, listed in docs/flags.md). It prints the
verdicts of the summary it wrote, once, and last the summary's path. A directory whose runs are
all arms of the explanation grid (bn_keras/experiments/grid.py) gets that grid's summary,
figures and verdicts (bn_keras/reporting/why/why.py), and for the grid's own results/why also
docs/why.md's verdict block.
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from bn_keras.common import cli
from bn_keras.common.errors import ConfigError
from bn_keras.config import flags as config_flags
from bn_keras.config.commands import PlotOptions
from bn_keras.experiments import grid
from bn_keras.experiments.jobs import REPO
from bn_keras.reporting.paper.figures import rebuild
from bn_keras.reporting.why import why
from bn_keras.runs.reader import Run, load_runs, one_dataset

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
    if is_grid(results_dir):
        why_main(results_dir, options.command, options.total_wall_time)
        return
    try:
        summary, paths = rebuild(results_dir, options.command, options.total_wall_time)
    except (FileNotFoundError, NotADirectoryError) as err:
        cli.fail(str(err), 1)
    for run in summary.unfinished:
        print(f"unfinished, left out: {run.run_dir.name}")
    print(f"wrote {len(paths)} files into {results_dir}")
    for verdict in summary.verdicts:
        print(verdict.line)
    print(f"summary: {results_dir / 'summary.md'}")


def is_grid(results_dir: Path) -> bool:
    """`results_dir` holds run directories, and every one is an arm of the explanation grid."""
    names = {arm.name for arm in grid.arms(list(grid.EXPERIMENTS))}
    found = [p.name for p in results_dir.glob("*_seed*") if p.is_dir()]
    return bool(found) and all(name.rsplit("_seed", 1)[0] in names for name in found)


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
    runs = load_runs(results_dir)
    experiments = grid_experiments(runs)
    chance = one_dataset(runs).chance_accuracy
    command = "python -m bn_keras.sweep --why"
    design = why.Design(grid.SEEDS, grid.TRAIN_STEPS, grid.WELL_TRAINED, command, chance)
    own = results_dir.resolve() == (REPO / grid.RESULTS_DIR).resolve()
    page = REPO / "docs" / "why.md" if own else None
    return why.rebuild(results_dir, runs, experiments, design, command, total_wall_time, page)


def why_main(results_dir: Path, command: str | None, total_wall_time: str | None) -> None:
    result, paths = why_rebuild(results_dir, command, total_wall_time)
    print(f"wrote {len(paths)} files into {results_dir}")
    for verdict in result.verdicts:
        print(verdict.line)
    print(f"summary: {results_dir / why.SUMMARY_FILE}")


if __name__ == "__main__":
    cli.run(main, flags_parser=config_flags.parse_flags)
