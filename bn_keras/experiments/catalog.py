"""Every experiment the sweep runs, as one type: its name, the flags that define it, what the
reports do with it, and its configuration resolved in this process.

The paper's pairs and the longer extras are the flagfiles of flags/ (a flagfile is the user's
design card), the probe experiments those of flags/probes/, and the explanation grid's arms are
declared in bn_keras/experiments/grid.py; all are read into `Experiment`. A configuration is
resolved one way: bn_keras.main's flags parsed and validated here, without TensorFlow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from absl import flags

from bn_keras.common import cli
from bn_keras.config import flags as config_flags
from bn_keras.config.names import PAPER_EXPERIMENTS
from bn_keras.config.settings import CommandOptions, Config

REPO = Path(__file__).resolve().parents[2]
FLAG_DIR, PROBE_DIR = "flags", "flags/probes"
NOT_EXPERIMENTS = ("recipe", "smoke")  # flagfiles that are included by others or only a check
# What the reports do with an experiment's runs.
PAPER = "paper"  # the claims, the paper's figures, and the twin's runs beside Keras's
EXTRA = "extra"  # a figure of its pair, and the paper's own numbers where it has them
PROBES = "probes"  # the probe table and figures (bn_keras/reporting/probes/probe_table.py)
WHY = "why"  # the explanation grid's trends and verdicts (bn_keras/reporting/why/why.py)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """Runs of one network and recipe over seeds, `<name>_seed<seed>` each.

    Attributes:
        name: the experiment's name, its runs' prefix.
        args: bn_keras.main's flags that define it (a flagfile, or the grid's recipe and an
            arm's flags), relative to the repository.
        kind: PAPER, EXTRA, PROBES or WHY: what the reports do with it.
    """

    name: str
    args: tuple[str, ...]
    kind: str

    def config(self, extra: Sequence[str] = ()) -> dict:
        """Its configuration with `extra` flags after its own (see `resolve`)."""
        return resolve([*self.args, *extra])


def resolve(args: Sequence[str]) -> dict:
    """The configuration bn_keras.main would run with `args` (as its --print_config prints it),
    validated, parsed in this process.

    Raises:
        ConfigError: the flags give an invalid configuration.
    """
    flag_values = flags.FlagValues()
    config_flags.define_flags(Config, CommandOptions, flag_values=flag_values)
    # Flagfiles are named relative to the repository, where the sweep runs bn_keras.main.
    absolute = [a.replace("--flagfile=", f"--flagfile={REPO}/", 1) for a in args]
    flag_values(["resolve", *absolute])
    config = config_flags.from_flags(Config, flag_values)
    config.validate()
    return config.to_dict()


def flagfile_names(flag_dir: str = FLAG_DIR) -> list[str]:
    """Every experiment flagfile's name in `flag_dir`: the paper's first, then the others by
    name."""
    names = sorted(p.stem for p in (REPO / flag_dir).glob("*.flags"))
    others = [n for n in names if n not in PAPER_EXPERIMENTS and n not in NOT_EXPERIMENTS]
    return [e for e in PAPER_EXPERIMENTS if e in names] + others


def from_flagfile(name: str, flag_dir: str = FLAG_DIR) -> Experiment:
    """The experiment of flagfile `<flag_dir>/<name>.flags`.

    Raises:
        SystemExit: there is no such flagfile (one error line).
    """
    path = REPO / flag_dir / f"{name}.flags"
    if not path.is_file():
        raise SystemExit(cli.error_line(f"no flagfile {path} for experiment {name!r}"))
    kind = PAPER if name in PAPER_EXPERIMENTS else EXTRA
    args = (f"--flagfile={flag_dir}/{name}.flags",)
    return Experiment(name, args, PROBES if flag_dir == PROBE_DIR else kind)
