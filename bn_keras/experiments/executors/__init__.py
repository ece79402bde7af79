"""Where the sweep's jobs run: the local process pool or a Ray cluster, behind one interface
(`base.Executor`), chosen by name."""

from __future__ import annotations

from pathlib import Path

from bn_keras.common.errors import ConfigError
from bn_keras.config.commands import EXECUTORS, SweepOptions
from bn_keras.experiments.executors.base import Executor


def check(options: SweepOptions) -> None:
    """Refuses, before anything is planned, an executor that cannot start: for Ray, Ray not
    installed or no cluster answering at --ray_address.

    Raises:
        ConfigError: one line naming the setting and the remedy.
    """
    if options.executor == "ray":
        from bn_keras.experiments.executors import ray_executor

        ray_executor.check(options.ray_address)


def make(options: SweepOptions, results_dir: Path) -> Executor:
    """The executor `options.executor` names: `local` (--jobs processes on this machine) or `ray`
    (a task per job on the cluster at --ray_address, connected here).

    Raises:
        ConfigError: an unknown name; for Ray, Ray missing or no cluster at the address.
    """
    if options.executor == "local":
        from bn_keras.experiments.executors.local import LocalPool

        return LocalPool(options.jobs)
    if options.executor == "ray":
        from bn_keras.experiments.executors.ray_executor import RayExecutor

        return RayExecutor(
            results_dir,
            options.ray_address,
            options.ray_results,
            options.ray_ship_every_s,
            options.ray_retries,
        )
    raise ConfigError(f"--executor={options.executor}: use one of {', '.join(EXECUTORS)}")
