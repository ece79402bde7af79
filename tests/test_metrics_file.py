"""The metrics file holds whole rows only, even after a kill in the middle of a write."""

import math

from bn_keras.runs.metrics_file import FIELDS, MetricsWriter, missing_rows, read_metrics


def _row(step, loss=0.5):
    return {
        "step": step,
        "epoch": step / 10,
        "learning_rate": 1.0,
        "train_loss": loss,
        "test_loss": 0.25,
        "test_accuracy": 0.9,
        "elapsed_s": 1.5,
    }


def test_rows_round_trip_and_nan_is_empty(tmp_path):
    path = tmp_path / "metrics.csv"
    writer = MetricsWriter(path)
    writer.append(_row(0, loss=math.nan))
    writer.append(_row(10))
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(FIELDS)
    assert lines[1].split(",")[3] == ""
    rows = read_metrics(path)
    assert [r["step"] for r in rows] == [0, 10]
    assert math.isnan(rows[0]["train_loss"]) and rows[1]["train_loss"] == 0.5


def test_partial_last_line_is_ignored_then_cut(tmp_path):
    path = tmp_path / "metrics.csv"
    MetricsWriter(path).append(_row(0))
    with open(path, "a") as f:
        f.write("10,1,1,0.4,0.2")  # a kill in the middle of a row
    assert [r["step"] for r in read_metrics(path)] == [0]
    MetricsWriter(path).append(_row(10))  # reopening cuts the torn row, then appends
    assert [r["step"] for r in read_metrics(path)] == [0, 10]
    assert path.read_text().count("\n") == 3


def test_missing_rows_names_the_steps_a_cut_file_lacks(tmp_path):
    path = tmp_path / "metrics.csv"
    assert missing_rows(path, [0, 10]) == [0, 10]  # no file
    writer = MetricsWriter(path)
    for step in (0, 10, 20):
        writer.append(_row(step))
    assert missing_rows(path, [0, 10, 20]) == []
    text = path.read_text()
    path.write_text(text[: text.index("\n10,") + 6])  # cut in the middle of row 10
    assert missing_rows(path, [0, 10, 20]) == [10, 20]
    path.write_text("step,epoch\nnot a number,1\n")
    assert missing_rows(path, [0]) == [0]
