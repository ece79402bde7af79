"""`python -m bn_keras.main --seeds=...`: a stack's input checked before TensorFlow loads, then
the stack trained (bn_keras.training.stacked)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from absl import logging

from bn_keras.common import cli
from bn_keras.common.errors import ConfigError, Interrupted
from bn_keras.common.storage import write_errors_reported
from bn_keras.config import checks, settings
from bn_keras.config.fields import check_field
from bn_keras.config.seeds import parse_seeds, seeds_label
from bn_keras.runs import run_dir

_UNSUPPORTED = {  # settings a stack refuses, and why in a word
    "probe_every": "probes",
    "landscape_every": "probes",
    "fold_bn_eval": "folded evaluation",
}


def check_command_options(options: settings.CommandOptions) -> None:
    """Refuses a CommandOptions value outside its field's bounds (`--threads=-1`).

    Raises:
        ConfigError: naming the flag.
    """
    for field in dataclasses.fields(options):
        check_field(field, getattr(options, field.name))


def stack_dir_name(config: settings.Config, seeds: tuple[int, ...]) -> str:
    """The stack's own directory (its checkpoint): `<model>[_bn]_stack_seeds<seeds>`."""
    return f"{config.model}{'_bn' if config.bn else ''}_stack_seeds{seeds_label(seeds)}"


def check_stackable(config: settings.Config, flag: str = "--seeds") -> None:
    """Refuses the settings a stack does not support.

    Raises:
        ConfigError: probes, folded evaluation, the PyTorch twin, or several workers.
    """
    if config.framework != "keras":
        raise ConfigError(f"--framework={config.framework} trains one seed a process: drop {flag}")
    if config.strategy in ("multi_worker", "tpu"):
        raise ConfigError(f"--strategy={config.strategy} is not supported with {flag}")
    for name, what in _UNSUPPORTED.items():
        if getattr(config, name):
            raise ConfigError(f"--{name} ({what}) is not supported with {flag}: drop one of them")


def check_stack(config: settings.Config, options: settings.CommandOptions) -> tuple[int, ...]:
    """The seeds of `--seeds`, once the stack's settings are accepted.

    Raises:
        ConfigError: bad `--seeds`, `--seed` or `--run_name` given too, or a setting stacks
            do not support.
    """
    seeds = parse_seeds(options.seeds)
    flag = f"--seeds={options.seeds}"
    if config.seed != 0:
        raise ConfigError(f"--seed={config.seed} and {flag}: give one of them")
    if options.run_name is not None:
        raise ConfigError(
            f"--run_name names one run; {flag} writes each seed to <model>[_bn]_seed<s>: drop it"
        )
    if config.framework != "keras":
        raise ConfigError(
            f"--framework={config.framework} trains one seed per process: drop {flag}"
        )
    if config.strategy in ("multi_worker", "tpu"):
        raise ConfigError(f"--strategy={config.strategy} is not supported with {flag}")
    for name, what in _UNSUPPORTED.items():
        if getattr(config, name):
            raise ConfigError(f"--{name} ({what}) is not supported with {flag}: drop one of them")
    return seeds


def seed_paths(
    config: settings.Config, options: settings.CommandOptions, seeds: tuple[int, ...]
) -> list[Path]:
    """Each seed's run directory, checked as a single run's would be, creating nothing.

    Raises:
        ConfigError: a seed's directory holds a finished run, another run, or a single run's
            checkpoint (resume it alone), unless --overwrite.
    """
    results_dir = Path(options.results_dir)
    checks.check_directory(options.results_dir, "--results_dir")
    if config.data_dir is not None:
        checks.check_directory(config.data_dir, "--data_dir", writable=False)
    paths = []
    for seed in seeds:
        seed_config = dataclasses.replace(config, seed=seed)
        path = results_dir / seed_config.default_run_name
        if not options.overwrite:
            if (path / run_dir.RESULT_FILE).exists():
                raise ConfigError(
                    f"--seeds={options.seeds}: {path} holds a finished run of seed {seed}: leave "
                    "it out of --seeds, or pass --overwrite to train every seed of the stack again"
                )
            if (path / run_dir.CHECKPOINT_DIR).exists():
                raise ConfigError(
                    f"--seeds={options.seeds}: {path} holds an unfinished single run of seed "
                    f"{seed}: finish it with --seed={seed}, leave it out, or pass --overwrite"
                )
        run_dir.check_run_dir(path, seed_config, options.overwrite)
        paths.append(path)
    return paths


def start_stack(
    config: settings.Config,
    options: settings.CommandOptions,
    install_stop_handlers: Callable[[], tuple],
) -> None:
    """Checks, locks every directory of the stack, then trains (or resumes) it.

    Raises:
        ConfigError: see `check_stack` and `seed_paths`.
        Interrupted: SIGINT or SIGTERM stopped the stack after a checkpoint.
    """
    seeds = check_stack(config, options)
    paths = seed_paths(config, options, seeds)
    stack_path = Path(options.results_dir) / stack_dir_name(config, seeds)
    if options.dry_run:
        print(json.dumps({**config.to_dict(), "seeds": list(seeds)}, indent=2, sort_keys=True))
        return
    with write_errors_reported():
        for path in [stack_path, *paths]:
            run_dir.lock(path)  # held until this process exits
            if options.overwrite:
                run_dir.clear(path)
    cli.keep_tracebacks_in(stack_path / run_dir.ERROR_LOG_FILE)
    stop, received = install_stop_handlers()
    from bn_keras.training import cpu_threads  # TensorFlow loads for valid input
    from bn_keras.training.stacked import train_stack

    cpu_threads.set_intra_op_threads(options.threads)
    with write_errors_reported():
        result = train_stack(config, seeds, Path(options.results_dir), stop_request=stop)
    if result.interrupted_at is not None:
        raise Interrupted(
            f"interrupted at iteration {result.interrupted_at}, checkpoint saved in "
            f"{stack_path}: run the same command again to resume",
            received[0],
        )
    for run in result.runs:
        logging.info(
            "Done: %s, %d iterations in %.1f s, final test accuracy %.4f",
            run.run_dir,
            run.steps,
            run.train_seconds,
            run.final_test_accuracy,
        )
