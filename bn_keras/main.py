"""Command line: `python -m bn_keras.main --model=lenetr --bn` or `--flagfile=flags/NAME.flags`.

The flags are the fields of Config and CommandOptions (bn_keras/config/settings.py, listed in
docs/flags.md); bn_keras.engines.dispatch does the rest.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up chatter quiet

from absl import flags  # noqa: E402

from bn_keras.common import cli  # noqa: E402
from bn_keras.common.errors import ConfigError  # noqa: E402
from bn_keras.config import flags as config_flags  # noqa: E402
from bn_keras.config.settings import CommandOptions, Config  # noqa: E402
from bn_keras.engines import dispatch  # noqa: E402

config_flags.define_flags(Config, CommandOptions)
flags.adopt_module_key_flags(config_flags)  # --helpshort lists them as main's own


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise ConfigError(f"unexpected arguments {argv[1:]}: all settings are --flags")
    dispatch.run_main(config_flags.from_flags(Config), config_flags.from_flags(CommandOptions))


def run() -> None:
    """Console-script entry point (`bn-keras`)."""
    cli.run(main, flags_parser=config_flags.parse_flags, tensorflow=True)


if __name__ == "__main__":
    run()
