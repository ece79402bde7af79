"""Prepares a dataset and prints where it came from:
`python -m bn_keras.data.prepare DATASET SOURCE [--data_dir=DIR] [--dataset_files=DIR]`.

The sweep runs this once, in its own process, before its runs start in parallel (they would
otherwise all prepare it at once, one at a time under the preparation's lock), so that the sweep
itself never loads TensorFlow. A failure ends in one `bn_keras: error:` line and exit status 1.
"""

from __future__ import annotations

from bn_keras.common import cli
from bn_keras.common.errors import ConfigError
from bn_keras.config import datasets

_OPTIONS = ("--data_dir=", "--dataset_files=")


def main(argv: list[str]) -> None:
    positional = [a for a in argv[1:] if not a.startswith(_OPTIONS)]
    options = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in argv[1:] if a.startswith(_OPTIONS)}
    if len(positional) != 2:
        raise ConfigError("give the dataset and the source, then --data_dir= or --dataset_files=")
    dataset = datasets.get(positional[0])
    from bn_keras.data import preparation  # TensorFlow loads once the input is accepted

    files = options.get("--dataset_files")
    print(preparation.ensure(dataset, options.get("--data_dir"), positional[1], files))


if __name__ == "__main__":
    cli.run(main, tensorflow=True)
