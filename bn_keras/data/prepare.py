"""Prepares a dataset and prints where it came from: `python -m bn_keras.data.prepare
--dataset=NAME [--dataset_source=auto|tfds|offline] [--data_dir=DIR] [--dataset_files=DIR]`.

The sweep runs this once, in its own process, before its runs start in parallel (they would
otherwise all prepare it at once, one at a time under the preparation's lock), so that the sweep
itself never loads TensorFlow. A failure ends in one `bn_keras: error:` line and exit status 1.
"""

from __future__ import annotations

import dataclasses

from bn_keras.common import cli
from bn_keras.common.errors import ConfigError
from bn_keras.config import datasets, fields
from bn_keras.config import flags as config_flags
from bn_keras.config.fields import like
from bn_keras.config.settings import Config


@dataclasses.dataclass(frozen=True)
class PrepareOptions:
    """`python -m bn_keras.data.prepare`: a dataset prepared where the runs will read it."""

    dataset: str = like(Config, "dataset")
    dataset_source: str = like(Config, "dataset_source")
    data_dir: str | None = like(Config, "data_dir")
    dataset_files: str | None = like(Config, "dataset_files")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments {argv[1:]}: all settings are --flags")
    options = config_flags.from_flags(PrepareOptions)
    fields.check_fields(options)
    dataset = datasets.get(options.dataset)
    from bn_keras.data import preparation  # TensorFlow loads once the input is accepted

    print(
        preparation.ensure(dataset, options.data_dir, options.dataset_source, options.dataset_files)
    )


if __name__ == "__main__":
    config_flags.define_flags(PrepareOptions)
    cli.run(main, flags_parser=config_flags.parse_flags, tensorflow=True)
