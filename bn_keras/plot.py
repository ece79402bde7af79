"""Rebuilds the figures, summary.md and summary.csv from run directories.

python -m bn_keras.plot results/ [--command="./run_all.sh"] [--total_wall_time="9h 12m"]

Its flags are PlotOptions' (bn_keras/config/commands.py, listed in docs/flags.md). It prints the
verdicts of the summary it wrote, once, and last the summary's path.
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from bn_keras.common import cli
from bn_keras.common.errors import ConfigError
from bn_keras.config import flags as config_flags
from bn_keras.config.commands import PlotOptions
from bn_keras.reporting.figures import rebuild

config_flags.define_flags(PlotOptions)
flags.adopt_module_key_flags(config_flags)  # --help lists them as plot's own


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise ConfigError(
            "give the results directory, as one argument: python -m bn_keras.plot results/"
        )
    options = config_flags.from_flags(PlotOptions)
    results_dir = Path(argv[1])
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


if __name__ == "__main__":
    cli.run(main, flags_parser=config_flags.parse_flags)
