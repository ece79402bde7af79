"""The sweep's seed-adding rule and job planning on synthetic run directories, training nothing."""

from __future__ import annotations

import pytest

from bn_keras.common.atomic import write_json_atomic
from bn_keras.experiments import adaptive, jobs
from bn_keras.reporting.paper import claims
from bn_keras.runs import reader
from bn_keras.runs.metrics_file import MetricsWriter

EVERY = 100


def _write_run(root, experiment, seed, accuracies, framework=None):
    run_dir = root / f"{experiment}_seed{seed}"
    run_dir.mkdir(parents=True)
    config = {"model": experiment.removesuffix("_bn"), "seed": seed}
    config |= {"train_steps": EVERY * (len(accuracies) - 1)}
    if framework:
        config["framework"] = framework
    write_json_atomic(run_dir / "config.json", {"config": config})
    writer = MetricsWriter(run_dir / "metrics.csv")
    for i, accuracy in enumerate(accuracies):
        row = {"step": i * EVERY, "epoch": 0.0, "learning_rate": 1.0, "train_loss": 0.1}
        writer.append(row | {"test_loss": 0.1, "test_accuracy": accuracy, "elapsed_s": 2.0 * i})
    result = {"steps": config["train_steps"], "train_seconds": 1.0, "steps_per_second": 1.0}
    write_json_atomic(run_dir / "result.json", result)


# Final accuracy per pair and arm: a centre plus an offset that cycles with the seed, so each
# seed count has a known spread.
SMALL = (-0.001, 0.0, 0.001)  # sample SD 0.001 at 3 seeds, 0.000957 at 4
NOISY = (-0.005, 0.0, 0.005)
CENTRES = {
    "mlp": ((0.970, SMALL), (0.977, SMALL)),  # +0.007: decided at 3
    "lenetr": ((0.9920, SMALL), (0.9925, SMALL)),  # +0.0005: equivalence needs a 4th seed
    "lenet": ((0.980, NOISY), (0.980, NOISY[::-1])),  # ~0 with a wide spread: never decided
}


def _curve(pair, bn, seed):
    centre, offsets = CENTRES[pair][bn]
    final = centre + offsets[seed % 3]
    # No BN reaches 97% at step 300, BN at step 100, whatever the seed (all below 98%
    # except lenetr's, which is not asked about speed).
    return [0.1, 0.971 if bn else 0.5, 0.975 if bn else 0.6, 0.976, final]


@pytest.fixture
def rounds(tmp_path):
    """A run_round that writes the missing seeds of each pending pair, and its call log."""
    calls = []

    def run_round(pending):
        calls.append(dict(pending))
        for (framework, pair), n in pending.items():
            root = tmp_path if framework == "keras" else tmp_path / framework
            for bn, experiment in ((False, pair), (True, pair + "_bn")):
                for seed in range(n):
                    if not (root / f"{experiment}_seed{seed}").exists():
                        _write_run(root, experiment, seed, _curve(pair, bn, seed), framework)

    return run_round, calls


def test_large_effects_decide_at_three_close_ones_get_seeds_and_the_cap_stops(tmp_path, rounds):
    run_round, calls = rounds
    keys = [("keras", "mlp"), ("keras", "lenetr"), ("keras", "lenet")]
    states = adaptive.add_seeds_until_decided(
        keys, run_round, lambda: reader.load_runs(tmp_path), start=3, cap=6
    )
    assert calls == [
        {("keras", "mlp"): 3, ("keras", "lenetr"): 3, ("keras", "lenet"): 3},
        {("keras", "lenetr"): 4, ("keras", "lenet"): 4},
        {("keras", "lenet"): 5},
        {("keras", "lenet"): 6},
    ]
    mlp, lenetr, lenet = (states[k] for k in keys)
    assert (mlp.seeds, mlp.decided) == (3, True)
    assert [v.outcome for v in mlp.verdicts] == [claims.REPRODUCED, claims.REPRODUCED]
    # lenetr at 3 seeds: 90% half-width t(0.95, 4) 2.132 * se 0.000816 = 0.00174 > 0.002 -
    # 0.0005; at 4: t(0.95, 6) 1.943 * 0.000677 = 0.00132 < 0.0015: equivalent.
    assert (lenetr.seeds, lenetr.decided) == (4, True)
    assert lenetr.verdicts[0].outcome == claims.REPRODUCED
    assert (lenet.seeds, lenet.decided) == (6, False)
    assert not (tmp_path / "mlp_seed3").exists()
    line = lenetr.line()
    assert line.startswith(
        "lenetr (exploratory): 4 seeds, BN makes no difference: final accuracy BN - no BN"
    )
    assert "+0.0005, 95% CI [" in line and ", TOST p=0.0" in line and line.endswith("REPRODUCED")


def test_each_framework_is_decided_on_its_own_runs(tmp_path, rounds):
    run_round, calls = rounds
    keys = [("keras", "mlp"), ("pytorch", "mlp")]
    states = adaptive.add_seeds_until_decided(
        keys, run_round, lambda: reader.load_runs(tmp_path), start=3, cap=4
    )
    assert len(calls) == 1 and all(s.decided for s in states.values())
    line = states["pytorch", "mlp"].line()
    assert line.startswith("pytorch mlp (exploratory): 3 seeds, ")
    # Each claim with the test that decides it: no "TOST p=1.000, REPRODUCED" on a raise.
    assert "final accuracy BN - no BN +0.0070" in line and ", Welch p=0.001, REPRODUCED" in line
    assert (tmp_path / "pytorch" / "mlp_bn_seed2" / "result.json").is_file()


def test_a_decision_uses_only_the_first_n_seeds(tmp_path, rounds):
    run_round, _ = rounds
    run_round({("keras", "lenetr"): 5})
    state = adaptive.pair_state(reader.load_runs(tmp_path), "keras", "lenetr", 3)
    assert state.verdicts[0].effect.n == (3, 3) and not state.decided
    assert adaptive.pair_state([], "keras", "lenetr", 3).verdicts == []


def test_the_twin_gets_its_flag_and_directory(tmp_path):
    seen = []

    def resolve(args):
        seen.append(args)
        return {"train_steps": 10}

    job = jobs.plan_job("lenetr", 4, tmp_path / "pytorch", [], framework="pytorch", resolve=resolve)
    assert seen == [
        [
            "--flagfile=flags/lenetr.flags",
            "--seed=4",
            "--framework=pytorch",
            "--run_name=lenetr_seed4",
            f"--results_dir={tmp_path / 'pytorch'}",
        ]
    ]
    assert job.name == "pytorch/lenetr_seed4"
    assert job.log_path == tmp_path / "pytorch" / "logs" / "lenetr_seed4.log"
    keras = jobs.plan_job("lenetr", 0, tmp_path, [], resolve=resolve)
    assert "--framework=pytorch" not in seen[-1] and keras.name == "lenetr_seed0"


def test_without_torch_the_twin_is_skipped_in_one_line(tmp_path):
    paper = ["lenetr", "lenetr_bn"]
    frameworks, note = jobs.frameworks_to_run(tmp_path, paper, twin=True, torch_available=False)
    assert frameworks == {"keras": tmp_path}
    assert note.startswith("PyTorch twin skipped: torch is not installed") and "\n" not in note
    frameworks, note = jobs.frameworks_to_run(tmp_path, paper, twin=True, torch_available=True)
    assert frameworks == {"keras": tmp_path, "pytorch": tmp_path / "pytorch"} and note is None
    assert jobs.frameworks_to_run(tmp_path, [], True, False) == ({"keras": tmp_path}, None)


def test_progress_comes_from_the_metrics_file(tmp_path):
    _write_run(tmp_path, "mlp", 0, [0.1, 0.8, 0.9])  # steps 0, 100, 200 at 0, 2, 4 s
    job = jobs.Job("mlp", 0, [], tmp_path / "mlp_seed0", {"train_steps": 400})
    jobs.read_progress(job)
    assert (job.step, job.test_accuracy, job.steps_per_second) == (200, 0.9, 50.0)
    missing = jobs.Job("mlp", 1, [], tmp_path / "mlp_seed1", {"train_steps": 400})
    jobs.read_progress(missing)
    assert (missing.step, missing.test_accuracy) == (0, None)
