"""The benchmark's noise check on fake cgroup files and load values: verdicts, CSV, tables."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bn_keras.benchmark import noise
from bn_keras.benchmark import report as bench_report

V2_STAT = "usage_usec 900\nnr_periods 40\nnr_throttled 3\nthrottled_usec 2500\nnr_bursts 0\n"
V2_ROOT_STAT = "usage_usec 1754424780\nuser_usec 1511511495\nsystem_usec 242913284\n"
V1_STAT = "nr_periods 12\nnr_throttled 2\nthrottled_time 7000000\nnr_bursts 0\nburst_time 0\n"
# A hybrid machine (this one): v1 controllers, the v2 hierarchy mounted at .../unified.
HYBRID_CGROUP = "4:memory:/process_api/abc\n2:cpuacct:/\n1:cpu:/box\n0::/\n"


def test_parse_reads_v2_and_v1_counters():
    assert noise.parse_cpu_stat(V2_STAT) == (3, 2500.0)
    assert noise.parse_cpu_stat(V1_STAT) == (2, 7000.0)  # throttled_time is in ns
    assert noise.parse_cpu_stat(V2_ROOT_STAT) is None  # a v2 root cgroup has no quota


def test_candidates_follow_the_process_cgroup(tmp_path):
    paths = noise.cpu_stat_candidates(HYBRID_CGROUP, tmp_path)
    assert paths[0] == tmp_path / "cpu" / "box" / "cpu.stat"  # v1's cpu controller first
    assert tmp_path / "unified" / "cpu.stat" in paths
    assert tmp_path / "memory" / "process_api" / "abc" / "cpu.stat" not in paths
    v2_only = noise.cpu_stat_candidates("0::/user.slice/job\n", tmp_path)
    assert v2_only[0] == tmp_path / "user.slice" / "job" / "cpu.stat"


def _fake_cgroups(tmp_path: Path, proc_cgroup: str, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    proc = tmp_path / "proc_self_cgroup"
    proc.write_text(proc_cgroup)
    return proc


def test_read_throttle_skips_files_without_counters(tmp_path):
    proc = _fake_cgroups(
        tmp_path,
        "1:cpu:/box\n0::/\n",
        {"unified/cpu.stat": V2_ROOT_STAT, "cpu/box/cpu.stat": V1_STAT},
    )
    assert noise.read_throttle(tmp_path, proc) == (2, 7000.0)
    proc = _fake_cgroups(tmp_path / "v2", "0::/\n", {"unified/cpu.stat": V2_ROOT_STAT})
    assert noise.read_throttle(tmp_path / "v2", proc) is None


def _snap(nr, usec, load, busy=None, own=0.0, wall=0.0):
    return noise.Snapshot(
        nr_throttled=nr, throttled_usec=usec, load1=load, busy_s=busy, own_s=own, wall_s=wall
    )


@pytest.mark.parametrize(
    ("before", "after", "throttled", "loaded", "periods", "millis"),
    [
        # Alone: the machine's busy time is this process's own (plus 0.05 cores of background).
        (_snap(3, 2500.0, 0.5, 10, 0, 0), _snap(3, 2500.0, 2.9, 12, 1.95, 1), False, False, 0, 0.0),
        (_snap(3, 2500.0, 0.5, 10, 0, 0), _snap(5, 9500.0, 1.0, 12, 2, 1), True, False, 2, 7.0),
        # Another process took 0.5 cores for the 2 s of the timing.
        (_snap(3, 2500.0, 1.0, 10, 0, 0), _snap(3, 2500.0, 1.0, 15, 4, 2), False, True, 0, 0.0),
        (_snap(None, None, 0.1), _snap(None, None, 0.1), False, False, None, None),
    ],
)
def test_compare_gives_the_verdicts(before, after, throttled, loaded, periods, millis):
    check = noise.compare(before, after, cpus=2)
    assert check["throttled"] is throttled and check["loaded"] is loaded
    assert check["throttled_periods"] == periods and check["throttled_ms"] == millis


def test_proc_stat_busy_time_counts_steal_and_not_idle():
    line = "cpu  100 5 20 9000 30 1 2 7 0 0\ncpu0 50 2 10 4500 15 0 1 3 0 0\n"
    # user + nice + system + irq + softirq + steal, in ticks of 1/100 s; idle and iowait not.
    assert noise.parse_proc_stat(line, 100) == pytest.approx(1.35)
    assert noise.parse_proc_stat("intr 5\n", 100) is None
    if Path("/proc/stat").is_file():  # Linux: the machine has been busy since it booted
        assert noise.read_busy_seconds() > 0
    assert noise.read_busy_seconds(Path("/nonexistent/stat")) is None


OPTION = type("Option", (), {"worker": "tf", "variant": "v", "description": ""})


def _check(throttled_ms: float, others: float, load: float = 1.0) -> dict:
    """A timing of 1 s during which other processes used `others` cores."""
    return noise.compare(
        _snap(0, 0.0, load, busy=0.0),
        _snap(int(throttled_ms > 0), throttled_ms * 1e3, 0, busy=1.0 + others, own=1.0, wall=1.0),
        2,
    )


def _records(default_checks: list[dict]) -> list[dict]:
    clean = [{"seconds": 1.0, "noise": _check(0, 0.0)} for _ in default_checks]
    timings = {
        "plain": clean,
        "default": [{"seconds": 0.5, "noise": c} for c in default_checks],
    }
    return [
        bench_report.summarize("mlp", n, OPTION, 100, timings, "plain", "default") for n in timings
    ]


def test_noisy_timings_are_counted_and_marked(tmp_path):
    plain, default = _records([_check(0, 0.0), _check(40.0, 0.1), _check(0, 0.75, load=3.5)])
    assert (plain["flagged"], plain["throttled_reps"], plain["loaded_reps"]) == (False, 0, 0)
    assert (default["flagged"], default["throttled_reps"], default["loaded_reps"]) == (True, 1, 1)
    assert default["throttled_ms"] == 40.0 and default["max_load"] == 3.5
    assert default["max_other_cores"] == pytest.approx(0.75)
    text = bench_report.tables([plain, default], {**CONTEXT, "torch": ""})
    assert "| `mlp` | 100 | 200* |" in text
    assert "| 2.00x (1.00x)* |" in text  # the ratio rests on a flagged timing
    assert (
        "1 of 2 measurements flagged" in text
        and "1 timings during which other processes used more than 0.2 cores" in text
    )
    assert "1 timings CPU-throttled by the cgroup quota (40 ms in all)" in text
    bench_report.write_csv(tmp_path / "bench.csv", [plain, default], CONTEXT)
    rows = bench_report.read_csv(tmp_path / "bench.csv")
    assert [(r["flagged"], r["throttled_reps"], r["loaded_reps"]) for r in rows] == [
        ("False", "0", "0"),
        ("True", "1", "1"),
    ]


def test_clean_run_says_so():
    records = _records([_check(0, 0.05, load=2.8), _check(0, 0.1, load=1.2)])
    text = bench_report.tables(records, {**CONTEXT, "torch": ""})
    assert "*" not in text.replace("**", "")
    assert "Noise check: no figure flagged; 0 timings CPU-throttled" in text
    assert "other processes used at most 0.10 cores during a timing" in text
    assert "highest 1-minute load average 2.8 (this benchmark's threads included)" in text


def test_replies_without_checks_are_not_flagged():
    summary = bench_report.noise_summary([{"seconds": 1.0}])
    assert summary["flagged"] is False and math.isnan(summary["throttled_ms"])


CONTEXT = {
    "date": "2026-01-01",
    "wall_s": 1,
    "command": "python -m bn_keras.bench",
    "machine": "test",
    "cpu": "a CPU",
    "cpu_features": "avx2 fma",
    "tensorflow": "2",
    "keras": "3",
    "torch": "",
    "torch_threads": "",
    "reps": 3,
}
