"""Rebuilds the probes' figures and summary.md from probed run directories.

python -m bn_keras.probes.plot results/probes [--command="./run_all.sh --probes"]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bn_keras.reporting import probe_table as table
from bn_keras.reporting.probe_figures import rebuild


def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m bn_keras.probes.plot",
        description="Rebuild the probe figures and summary.md from probed run directories.",
    )
    parser.add_argument("results_dir", type=Path, help="the probe runs' results directory")
    parser.add_argument("--command", help="the command that produced the results")
    parser.add_argument("--total_wall_time", help="the wall time of the command, as free text")
    args = parser.parse_args(argv)
    try:
        paths = rebuild(args.results_dir, args.command, args.total_wall_time)
    except (FileNotFoundError, NotADirectoryError) as err:
        print(f"bn_keras: error: {err}", file=sys.stderr)
        return 1
    print((args.results_dir / table.SUMMARY_FILE).read_text())
    print(f"wrote {len(paths)} files into {args.results_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
