"""Run directories shipped between machines (bn_keras.experiments.executors.shipping): a snapshot
taken while a run checkpoints never names a checkpoint it lacks, an overlay deletes nothing, a
mirror leaves exactly what was shipped. No Ray needed."""

from __future__ import annotations

import json

from bn_keras.experiments.executors import shipping


def _run(base, name, step, keep=(50, 100)):
    checkpoints = base / name / "checkpoints"
    checkpoints.mkdir(parents=True)
    for kept in keep:
        (checkpoints / f"ckpt-{kept}.index").write_text(str(kept))
    (checkpoints / "state.json").write_text(json.dumps({"step": step, "path": f"/x/ckpt-{step}"}))
    (base / name / "metrics.csv").write_text("step\n0\n")


def _files(base):
    return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())


def test_a_snapshot_leaves_out_a_state_whose_checkpoint_it_lacks(tmp_path):
    node, driver = tmp_path / "node", tmp_path / "driver"
    _run(node, "a", 100)
    _run(node, "b", 150)  # state.json names ckpt-150, rotated away before it was read
    shipping.restore(shipping.snapshot(node, ["a", "b", "logs/a.log"]), driver, ["a"], False)
    assert (driver / "a" / "checkpoints" / "state.json").is_file()
    assert not (driver / "b" / "checkpoints" / "state.json").exists()
    assert (driver / "b" / "metrics.csv").is_file()


def test_an_overlay_deletes_nothing_and_a_mirror_leaves_what_was_shipped(tmp_path):
    node, driver = tmp_path / "node", tmp_path / "driver"
    _run(node, "a", 100)
    shipping.restore(shipping.snapshot(node, ["a"]), driver, ["a"], mirror=False)
    (node / "a" / "checkpoints" / "ckpt-50.index").unlink()
    (node / "a" / "result.json").write_text("{}")
    shipping.restore(shipping.snapshot(node, ["a"]), driver, ["a"], mirror=False)
    assert (driver / "a" / "checkpoints" / "ckpt-50.index").is_file()
    (driver / "logs").mkdir()
    (driver / "logs" / "a.log").write_text("an old attempt's log")
    shipping.restore(
        shipping.snapshot(node, ["a", "logs/a.log"]), driver, ["a", "logs/a.log"], True
    )
    assert _files(driver) == _files(node)
    assert not any(p.name.startswith(shipping.STAGING_PREFIX) for p in driver.iterdir())
