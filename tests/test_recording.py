"""What a run records beyond the test set's rows, when asked: the whole training set evaluated
beside the test set (--eval_train), the test set's predicted classes (--save_predictions) and the
registered design's hash (--design); and that a run without them, or recorded before them, is the
same as before."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import threading
import types

import keras
import numpy as np
import pytest

from bn_keras.common.errors import ConfigError, RecordError
from bn_keras.config import datasets
from bn_keras.config.settings import Config
from bn_keras.data import input_pipeline, preparation
from bn_keras.experiments.jobs import FINISHED, FRESH, Job, run_state
from bn_keras.runs import reader, run_dir
from bn_keras.runs.metrics_file import FIELDS, read_metrics, run_fields
from bn_keras.runs.predictions import read_predictions
from bn_keras.training.train import train_and_evaluate

MNIST = datasets.get("mnist")
SMALL = Config(
    model="lenetr", bn=True, batch_size=32, eval_every=10, train_steps=20, checkpoint_every=10,
    test_batch_size=40, export=False,
)  # fmt: skip
NEW_SETTINGS = {"eval_train": False, "save_predictions": False, "design": ""}
RESULT_KEYS = {
    "steps", "final_test_accuracy", "final_test_loss", "train_seconds", "steps_per_second",
    "checkpoint_seconds", "checkpoints_written",
}  # fmt: skip


@pytest.fixture(scope="module")
def recorded_run(tiny_mnist, tmp_path_factory):
    """A run with all three settings (and its model.keras, to check against), stopped at its
    first checkpoint (iteration 10) and resumed to the end, as a sweep's run often is: `run`
    (reader.Run), `result`, `config`, `design` and the predictions file the stopped run left
    (`stopped_predictions`). test_distribute records the same settings in one go."""
    root = tmp_path_factory.mktemp("recorded")
    design = root / "design.md"
    design.write_text("# A design\nH1: BN helps.\n")
    config = dataclasses.replace(
        SMALL, eval_train=True, save_predictions=True, design=str(design), export=True
    )
    path = root / config.default_run_name
    stop = threading.Event()
    stop.set()  # stops at the first callback: iteration 10, checkpointed
    assert train_and_evaluate(config, path, data=tiny_mnist, stop_request=stop).interrupted_at
    stopped_predictions = read_predictions(path)
    result = train_and_evaluate(config, path, data=tiny_mnist)  # resumed mid-way
    (run,) = reader.load_runs(root)
    return types.SimpleNamespace(
        run=run,
        result=result,
        config=config,
        design=design,
        stopped_predictions=stopped_predictions,
    )


def _metrics(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean loss and accuracy of `model` in inference mode, computed here in NumPy."""
    logits = np.asarray(model(input_pipeline.normalize(images, MNIST), training=False), np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    losses = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(labels)), labels]
    return float(losses.mean()), float(np.mean(logits.argmax(axis=1) == labels))


def test_eval_train_adds_the_training_set_beside_the_test_set(recorded_run, tiny_mnist):
    run, result = recorded_run.run, recorded_run.result
    header = (run.run_dir / run_dir.METRICS_FILE).read_text().splitlines()[0]
    assert tuple(header.split(",")) == run_fields(True)
    assert set(run_fields(True)) - set(FIELDS) == {"train_set_loss", "train_set_accuracy"}
    assert [int(r["step"]) for r in run.rows] == [0, 10, 20]
    count = len(tiny_mnist.train_labels)  # an accuracy is a count of correct images
    for row in run.rows:
        assert row["train_set_accuracy"] * count == pytest.approx(
            round(row["train_set_accuracy"] * count), abs=1e-6
        )
        assert np.isfinite(row["train_set_loss"])
    assert run.result["final_train_set_accuracy"] == run.rows[-1]["train_set_accuracy"]
    assert run.result["final_train_set_loss"] == run.rows[-1]["train_set_loss"]
    assert result.final_train_set_accuracy == run.rows[-1]["train_set_accuracy"]
    assert run.record["config"]["eval_train"] is True


def test_the_training_set_row_equals_an_independent_computation(recorded_run, tiny_mnist):
    run = recorded_run.run
    model = keras.models.load_model(run.run_dir / run_dir.KERAS_MODEL_FILE)
    loss, accuracy = _metrics(model, tiny_mnist.train_images, tiny_mnist.train_labels)
    last = run.rows[-1]
    assert last["train_set_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert last["train_set_loss"] == pytest.approx(loss, rel=1e-4)
    # Not the running training loss, nor the test set's numbers.
    assert last["train_set_loss"] != pytest.approx(last["train_loss"], rel=1e-3)
    test_loss, _ = _metrics(model, tiny_mnist.test_images, tiny_mnist.test_labels)
    assert last["train_set_loss"] != pytest.approx(test_loss, rel=1e-3)


def test_predictions_are_the_models_classes_in_the_test_sets_order(recorded_run, tiny_mnist):
    run, result = recorded_run.run, recorded_run.result
    predictions = run.test_predictions()
    assert predictions.dtype == np.uint8 and predictions.shape == tiny_mnist.test_labels.shape
    model = keras.models.load_model(run.run_dir / run_dir.KERAS_MODEL_FILE)
    logits = model.predict(input_pipeline.normalize(tiny_mnist.test_images, MNIST), verbose=0)
    np.testing.assert_array_equal(predictions, logits.argmax(axis=1))
    accuracy = float(np.mean(predictions == tiny_mnist.test_labels))
    assert accuracy == result.final_test_accuracy == run.result["final_test_accuracy"]


def test_the_test_pipeline_keeps_the_prepared_datasets_order(tiny_tfds_dir, tiny_arrays):
    first, again = (preparation.load(MNIST, tiny_tfds_dir) for _ in range(2))
    np.testing.assert_array_equal(first.test_labels, again.test_labels)
    np.testing.assert_array_equal(first.test_images, again.test_images)
    assert sorted(first.test_labels) == sorted(tiny_arrays.test_labels)
    batches = input_pipeline.test_dataset(first.test_images, first.test_labels, 40, dataset=MNIST)
    pipeline = np.concatenate([labels.numpy() for _, labels in batches])
    np.testing.assert_array_equal(pipeline, first.test_labels)


def test_the_design_is_recorded_by_its_hash_and_changes_nothing_else(recorded_run):
    run, design = recorded_run.run, recorded_run.design
    assert run.record["design"] == {
        "path": str(design),
        "sha256": hashlib.sha256(design.read_bytes()).hexdigest(),
    }
    assert run.record["config"]["design"] == str(design)
    with_design = dataclasses.replace(SMALL, design=str(design))
    assert with_design.default_run_name == SMALL.default_run_name == run.run_dir.name


@pytest.mark.parametrize(
    "content, problem",
    [(b"not a numpy file", "cannot be read"), (np.zeros(3, np.float32), "holds float32")],
)
def test_a_damaged_predictions_file_is_reported_not_read(content, problem, tmp_path):
    path = tmp_path / run_dir.PREDICTIONS_FILE
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.save(path, content)
    with pytest.raises(RecordError, match=problem):
        read_predictions(tmp_path)


def test_a_diverged_run_writes_no_predictions(tiny_mnist, tmp_path):
    config = Config(
        model="mlp", optimizer="sgd", learning_rate=1e38, record_divergence=True,
        save_predictions=True, eval_train=True, batch_size=32, eval_every=10, train_steps=20,
        export=False,
    )  # fmt: skip
    result = train_and_evaluate(config, tmp_path / "run", data=tiny_mnist)
    assert result.diverged_at is not None
    assert (tmp_path / "run" / run_dir.RESULT_FILE).is_file()
    assert read_predictions(tmp_path / "run") is None


def test_resumed_runs_write_their_predictions_at_the_end_and_keep_a_finished_ones(
    recorded_run, tiny_mnist, tmp_path
):
    assert recorded_run.stopped_predictions is None  # not before the end
    config, result = recorded_run.config, recorded_run.result
    predictions = read_predictions(recorded_run.run.run_dir)
    assert float(np.mean(predictions == tiny_mnist.test_labels)) == result.final_test_accuracy
    path = tmp_path / "run"  # a copy: the other tests read the recorded run as it finished
    shutil.copytree(recorded_run.run.run_dir, path)
    lines = (path / run_dir.METRICS_FILE).read_text().splitlines()
    assert lines[0] == ",".join(run_fields(True)) and len(lines) == 4  # header once, 3 rows
    assert all(np.isfinite(row["train_set_accuracy"]) for row in read_metrics(path / "metrics.csv"))

    marker = np.full_like(predictions, 7)
    np.save(path / run_dir.PREDICTIONS_FILE, marker)
    train_and_evaluate(config, path, data=tiny_mnist)  # resumed after its last step
    np.testing.assert_array_equal(read_predictions(path), marker)
    (path / run_dir.PREDICTIONS_FILE).unlink()
    train_and_evaluate(config, path, data=tiny_mnist)  # ... without its file: written again
    np.testing.assert_array_equal(read_predictions(path), predictions)


def test_a_run_without_the_settings_records_and_resumes_as_before(tiny_mnist, tmp_path):
    """A plain run's files are those of before; a config.json written before the settings
    existed resumes, is skipped when finished, and is refused (or run afresh) with them on."""
    path = tmp_path / SMALL.default_run_name
    stop = threading.Event()
    stop.set()
    train_and_evaluate(SMALL, path, data=tiny_mnist, stop_request=stop)
    record = json.loads((path / run_dir.CONFIG_FILE).read_text())
    assert "design" not in record
    assert {name: record["config"].pop(name) for name in NEW_SETTINGS} == NEW_SETTINGS
    (path / run_dir.CONFIG_FILE).write_text(json.dumps(record))  # as recorded before them

    assert run_dir.settings_that_differ(record["config"], SMALL) == []
    run_dir.check_run_dir(path, SMALL, overwrite=False)  # resumes
    for name, value in (("eval_train", True), ("save_predictions", True), ("design", "d.md")):
        with pytest.raises(ConfigError, match=f"--{name}="):
            run_dir.check_run_dir(path, dataclasses.replace(SMALL, **{name: value}), False)

    train_and_evaluate(SMALL, path, data=tiny_mnist)
    assert (path / run_dir.METRICS_FILE).read_text().splitlines()[0] == ",".join(FIELDS)
    assert set(json.loads((path / run_dir.RESULT_FILE).read_text())) == RESULT_KEYS
    assert not (path / run_dir.PREDICTIONS_FILE).exists()
    (run,) = reader.load_runs(tmp_path)
    assert run.finished and run.test_predictions() is None

    def job(config: Config) -> Job:
        return Job("lenetr_bn", 0, [], path, config.to_dict())

    assert run_state(job(SMALL)) == FINISHED
    assert run_state(job(dataclasses.replace(SMALL, eval_train=True))) == FRESH


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--seeds=0-1", "--eval_train"],
            "--eval_train (the training set's evaluation) is not supported with --seeds=0-1",
        ),
        (
            ["--seeds=0-1", "--save_predictions"],
            "--save_predictions (the test set's predicted classes) is not supported with --seeds",
        ),
        (
            ["--framework=pytorch", "--eval_train", "--save_predictions"],
            "--framework=pytorch records test-set metrics only: drop --eval_train, "
            "--save_predictions, or train with --framework=keras",
        ),
        (["--design=/nonexistent/design.md"], "--design=/nonexistent/design.md: No such file"),
        (["--design=/tmp"], "--design=/tmp is a directory, not a file: name a readable file"),
    ],
)
def test_what_cannot_be_recorded_is_refused_in_one_line(flags, message, main_here, tmp_path):
    results = tmp_path / "results"
    proc = main_here("--model=lenetr", f"--results_dir={results}", *flags)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("bn_keras: error: ") and message in line
    assert not results.exists()
