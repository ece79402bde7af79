"""`python -m bn_keras.main --seeds=...`: a stack's input checked before TensorFlow loads, then
the stack trained (bn_keras.training.stacked).

TensorFlow-free, as bn_keras.engines.dispatch, which hands it `--seeds`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from absl import logging

from bn_keras.common import cli
from bn_keras.common.errors import ConfigError, Interrupted
from bn_keras.common.storage import write_errors_reported
from bn_keras.config import checks, settings, sizes
from bn_keras.config.seeds import check_stackable, parse_seeds, seed_run_dirs, stack_dir_name
from bn_keras.runs import run_dir


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
    check_stackable(config, flag)
    sizes.check_fits(config, len(seeds))
    return seeds


def seed_paths(
    config: settings.Config, options: settings.CommandOptions, seeds: tuple[int, ...]
) -> list[Path]:
    """Each seed's run directory, checked as a single run's would be, creating nothing.

    Raises:
        ConfigError: a seed's directory holds a finished run, another run, or a single run's
            checkpoint (resume it alone), unless --overwrite.
    """
    checks.check_directory(options.results_dir, "--results_dir")
    if config.data_dir is not None:
        checks.check_directory(config.data_dir, "--data_dir", writable=False)
    paths = seed_run_dirs(config, seeds, Path(options.results_dir))
    for seed, path in zip(seeds, paths, strict=True):
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
        run_dir.check_run_dir(path, dataclasses.replace(config, seed=seed), options.overwrite)
    return paths


def start_stack(
    config: settings.Config,
    options: settings.CommandOptions,
    install_stop_handlers: Callable[[list[Path]], tuple],
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
    stop, received = install_stop_handlers([stack_path, *paths])
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
