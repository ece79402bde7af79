"""Prepares MNIST and prints where it came from: `python -m bn_keras.data.prepare [DATA_DIR]`.

The sweep runs this once, in its own process, before its runs start in parallel (they would
otherwise all prepare it at once, one at a time under input_pipeline's lock), so that the sweep
itself never loads TensorFlow. A failure ends in one `bn_keras: error:` line and exit status 1.
"""

from __future__ import annotations

from bn_keras.common import cli
from bn_keras.common.errors import ConfigError


def main(argv: list[str]) -> None:
    if len(argv) > 2:
        raise ConfigError("give at most one argument, the TFDS data directory")
    from bn_keras.data import input_pipeline  # TensorFlow loads once the input is accepted

    print(input_pipeline.ensure_mnist(argv[1] if len(argv) == 2 else None))


if __name__ == "__main__":
    cli.run(main, tensorflow=True)
