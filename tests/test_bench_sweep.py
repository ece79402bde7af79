"""The benchmark's sweep section: side-by-side timings, seed-steps/s, the PyTorch ratios and the
1.5x goal, bn_keras's stack in its worker and PyTorch's torch.func ensemble."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from bn_keras.benchmark import noise, protocol, sweep, sweep_report
from bn_keras.benchmark import report as bench_report

# A worker that answers "time" by sleeping `steps` milliseconds (standard library only: quick).
_SLEEPER = """
import json, sys, time
from bn_keras.benchmark import protocol
replies = protocol.reserve_stdout()
def handle(command):
    time.sleep(command["steps"] / 1000)
    return {"steps": command["steps"]}
protocol.serve(handle, {"name": sys.argv[1]}, replies)
"""


def test_workers_called_together_run_side_by_side(tmp_path):
    workers = [
        protocol.Worker(name, [sys.executable, "-c", _SLEEPER, name], {}, tmp_path / f"{name}.log")
        for name in ("a", "b")
    ]
    try:
        assert [w.wait_ready() for w in workers] == [{"name": "a"}, {"name": "b"}]
        replies = protocol.call_together(workers, "time", steps=300)
        again = workers[0].call("time", steps=10)  # the protocol is still in step
    finally:
        for worker in workers:
            worker.close()
    (a0, a1), (b0, b1) = (reply["span"] for reply in replies)
    # Each began before the other ended: they overlapped (one after the other would not).
    assert b0 < a1 and a0 < b1
    assert a1 - a0 >= 0.3 and b1 - b0 >= 0.3
    assert again["steps"] == 10 and "noise" in again
    # The figure: all seed-steps over the span from the first start to the last end.
    span = max(a1, b1) - min(a0, b0)
    assert sweep.seed_steps_per_s(replies, 300, 5) == pytest.approx(5 * 600 / span)


def _check(own_s: float, busy_s: float, throttled: int = 0) -> dict:
    """A worker's noise check over one second of wall time."""
    return {
        "throttled_periods": throttled,
        "throttled_ms": 10.0 * throttled,
        "load_before": 1.0,
        "load_after": 2.0,
        "cpus": 2,
        "busy_cpu_s": busy_s,
        "own_cpu_s": own_s,
        "wall_s": 1.0,
        "throttled": bool(throttled),
    }


class _StubWorker:
    """Answers at once: `prepare` with `warm` steps/s; `time` over the next span of `spans`,
    the machine busy `busy` CPU seconds of which this worker used one."""

    def __init__(self, name: str, warm: float, spans: list, busy: float = 2.0):
        self.name, self.warm, self.spans, self.busy = name, warm, list(spans), busy
        self.log: list[tuple] = []

    def send(self, cmd, **arguments):
        self.log.append((cmd, arguments))

    def receive(self):
        cmd, arguments = self.log[-1]
        if cmd == "prepare":
            return {"warm_steps_per_s": dict.fromkeys(arguments["variants"], self.warm)}
        if cmd == "time":
            return {"span": self.spans.pop(0), "noise": _check(1.0, self.busy)}
        return {}

    def call(self, cmd, **arguments):
        self.send(cmd, **arguments)
        return self.receive()


def test_the_sweep_section_times_each_way_in_its_processes_together(bench_settings):
    settings = bench_settings(
        networks="lenet_bn", sections="sweep", seconds=1.0, reps=2, eval_every=10, stack_seeds=4
    )
    # tf: 1 s a timing; the pair: the twin ends a quarter second after tf_threads_1.
    workers = {
        "tf": _StubWorker("tf", 95.0, [[0, 1]] * 4, busy=1.0),
        "tf_threads_1": _StubWorker("tf_threads_1", 40.0, [[0, 1]] * 4),
        "tf_threads_1_twin": _StubWorker("tf_threads_1_twin", 38.0, [[0, 1.25]] * 4),
    }
    records = sweep.time_network("lenet_bn", workers, settings, 4.0, lambda message: None)
    by_name = {record["option"]: record for record in records}
    assert list(by_name) == [
        "sweep_tf_single_1proc",
        "sweep_tf_single_2proc",
        "sweep_tf_stack_1proc",
        "sweep_tf_stack_2proc",
    ]  # PyTorch's workers are not running: its ways are left out
    # A pair is prepared and timed together, both variants at once, with the stack's seeds.
    prepare = workers["tf_threads_1_twin"].log[0]
    assert prepare == (
        "prepare",
        {
            "network": "lenet_bn",
            "variants": ["default", "stack"],
            "eval_every": 10,
            "max_seconds": 4.0,
            "seeds": 4,
        },
    )
    timed = [args["variant"] for cmd, args in workers["tf"].log if cmd == "time"]
    assert timed == ["default", "stack", "stack", "default"]  # the order rotates
    # Steps: --seconds at the slower process's warm rate, rounded up to --eval_every.
    assert by_name["sweep_tf_single_1proc"]["steps"] == 100
    assert by_name["sweep_tf_stack_2proc"]["steps"] == 40
    # Seed-steps/s: seeds per step x both processes' steps / the span of the pair.
    assert by_name["sweep_tf_single_1proc"]["steps_per_s"] == 100
    assert by_name["sweep_tf_single_2proc"]["steps_per_s"] == pytest.approx(2 * 40 / 1.25)
    assert by_name["sweep_tf_stack_2proc"]["steps_per_s"] == pytest.approx(4 * 2 * 40 / 1.25)
    assert by_name["sweep_tf_stack_2proc"]["worker"] == "tf_threads_1+tf_threads_1_twin"
    assert by_name["sweep_tf_stack_2proc"]["configuration"] == (
        "bn_keras (TensorFlow), stacks of 4 seeds, 2 processes x 1 thread side by side"
    )
    # Alone, each process of a pair would count the other as a stranger using a whole core; side
    # by side, the machine's 2 busy cores are both the benchmark's: no timing is flagged.
    assert not any(record["flagged"] for record in records)
    assert by_name["sweep_tf_single_2proc"]["max_other_cores"] == 0
    assert all(math.isnan(r["ratio_to_best_torch"]) for r in records)  # no PyTorch


def test_side_by_side_checks_count_the_partner_as_the_benchmark_and_merge_verdicts():
    alone = noise.side_by_side([_check(own_s=1.0, busy_s=2.0)])
    assert alone["other_cores"] == 1.0 and alone["loaded"]
    pair = noise.side_by_side([_check(1.0, 2.0), _check(0.9, 2.05, throttled=2)])
    assert pair["other_cores"] == pytest.approx(0.15) and not pair["loaded"]
    assert pair["throttled"] and pair["throttled_periods"] == 2 and pair["throttled_ms"] == 20
    assert (pair["load_before"], pair["load_after"]) == (1.0, 2.0)
    busy = noise.side_by_side([_check(1.0, 2.0), _check(0.5, 2.0)])
    assert busy["other_cores"] == pytest.approx(0.5) and busy["loaded"]


def _record(network: str, name: str, rates: list[float], flagged: bool = False) -> dict:
    way = sweep.WAYS[name]
    return {
        "section": bench_report.SWEEP_SECTION,
        "framework": way.framework,
        "network": network,
        "option": name,
        "configuration": way.describe(5, 2),
        "steps_per_s": sorted(rates)[len(rates) // 2],
        "steps_per_s_reps": rates,
        "flagged": flagged,
    }


def _records() -> list[dict]:
    records = []
    for network, stack, torch_pair, vmap in (
        ("lenetr_bn", [500, 400, 300], [250, 200, 100], [100, 100, 100]),
        ("mlp", [260, 300, 330], [200, 200, 200], [200, 210, 300]),
    ):
        rows = [
            _record(network, "sweep_tf_single_1proc", [90, 100, 110]),
            _record(network, "sweep_tf_stack_2proc", stack, flagged=network == "mlp"),
            _record(network, "sweep_torch_2proc", torch_pair),
            _record(network, "sweep_torch_vmap_1proc", vmap),
        ]
        records += sweep.with_torch_ratios(rows)
    return records


def test_ratios_are_to_the_fastest_pytorch_way_paired_by_repetition():
    by_key = {(r["network"], r["option"]): r for r in _records()}
    # lenetr_bn: the pair's median 200 beats vmap's 100; per round 2, 2, 3 -> 2.
    assert by_key["lenetr_bn", "sweep_tf_stack_2proc"]["best_torch"] == "sweep_torch_2proc"
    assert by_key["lenetr_bn", "sweep_tf_stack_2proc"]["ratio_to_best_torch"] == 2.0
    # mlp: vmap's median 210 beats the pair's 200; per round 1.3, 1.43, 1.1 -> 1.3.
    assert by_key["mlp", "sweep_tf_stack_2proc"]["best_torch"] == "sweep_torch_vmap_1proc"
    assert by_key["mlp", "sweep_tf_stack_2proc"]["ratio_to_best_torch"] == pytest.approx(1.3)
    assert by_key["mlp", "sweep_torch_vmap_1proc"]["ratio_to_best_torch"] == 1.0


def test_the_tables_say_per_network_whether_the_goal_is_reached():
    text = sweep_report.sweep_tables(_records())
    lenetr = text.split("`lenetr_bn`:")[1].split("`mlp`:")[0]
    assert (
        "| bn_keras (TensorFlow), stacks of 5 seeds, 2 processes x 1 thread side by side "
        "| 400 | 2.00x |" in lenetr
    )
    assert (
        "| PyTorch eager, a single seed, 2 processes x 1 thread side by side | 200 | 1.00x |"
        in (lenetr)
    )
    mlp = text.split("`mlp`:")[1]
    assert "| 300* | 1.30x* |" in mlp  # a noisy figure marks its ratio too
    goals = text.split("goal")[-1].splitlines()
    assert goals[2].startswith("- `lenetr_bn`: reaches 1.5x: 2.00x (bn_keras (TensorFlow), stacks")
    assert goals[3].startswith("- `mlp`: short of 1.5x by 0.20x: 1.30x* (")
    assert goals[3].endswith("; it needs 15% more seed-steps/s.")
    assert (
        "against PyTorch eager, torch.func ensembles of 5 models, 1 process x 2 threads"
        in (goals[3])
    )
    # Without PyTorch there is no verdict; without sweep records, no section.
    alone = [r for r in _records() if r["framework"] == sweep.TENSORFLOW]
    assert "- `mlp`: no PyTorch figure, no verdict." in sweep_report.sweep_tables(
        [{**r, "best_torch": ""} for r in alone]
    )
    assert sweep_report.sweep_tables([{"option": "plain", "network": "mlp"}]) == ""


def test_the_csv_and_tables_hold_both_sections(tmp_path):
    context = dict.fromkeys(bench_report.CONTEXT_FIELDS, "")
    speed = {
        "network": "mlp",
        "option": "default",
        "steps_per_s": 100.0,
        "steps_per_s_reps": [100.0],
        "callback_share": math.nan,
        "ratio_to_plain": math.nan,
        "ratio_to_default": 1.0,
        "flagged": False,
    }
    records = [speed, *_records()]
    text = bench_report.tables(records, context, sweep_report.sweep_tables(records))
    main, rest = text.split("Ways to run a sweep")
    assert "| `mlp` |" in main and "sweep_" not in main  # the sweep's records stay out of it
    assert rest.rstrip().splitlines()[-1].startswith("Noise check: 1 of 9 measurements flagged")
    # One CSV row per record; a column a section does not fill is left empty.
    bench_report.write_csv(tmp_path / "bench.csv", records, context)
    rows = {(r["network"], r["option"]): r for r in bench_report.read_csv(tmp_path / "bench.csv")}
    assert len(rows) == len(records)
    assert rows["mlp", "default"]["ratio_to_default"] == "1"
    assert rows["mlp", "default"]["ratio_to_best_torch"] == ""
    stack = rows["lenetr_bn", "sweep_tf_stack_2proc"]
    assert (stack["ratio_to_best_torch"], stack["steps_per_s_reps"]) == ("2", "500 400 300")
    assert stack["ratio_to_plain"] == stack["callback_share"] == ""


# Trains two models of each network as a torch.func ensemble and alone, from the same start on the
# same batches; prints the largest differences of their losses and of each weight and statistic.
# (Its own process: PyTorch's optimizers crash in a process that has loaded TensorFlow.)
_ENSEMBLE_VS_ALONE = """
import json, torch
from bn_keras.benchmark import torch_worker as tw
torch.set_num_threads(1)  # quick on a loaded machine too
torch.manual_seed(0)
images, labels = torch.randn(3, 16, 1, 28, 28), torch.randint(0, 10, (3, 16))
batches = list(zip(images, labels))
stacked = tw.stacked_batches(batches, 2)
out = {"shifted": torch.equal(stacked[2][0][1], images[0])}
for network in ("lenet_bn", "mlp_bn"):
    torch.manual_seed(1)
    models = [tw.build_network(network, tw.RECIPE) for _ in range(2)]
    alone = [tw.build_network(network, tw.RECIPE) for _ in range(2)]
    for model, twin in zip(models, alone):
        twin.load_state_dict(model.state_dict())
    ensemble = tw.Ensemble(models)
    steps = [tw.single_step(model) for model in alone]
    loss_diff = 0.0
    for t in range(4):
        losses = ensemble.step(*stacked[t % 3])
        for i, step in enumerate(steps):
            loss = step(*batches[(t + i) % 3])
            loss_diff = max(loss_diff, abs(losses[i].item() - loss.item()))
    state_diff = {}
    for i, model in enumerate(alone):
        state = ensemble.state(i)
        for name, value in model.state_dict().items():
            diff = (state[name].double() - value.double()).abs().max().item()
            state_diff[name] = max(state_diff.get(name, 0.0), diff)
    mean = next(value for name, value in ensemble.state(0).items() if "running_mean" in name)
    moved = (mean != 0).any().item()
    out[network] = {"loss": loss_diff, "state": state_diff, "bn_moved": moved}
print(json.dumps(out))
"""


def test_a_torch_func_ensemble_trains_each_model_as_it_would_alone(cli):
    pytest.importorskip("torch")
    proc = subprocess.run(
        [sys.executable, "-c", _ENSEMBLE_VS_ALONE],
        capture_output=True,
        text=True,
        env=cli.env(),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["shifted"]  # model 1 is one batch ahead of model 0, cycling
    for network in ("lenet_bn", "mlp_bn"):
        assert out[network]["bn_moved"]  # the running statistics are trained, slice by slice
        assert out[network]["loss"] < 1e-5
        # Every weight, BN running statistic and batch count, model by model.
        assert len(out[network]["state"]) > 10
        for name, diff in out[network]["state"].items():
            assert diff < 1e-5, (network, name, diff)


def test_the_tf_worker_trains_a_stack_as_train_stack_does(tiny_tfds_dir):
    from bn_keras.benchmark.tf_worker import TfWorker

    worker = TfWorker({"data_dir": tiny_tfds_dir, "dataset_source": "tfds"})
    reply = worker.handle(
        {"cmd": "prepare", "network": "mlp", "variants": ["stack"], "eval_every": 2, "seeds": 3}
    )
    assert reply["warm_steps_per_s"]["stack"] > 0
    timed = worker.handle({"cmd": "time", "variant": "stack", "steps": 2})
    assert timed["seconds"] > 0
    json.dumps(timed)  # a reply the protocol can send
    worker.handle({"cmd": "release"})
