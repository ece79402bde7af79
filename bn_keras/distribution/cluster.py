"""TF_CONFIG, read and written without TensorFlow: which task this process is in a cluster.

The command line validates TF_CONFIG here before TensorFlow loads, and the launcher writes it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence

from bn_keras.common.errors import ConfigError

TASK_TYPES = ("chief", "worker")


@dataclasses.dataclass(frozen=True)
class ClusterTask:
    """This process's place in a multi-worker cluster.

    Attributes:
        task_type: "chief" or "worker".
        index: the task's index among the tasks of its type.
        num_tasks: chief and workers together; each runs one training process.
        has_chief: the cluster has a "chief" task (else worker 0 is the chief).
    """

    task_type: str
    index: int
    num_tasks: int
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """The task that writes the run's shared files: the chief, else worker 0."""
        if self.has_chief:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.index == 0

    @property
    def name(self) -> str:
        """`worker_1`, `chief_0`: the directory name of a non-chief task's own files."""
        return f"{self.task_type}_{self.index}"


def parse_tf_config(text: str) -> ClusterTask:
    """Validates a TF_CONFIG value and returns the task it names.

    Raises:
        ConfigError: malformed JSON, a missing or empty cluster, bad addresses, or a task that
            is not in the cluster.
    """

    def bad(problem: str) -> ConfigError:
        return ConfigError(
            f"TF_CONFIG {problem}: it must look like "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
            '"task": {"type": "worker", "index": 0}}'
        )

    try:
        spec = json.loads(text)
    except ValueError:
        raise bad("is not valid JSON") from None
    if not isinstance(spec, dict):
        raise bad("is not a JSON object")
    cluster, task = spec.get("cluster"), spec.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise bad('has no "cluster" object')
    for job, addresses in cluster.items():
        if job not in TASK_TYPES and job not in ("ps", "evaluator"):
            raise bad(f"has an unknown job {job!r} (bn_keras uses {TASK_TYPES})")
        if job in ("ps", "evaluator"):
            raise bad(f"has a {job!r} job, which MultiWorkerMirroredStrategy does not use")
        if not _valid_addresses(addresses):
            raise bad(f'lists bad addresses for "{job}": use a list of "host:port" strings')
    if not isinstance(task, dict):
        raise bad('has no "task" object')
    task_type, index = task.get("type"), task.get("index")
    if task_type not in cluster:
        raise bad(f"names task type {task_type!r}, which is not in the cluster")
    if not isinstance(index, int) or isinstance(index, bool):
        raise bad(f"has task index {index!r}, which is not an integer")
    if not 0 <= index < len(cluster[task_type]):
        raise bad(f'has task index {index}, outside the {len(cluster[task_type])} "{task_type}"')
    if len(cluster.get("chief", [])) > 1:
        raise bad("lists more than one chief")
    return ClusterTask(
        task_type, index, sum(len(a) for a in cluster.values()), has_chief="chief" in cluster
    )


def _valid_addresses(addresses: object) -> bool:
    if not isinstance(addresses, list) or not addresses:
        return False
    for address in addresses:
        if not isinstance(address, str):
            return False
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            return False
    return True


def current_task(environ: Mapping[str, str]) -> ClusterTask | None:
    """The task TF_CONFIG in `environ` names, or None when TF_CONFIG is unset or empty.

    Raises:
        ConfigError: TF_CONFIG is set but malformed.
    """
    text = environ.get("TF_CONFIG", "").strip()
    return parse_tf_config(text) if text else None


def names_several_tasks(environ: Mapping[str, str]) -> bool:
    """Whether TF_CONFIG in `environ` describes a cluster of several training processes.

    Raises:
        ConfigError: TF_CONFIG is set but malformed.
    """
    task = current_task(environ)
    return task is not None and task.num_tasks > 1


def make_tf_config(addresses: Sequence[str], index: int) -> str:
    """TF_CONFIG for worker `index` of a cluster of workers at `addresses` (worker 0 is chief)."""
    return json.dumps(
        {"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}}
    )
