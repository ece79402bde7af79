"""Rebuilds the figures, summary.md and summary.csv from run directories.

python -m bn_keras.plot results/ [--command="./run_all.sh"] [--total_wall_time="9h 12m"]
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from bn_keras.common import cli
from bn_keras.common.errors import ConfigError
from bn_keras.reporting.figures import rebuild

cli.define_provenance_flags()
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise ConfigError(
            "give the results directory, as one argument: python -m bn_keras.plot results/"
        )
    results_dir = Path(argv[1])
    try:
        summary, paths = rebuild(results_dir, FLAGS.command, FLAGS.total_wall_time)
    except (FileNotFoundError, NotADirectoryError) as err:
        cli.fail(str(err), 1)
    for verdict in summary.verdicts:
        print(verdict.line)
    for run in summary.unfinished:
        print(f"unfinished, left out: {run.run_dir.name}")
    print(f"wrote {len(paths)} files into {results_dir}")


if __name__ == "__main__":
    cli.run(main)
