"""`--seeds` of `python -m bn_keras.main`: the seeds trained together as one stack."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path

from bn_keras.common.errors import ConfigError
from bn_keras.config.names import experiment_name
from bn_keras.config.settings import Config

MAX_STACK = 32  # seeds per stack: beyond it the stack gains no speed and multiplies memory
_PART = re.compile(r"^([0-9]+)(?:-([0-9]+))?$")
_SEED_LIMIT = 2**32  # as --seed: NumPy and TensorFlow seeds are unsigned 32-bit
_UNSUPPORTED = {  # settings a stack refuses, and why in a word
    "probe_every": "probes",
    "landscape_every": "probes",
    "fold_bn_eval": "folded evaluation",
    "record_divergence": "one seed's divergence would end every seed's run",
    "eval_train": "the training set's evaluation",
    "save_predictions": "the test set's predicted classes",
}


def parse_seeds(text: str) -> tuple[int, ...]:
    """The seeds of `--seeds`: ranges and single seeds separated by commas, e.g. `0-9`, `0,2,5`.

    Raises:
        ConfigError: malformed, a range running downward, a seed repeated or out of range, or
            more than MAX_STACK seeds.
    """
    flag = f"--seeds={text if len(text) <= 40 else text[:40] + '...'!r}"
    seeds: list[int] = []
    for part in text.split(","):
        match = _PART.match(part.strip())
        if not match:
            raise ConfigError(f"{flag} is not a list of seeds: use a range and/or seeds, e.g. 0-9")
        if max(len(digits.lstrip("0")) for digits in match.groups("")) > len(str(_SEED_LIMIT)):
            # Not read as a number: Python refuses to convert more than 4,300 digits.
            raise ConfigError(f"{flag}: seeds must be below 2**32, as --seed's")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise ConfigError(f"{flag}: the range {part.strip()} runs downward; write {high}-{low}")
        if high >= _SEED_LIMIT:
            raise ConfigError(f"{flag}: seeds must be below 2**32, as --seed's")
        count = len(seeds) + high - low + 1
        if count > MAX_STACK:
            raise ConfigError(
                f"{flag} names {count} seeds; a stack holds at most {MAX_STACK}: train them as "
                f"several stacks, e.g. --seeds=0-{MAX_STACK - 1} then --seeds={MAX_STACK}-..."
            )
        seeds.extend(range(low, high + 1))
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise ConfigError(f"{flag} names seed {repeated[0]} twice: name each seed once")
    return tuple(seeds)


def seeds_label(seeds: tuple[int, ...]) -> str:
    """The seeds written compactly, ranges joined: (0, 1, 2, 5) -> `0-2,5`."""
    parts, start = [], 0
    for i in range(1, len(seeds) + 1):
        if i == len(seeds) or seeds[i] != seeds[i - 1] + 1:
            low, high = seeds[start], seeds[i - 1]
            parts.append(str(low) if low == high else f"{low}-{high}")
            start = i
    return ",".join(parts)


def stack_dir_name(config: Config, seeds: tuple[int, ...]) -> str:
    """The stack's own directory (its checkpoint): `<model>[_bn]_stack_seeds<seeds>`."""
    return f"{experiment_name(config.model, config.bn)}_stack_seeds{seeds_label(seeds)}"


def seed_run_dirs(config: Config, seeds: Sequence[int], results_dir: Path) -> list[Path]:
    """Each seed's run directory: where a single run of that seed would go by default."""
    return [Path(results_dir) / dataclasses.replace(config, seed=s).default_run_name for s in seeds]


def check_stackable(config: Config, flag: str = "--seeds") -> None:
    """Refuses the settings a stack does not support.

    Raises:
        ConfigError: probes, folded evaluation, recorded divergence, the training set's
            evaluation, saved predictions, the PyTorch twin, or several workers.
    """
    if config.framework != "keras":
        raise ConfigError(f"--framework={config.framework} trains one seed a process: drop {flag}")
    if config.strategy in ("multi_worker", "tpu"):
        raise ConfigError(f"--strategy={config.strategy} is not supported with {flag}")
    for name, what in _UNSUPPORTED.items():
        if getattr(config, name):
            raise ConfigError(f"--{name} ({what}) is not supported with {flag}: drop one of them")
