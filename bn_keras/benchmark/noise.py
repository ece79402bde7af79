"""Is a timing noisy? CPU-quota throttling of the process's cgroup and the load average around it.

Standard library only: the PyTorch worker imports it too. Each worker process takes a `snapshot`
before and after every timing (its own cgroup, which may differ from the parent's), and `compare`
turns the two into the figures the benchmark reports and the verdict it flags:
    - throttling: `nr_throttled` grew in `cpu.stat` (cgroup v2: `throttled_usec`; v1:
      `throttled_time` in ns). Throttling of an ancestor cgroup is not visible from here.
    - other processes: the CPU time the whole machine spent busy during the timing (/proc/stat,
      hypervisor steal included) minus this process's own (os.times), per second of wall time.
      Above OTHERS_LIMIT cores, something else competed for the CPUs during this timing. For
      timings run side by side in several worker processes, `side_by_side` counts all of
      theirs as the benchmark's own.
    - the 1-minute load average, before and after: reported, not a verdict. It counts this
      process's own runnable threads too (TensorFlow's pool and tf.data's), so a benchmark alone
      on 2 CPUs shows 2-3, and it lags by a minute.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Where cgroup v1 mounts the cpu controller, and where hybrid systems mount cgroup v2.
_V1_CPU_DIRS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")
_V2_DIRS = ("", "unified")
OTHERS_LIMIT = 0.2  # cores of CPU time used by other processes, averaged over a timing
# /proc/stat's "cpu" line: the fields that count as busy (user, nice, system, irq, softirq, steal).
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What is read before or after a timing; the throttle counters are None when unreadable."""

    nr_throttled: int | None
    throttled_usec: float | None
    load1: float
    busy_s: float | None = None  # the machine's busy CPU seconds so far (None: unreadable)
    own_s: float = 0.0  # this process's CPU seconds so far
    wall_s: float = 0.0  # a monotonic clock


def cpu_stat_candidates(proc_cgroup: str, root: Path = CGROUP_ROOT) -> list[Path]:
    """The `cpu.stat` files that may hold this process's throttle counters, most specific first.

    Args:
        proc_cgroup: the text of /proc/self/cgroup ("hierarchy:controllers:path" lines).
        root: where the cgroup filesystems are mounted.
    """
    v1, v2 = [], []
    for line in proc_cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        relative = path.lstrip("/")
        if hierarchy == "0" and controllers == "":
            v2 += [root / d / relative / "cpu.stat" for d in _V2_DIRS]
        elif "cpu" in controllers.split(","):
            v1 += [root / d / relative / "cpu.stat" for d in _V1_CPU_DIRS]
    return v1 + v2


def parse_cpu_stat(text: str) -> tuple[int, float] | None:
    """(nr_throttled, throttled microseconds) from a cgroup v1 or v2 `cpu.stat`; None without them.

    cgroup v2 reports `throttled_usec`, v1 `throttled_time` in nanoseconds. A v2 root cgroup's
    file has neither (no quota can apply there), and then this returns None.
    """
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            fields[key] = int(value)
    if "nr_throttled" not in fields:
        return None
    if "throttled_usec" in fields:
        return fields["nr_throttled"], float(fields["throttled_usec"])
    if "throttled_time" in fields:
        return fields["nr_throttled"], fields["throttled_time"] / 1000.0
    return None


def read_throttle(
    root: Path = CGROUP_ROOT, proc_cgroup_path: Path = Path("/proc/self/cgroup")
) -> tuple[int, float] | None:
    """This process's cgroup throttle counters, from the first candidate file that has them.

    Args:
        root: where the cgroup filesystems are mounted.
        proc_cgroup_path: the file naming this process's cgroups.
    """
    try:
        proc_cgroup = Path(proc_cgroup_path).read_text()
    except OSError:
        return None
    for path in cpu_stat_candidates(proc_cgroup, root):
        try:
            parsed = parse_cpu_stat(path.read_text())
        except OSError:
            continue
        if parsed is not None:
            return parsed
    return None


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, else the CPU count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_proc_stat(text: str, ticks_per_s: float) -> float | None:
    """The machine's busy CPU seconds (all CPUs, steal included) from /proc/stat's text."""
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            values = [int(v) for v in fields[1:]]
            return sum(values[i] for i in _BUSY_FIELDS if i < len(values)) / ticks_per_s
    return None


def read_busy_seconds(path: Path = Path("/proc/stat")) -> float | None:
    """The machine's busy CPU seconds so far; None where /proc/stat cannot be read."""
    try:
        return parse_proc_stat(Path(path).read_text(), os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, AttributeError):
        return None


def snapshot() -> Snapshot:
    """Reads the throttle counters, the load average and the CPU-time counters now."""
    throttle = read_throttle()
    nr, usec = throttle if throttle is not None else (None, None)
    own = os.times()
    return Snapshot(
        nr_throttled=nr,
        throttled_usec=usec,
        load1=os.getloadavg()[0],
        busy_s=read_busy_seconds(),
        own_s=own.user + own.system,
        wall_s=time.monotonic(),
    )


def compare(before: Snapshot, after: Snapshot, cpus: int) -> dict:
    """What happened to one timing, as sent in a worker's reply.

    Returns:
        throttled_periods and throttled_ms (None when the counters could not be read),
        load_before, load_after, cpus, busy_cpu_s (the machine's busy CPU time, None when
        unreadable), own_cpu_s (this process's), wall_s, other_cores (the CPU time of other
        processes per second, None when unreadable), and the verdicts `throttled` and `loaded`
        (other_cores above OTHERS_LIMIT).
    """
    readable = before.nr_throttled is not None and after.nr_throttled is not None
    periods = after.nr_throttled - before.nr_throttled if readable else None
    millis = (after.throttled_usec - before.throttled_usec) / 1000.0 if readable else None
    wall = after.wall_s - before.wall_s
    busy = None
    if before.busy_s is not None and after.busy_s is not None and wall > 0:
        busy = after.busy_s - before.busy_s
    check = {
        "throttled_periods": periods,
        "throttled_ms": millis,
        "load_before": before.load1,
        "load_after": after.load1,
        "cpus": cpus,
        "busy_cpu_s": busy,
        "own_cpu_s": after.own_s - before.own_s,
        "wall_s": wall,
        "throttled": bool(periods),
    }
    return _with_others(check, check["own_cpu_s"])


def _with_others(check: dict, ours_s: float) -> dict:
    """`check` with other_cores and the verdict `loaded`, counting `ours_s` CPU seconds as ours."""
    others = None
    if check.get("busy_cpu_s") is not None and check.get("wall_s", 0) > 0:
        others = max(0.0, check["busy_cpu_s"] - ours_s) / check["wall_s"]
    return {**check, "other_cores": others, "loaded": others is not None and others > OTHERS_LIMIT}


def side_by_side(checks: list[dict]) -> dict:
    """One check for timings that ran at the same moment in several of the benchmark's processes:
    each process's, with the others' CPU time counted as the benchmark's own (not as other
    processes'), then merged: throttled or loaded where any was, the most other cores and the
    highest load seen, the throttled periods and time summed (None where one was unreadable)."""
    ours = sum(check.get("own_cpu_s", 0.0) for check in checks)
    each = [_with_others(check, ours) for check in checks]

    def total(key: str):
        values = [check[key] for check in each]
        return None if None in values else sum(values)

    others = [check["other_cores"] for check in each if check["other_cores"] is not None]
    return {
        **each[0],
        "throttled_periods": total("throttled_periods"),
        "throttled_ms": total("throttled_ms"),
        "load_before": max(check["load_before"] for check in each),
        "load_after": max(check["load_after"] for check in each),
        "cpus": max(check["cpus"] for check in each),
        "own_cpu_s": ours,
        "other_cores": max(others) if others else None,
        "throttled": any(check["throttled"] for check in each),
        "loaded": any(check["loaded"] for check in each),
    }
