"""What the PyTorch twin can run: settings it refuses, settings it ignores, torch itself.

Imports neither torch nor TensorFlow, so the command line can refuse a run before loading either.
"""

from __future__ import annotations

import importlib.util

from bn_keras.common.errors import ConfigError
from bn_keras.config import networks
from bn_keras.config.settings import Config

FRAMEWORK = "pytorch"
CPU_WHEEL_COMMAND = "pip install torch --index-url https://download.pytorch.org/whl/cpu"
ONE_PROCESS_STRATEGIES = ("auto", "default", "one_device")
_DEFAULTS = Config().to_dict()


def require_torch() -> None:
    """Raises ConfigError, saying how to install the CPU wheel, when torch is not importable."""
    if importlib.util.find_spec("torch") is None:
        raise ConfigError(
            f"--framework={FRAMEWORK} needs PyTorch, which is not installed: {CPU_WHEEL_COMMAND} "
            "(CPU wheel), or pip install -e '.[torch]'"
        )


def check_supported(config: Config) -> None:
    """Raises ConfigError naming the first setting that would change what a twin run measures
    and that the twin cannot honour (it trains in one process, eagerly, without probes)."""
    if networks.get(config.model).torch is None:
        raise ConfigError(
            f"--framework={FRAMEWORK} has no {config.model}: its declaration "
            "(bn_keras/config/networks.py) names no torch builder"
        )
    if config.strategy not in ONE_PROCESS_STRATEGIES or config.devices:
        raise ConfigError(
            f"--framework={FRAMEWORK} trains in one process on the CPU: use --strategy=auto "
            f"(not --strategy={config.strategy!r}, --devices={config.devices!r})"
        )
    if config.init != "pytorch":
        raise ConfigError(
            f"--framework={FRAMEWORK} uses PyTorch's default init only: drop --init={config.init}"
        )
    factors = ("width", "mlp_depth", "activation", "optimizer", "record_divergence")
    changed = [f"--{name}" for name in factors if getattr(config, name) != _DEFAULTS[name]]
    if changed:
        raise ConfigError(
            f"--framework={FRAMEWORK} has the paper's six networks and Adadelta only: drop "
            f"{', '.join(changed)}"
        )
    if config.probe_every or config.landscape_every:
        raise ConfigError(
            f"--framework={FRAMEWORK} has no probes: drop --probe_every and --landscape_every"
        )
    recorded = [name for name in ("eval_train", "save_predictions") if getattr(config, name)]
    if recorded:
        raise ConfigError(
            f"--framework={FRAMEWORK} records test-set metrics only: drop "
            f"{', '.join(f'--{name}' for name in recorded)}, or train with --framework=keras"
        )
    require_torch()


def ignored_settings(config: Config) -> dict[str, str]:
    """The settings a twin run leaves aside, each with the reason; config.json records them.

    None of them changes the numbers a run measures (see settings.RESULT_NEUTRAL).
    """
    ignored = {
        "steps_per_execution": "eager PyTorch: one optimizer step per Python call",
        "jit_compile": "eager PyTorch: no XLA",
    }
    if config.export:
        ignored["export"] = "no SavedModel or model.keras: the twin exports no model"
    return ignored
