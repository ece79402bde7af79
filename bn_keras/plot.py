"""Rebuilds the figures, summary.md and summary.csv from run directories.

python -m bn_keras.plot results/ [--command="./run_all.sh"] [--total_wall_time="9h 12m"]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bn_keras.reporting.figures import rebuild


def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bn_keras.plot",
        description="Rebuild the figures, summary.md and summary.csv from run directories.",
    )
    parser.add_argument("results_dir", type=Path, help="the sweep's results directory")
    parser.add_argument("--command", help="the command that produced the results")
    parser.add_argument("--total_wall_time", help="the wall time of the command, as free text")
    args = parser.parse_args(argv)
    try:
        summary, paths = rebuild(args.results_dir, args.command, args.total_wall_time)
    except (FileNotFoundError, NotADirectoryError) as err:
        print(f"bn_keras: error: {err}", file=sys.stderr)
        return 1
    for verdict in summary.verdicts:
        print(verdict.line)
    for run in summary.unfinished:
        print(f"unfinished, left out: {run.run_dir.name}")
    print(f"wrote {len(paths)} files into {args.results_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
