"""Rebuilds the probes' figures and summary.md from probed run directories.

python -m bn_keras.probes.plot results/probes [--command="./run_all.sh --probes"]
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from bn_keras.common import cli
from bn_keras.common.errors import ConfigError
from bn_keras.config import flags as config_flags
from bn_keras.config.commands import PlotOptions
from bn_keras.reporting.probes import probe_table
from bn_keras.reporting.probes.probe_figures import rebuild

config_flags.define_flags(PlotOptions)
flags.adopt_module_key_flags(config_flags)
FLAGS = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise ConfigError(
            "give the results directory, as one argument: "
            "python -m bn_keras.probes.plot results/probes"
        )
    results_dir = Path(argv[1])
    try:
        paths = rebuild(results_dir, FLAGS.command, FLAGS.total_wall_time)
    except (FileNotFoundError, NotADirectoryError) as err:
        cli.fail(str(err), 1)
    print((results_dir / probe_table.SUMMARY_FILE).read_text())
    print(f"wrote {len(paths)} files into {results_dir}")


if __name__ == "__main__":
    cli.run(main)
