"""A dataset is one declaration: a toy one, declared here alone, runs through a short Keras run
and the summary; runs of two datasets share neither a run directory nor a summary; and
--dataset reaches the twin, a stack and the sweep."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bn_keras.common.errors import ConfigError
from bn_keras.config import datasets
from bn_keras.config.settings import Config
from bn_keras.reporting.paper import summary, summary_csv, summary_files
from bn_keras.runs import reader, run_dir

FASHION = datasets.get("fashion_mnist")
TINY = dict(train_steps=4, eval_every=2, batch_size=32, test_batch_size=50, export=False)


@pytest.fixture
def toy():
    """The toy dataset: MNIST-shaped (the networks take 28x28x1 in ten classes), the tests' 20
    and 10 examples per class, its own normalization and a threshold of its own."""
    declared = datasets.register(
        dataclasses.replace(
            FASHION,
            name="toy",
            label="Toy",
            class_names=tuple("abcdefghij"),
            train_class_counts=(20,) * 10,
            test_class_counts=(10,) * 10,
            mean=0.2,
            std=0.4,
            source=None,
            thresholds=(0.5,),
            primary_thresholds={"mlp": 0.5},
            threshold_note="fixed by this test",
        )
    )
    yield declared
    del datasets.DATASETS["toy"]


def test_a_toy_dataset_runs_through_keras_and_the_summary(toy, tiny_mnist, tmp_path):
    from bn_keras.training.train import train_and_evaluate

    for bn in (False, True):
        config = Config(dataset="toy", model="mlp", bn=bn, **TINY)
        config.validate()
        train_and_evaluate(config, tmp_path / config.default_run_name, data=tiny_mnist)
    record = json.loads((tmp_path / "mlp_bn_seed0" / run_dir.CONFIG_FILE).read_text())
    assert record["config"]["dataset"] == "toy"
    result = summary.summarize(reader.load_runs(tmp_path))
    assert result.dataset is toy and list(result.experiments) == ["mlp", "mlp_bn"]
    assert set(result.experiments["mlp"].iterations) == {0.5}
    assert summary_files.title(result) == "BatchNorm ablation on Toy: summary"
    markdown = summary_files.markdown(result, ["- runs: 2"])
    assert "fixed by this test" in markdown and "it. to 50%: RMST" in markdown
    # The design runs mlp in Keras alone (as Fashion-MNIST's), lenetr in both frameworks.
    assert "- `mlp`: seeds per arm Keras 1; short of the design's 10" in markdown
    assert "- `lenetr`: seeds per arm Keras 0, PyTorch 0; short of" in markdown
    assert [v.claim for v in result.alone] == ["BN speeds convergence", "BN raises final accuracy"]
    assert "speedup_to_50" in summary_csv.csv_text(result).splitlines()[0]


def test_the_normalization_is_the_datasets_own(toy, tiny_mnist):
    from bn_keras.data import input_pipeline

    pixels = tiny_mnist.test_images[:3]
    expected = (pixels / 255.0 - 0.2) / 0.4
    got = input_pipeline.normalize(pixels, toy).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert not np.allclose(got, input_pipeline.normalize(pixels, FASHION).numpy())


def _runs_of(source: Path, tmp_path, name: str, dataset: str | None):
    """A copy of the run directory `source` in tmp_path/name recording `dataset` (None: no key,
    as before the setting)."""
    results = tmp_path / name
    copy = results / source.name
    shutil.copytree(source, copy)
    record = json.loads((copy / run_dir.CONFIG_FILE).read_text())
    record["config"].pop("dataset")
    if dataset is not None:
        record["config"]["dataset"] = dataset
    (copy / run_dir.CONFIG_FILE).write_text(json.dumps(record))
    return copy


@pytest.fixture(scope="module")
def fashion_stack(tiny_mnist, tmp_path_factory):
    """A results directory holding a finished stack of two seeds of mlp_bn recording
    Fashion-MNIST, trained on the tiny arrays; tests copy its seed 0, `mlp_bn_seed0`, as the
    one run they rewrite the dataset of."""
    from bn_keras.training import stacked

    results = tmp_path_factory.mktemp("stack")
    config = Config(dataset="fashion_mnist", model="mlp", bn=True, **TINY)
    stacked.train_stack(config, (0, 1), results, data=tiny_mnist)
    return results


def test_a_summary_never_mixes_datasets(fashion_stack, tmp_path):
    one_run = fashion_stack / "mlp_bn_seed0"
    _runs_of(one_run, tmp_path, "old", None)  # a record from before --dataset: MNIST
    assert [r.dataset for r in reader.load_runs(tmp_path / "old")] == ["mnist"]
    mixed = _runs_of(one_run, tmp_path, "mixed", "fashion_mnist").parent
    shutil.copytree(tmp_path / "old" / "mlp_bn_seed0", mixed / "mlp_bn_seed1")
    with pytest.raises(ConfigError, match=r"several datasets \(fashion_mnist, mnist\)"):
        reader.load_runs(mixed)


def test_a_run_directory_of_another_dataset_is_refused(fashion_stack, tmp_path):
    old = _runs_of(fashion_stack / "mlp_bn_seed0", tmp_path, "old", None)
    (old / run_dir.RESULT_FILE).unlink()  # unfinished: the same settings would resume it
    same = Config(model="mlp", bn=True, **TINY)
    run_dir.check_run_dir(old, same, overwrite=False)
    with pytest.raises(ConfigError, match="--dataset='mnist' there, 'fashion_mnist' now"):
        run_dir.check_run_dir(old, dataclasses.replace(same, dataset="fashion_mnist"), False)


def test_another_datasets_runs_go_to_their_own_directory(main_here, tmp_path):
    for finished in ("results/mlp_seed0", "results/fashion_mnist/mlp_bn_seed0"):
        (tmp_path / finished).mkdir(parents=True)
        (tmp_path / finished / run_dir.RESULT_FILE).write_text("{}")
    mnist = main_here("--model=mlp", "--dry_run", cwd=tmp_path)
    assert mnist.returncode == 2 and "results/mlp_seed0 holds a finished run" in mnist.stderr
    fashion = main_here("--dataset=fashion_mnist", "--model=mlp", "--dry_run", cwd=tmp_path)
    assert fashion.returncode == 0 and json.loads(fashion.stdout)["dataset"] == "fashion_mnist"
    fashion_bn = main_here(
        "--dataset=fashion_mnist", "--model=mlp", "--bn", "--dry_run", cwd=tmp_path
    )
    assert "results/fashion_mnist/mlp_bn_seed0 holds a finished run" in fashion_bn.stderr
    unknown = main_here("--dataset=nope", cwd=tmp_path)
    assert unknown.returncode == 2 and unknown.stderr.strip().splitlines() == [
        "bn_keras: error: --dataset='nope' is unknown: use one of mnist, fashion_mnist"
    ]


def test_fashion_mnist_reaches_a_stack(fashion_stack):
    for seed in (0, 1):
        record = json.loads(
            (fashion_stack / f"mlp_bn_seed{seed}" / run_dir.CONFIG_FILE).read_text()
        )
        assert record["config"]["dataset"] == "fashion_mnist"


def test_the_sweep_passes_its_dataset_on():
    # test_bad_inputs has its refusal of an unknown one ("sweep: an unknown dataset").
    from bn_keras.config.commands import SweepOptions
    from bn_keras.experiments.jobs import dataset_flags

    options = SweepOptions(dataset="fashion_mnist", dataset_files="/usr/share/datasets/fm")
    assert dataset_flags(options) == [
        "--dataset=fashion_mnist",
        "--dataset_files=/usr/share/datasets/fm",
    ]
    assert dataset_flags(SweepOptions()) == []  # MNIST's sweep runs as it ran


def test_preparing_from_a_folder_of_wrong_files_is_refused_in_one_line(cli, tiny_arrays, tmp_path):
    from bn_keras.data import idx

    folder = tmp_path / "files"
    folder.mkdir()
    for key, (name, _) in FASHION.files.items():
        array = getattr(tiny_arrays, key)
        idx.write(folder / name, array[..., 0] if array.ndim == 4 else array)
    proc = cli.run(
        "bn_keras.data.prepare",
        "--dataset=fashion_mnist",
        "--dataset_source=offline",
        f"--data_dir={tmp_path / 'tfds'}",
        f"--dataset_files={folder}",
    )
    (line,) = proc.stderr.strip().splitlines()[-1:]
    assert proc.returncode == 1
    assert line.startswith(f"bn_keras: error: {folder}/train-images-idx3-ubyte has SHA-256 ")
    assert line.endswith(
        "not Fashion-MNIST's c59f468a2f672dc8... (damaged, partial or another file)"
    )
    assert not any((tmp_path / "tfds").rglob("*.tfrecord*"))  # nothing half-built is left
