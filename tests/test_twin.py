"""The PyTorch twin: its networks match the Keras ones, its runs read like Keras runs, its
schedule steps at epoch boundaries. Needs torch; test_twin_refusals.py runs without it."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bn_keras.config import datasets
from bn_keras.config.settings import Config

torch = pytest.importorskip(
    "torch", reason="the PyTorch twin needs torch (pip install -e .[torch])"
)

from bn_keras.data import facts, input_pipeline  # noqa: E402
from bn_keras.models import networks as keras_networks  # noqa: E402
from bn_keras.runs.metrics_file import read_metrics  # noqa: E402
from bn_keras.runs.reader import load_runs  # noqa: E402
from bn_keras.twin import batches, networks  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MNIST = datasets.get("mnist")
NETWORKS = [f"{m}{s}" for m in ("mlp", "lenet", "lenetr") for s in ("", "_bn")]
TINY = Config(model="lenetr", bn=True, train_steps=12, eval_every=2, export=False)


@pytest.mark.parametrize("network", NETWORKS)
def test_parameter_counts_match_keras(network):
    name, _, suffix = network.partition("_")
    keras_model = keras_networks.build_model(name, bn=suffix == "bn")
    torch_model = networks.build(network)
    trainable = sum(p.numel() for p in torch_model.parameters())
    # Keras keeps BN's moving mean and variance as non-trainable weights, torch as buffers.
    moving = sum(b.numel() for n, b in torch_model.named_buffers() if n.endswith("running_mean"))
    moving += sum(b.numel() for n, b in torch_model.named_buffers() if n.endswith("running_var"))
    assert trainable == sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)
    assert moving == sum(int(np.prod(w.shape)) for w in keras_model.non_trainable_weights)


def test_bn_settings_follow_the_config_in_pytorch_convention():
    model = networks.build("lenetr_bn", bn_momentum=1.0 - 0.8, bn_epsilon=1e-3)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(norms) == 4
    assert all(m.momentum == pytest.approx(0.2) and m.eps == 1e-3 for m in norms)


def test_normalization_matches_the_keras_pipeline(tiny_mnist):
    images, labels = batches.to_tensors(
        tiny_mnist.test_images[:5], tiny_mnist.test_labels[:5], MNIST
    )
    expected = input_pipeline.normalize(tiny_mnist.test_images[:5], MNIST).numpy()
    np.testing.assert_allclose(images.numpy(), expected.transpose(0, 3, 1, 2), rtol=0, atol=1e-6)
    assert labels.dtype == torch.int64 and labels.tolist() == tiny_mnist.test_labels[:5].tolist()


def test_batches_cover_each_epoch_once_with_a_partial_last_batch():
    torch.manual_seed(0)
    images, labels = torch.zeros(200, 1, 28, 28), torch.arange(200)
    training = batches.TrainingBatches(images, labels, 64)
    epoch = [next(training)[1] for _ in range(facts.steps_per_epoch(200, 64))]
    assert [len(b) for b in epoch] == [64, 64, 64, 8]
    assert sorted(torch.cat(epoch).tolist()) == list(range(200))
    assert torch.cat(epoch).tolist() != list(range(200))  # shuffled


def test_batches_are_those_of_the_original_data_loader():
    images, labels = torch.zeros(200, 1, 28, 28), torch.arange(200)
    torch.manual_seed(3)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images, labels), batch_size=64, shuffle=True
    )
    expected = [y.tolist() for _ in range(2) for _, y in loader]
    torch.manual_seed(3)
    training = batches.TrainingBatches(images, labels, 64)
    assert [next(training)[1].tolist() for _ in expected] == expected


@pytest.mark.parametrize("taken", [0, 2, 4, 6])  # before, within, at the end of, after epoch 1
def test_a_saved_position_gives_the_same_batches_again(taken):
    torch.manual_seed(0)
    images, labels = torch.zeros(200, 1, 28, 28), torch.arange(200)
    training = batches.TrainingBatches(images, labels, 64)
    for _ in range(taken):
        next(training)
    position, rng = training.position(), torch.get_rng_state()
    expected = [next(training)[1].tolist() for _ in range(6)]

    torch.manual_seed(1)  # another generator state and a fresh loader, as a new process has
    again = batches.TrainingBatches(images, labels, 64)
    again.seek(position)
    torch.set_rng_state(rng)
    assert [next(again)[1].tolist() for _ in range(6)] == expected


def test_learning_rate_decays_once_per_epoch_of_938_iterations():
    per_epoch = facts.steps_per_epoch(60_000, 64)
    assert per_epoch == 938
    assert facts.decay_interval(Config(), per_epoch) == 938
    assert facts.decay_interval(Config(lr_schedule="steps", lr_decay_steps=50), 938) == 50
    assert facts.decay_interval(Config(lr_schedule="constant"), 938) is None


# TensorFlow and torch in one process crash in torch's training step (see twin.mnist_arrays), and
# pytest's process holds TensorFlow: twin training runs in a child process without it.
_CHILD = """
import json, sys
from types import SimpleNamespace
import numpy as np
from bn_keras.config.settings import Config
from bn_keras.twin import train

with np.load(sys.argv[1]) as arrays:
    mnist = SimpleNamespace(**{name: arrays[name] for name in arrays.files})
for config, run_dir in json.loads(sys.argv[2]):
    train.train_and_evaluate(Config(**config), run_dir, data=mnist)
"""


def _train_in_child(mnist, runs: list[tuple[Config, Path]], tmp_path: Path) -> None:
    arrays = tmp_path / "tiny.npz"
    np.savez(arrays, **dataclasses.asdict(mnist))
    plan = json.dumps([(dataclasses.asdict(c), str(d)) for c, d in runs])
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(arrays), plan],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


SAME_SEED = dataclasses.replace(TINY, train_steps=4)
OTHER_SEED = dataclasses.replace(SAME_SEED, seed=1)
FASHION = dataclasses.replace(SAME_SEED, dataset="fashion_mnist", model="mlp")


@pytest.fixture(scope="module")
def twin_runs(tiny_mnist, tmp_path_factory) -> Path:
    """One child process trains them all: TINY into results/, SAME_SEED twice and OTHER_SEED
    into a, b and c, and FASHION into fashion."""
    root = tmp_path_factory.mktemp("twin")
    runs = [(TINY, root / "results" / "lenetr_bn_seed0")]
    runs += [(c, root / name) for c, name in zip((SAME_SEED, SAME_SEED, OTHER_SEED), "abc")]
    runs += [(FASHION, root / "fashion")]
    _train_in_child(tiny_mnist, runs, root)
    return root


def test_fashion_mnist_reaches_the_twin(tiny_mnist, twin_runs, tmp_path):
    from bn_keras.twin import train

    setup = train.set_up(FASHION, tmp_path, data=tiny_mnist)
    fashion = datasets.get("fashion_mnist")
    expected = (tiny_mnist.train_images[:2] / 255.0 - fashion.mean) / fashion.std
    np.testing.assert_allclose(
        setup.train[0][:2].numpy(), expected.transpose(0, 3, 1, 2), rtol=0, atol=1e-6
    )
    record = json.loads((twin_runs / "fashion" / "config.json").read_text())
    assert record["config"]["dataset"] == "fashion_mnist" and record["framework"] == "pytorch"


def test_a_tiny_run_writes_the_records_the_summary_reads(twin_runs):
    (run,) = load_runs(twin_runs / "results")
    assert (run.experiment, run.seed) == ("lenetr_bn", 0)
    assert run.record["framework"] == "pytorch"
    assert run.record["config"]["framework"] == "pytorch"  # whatever the Config passed said
    assert run.record["versions"]["torch"] == torch.__version__
    assert "export" not in run.record["ignored_settings"]
    rows = run.rows
    assert [int(r["step"]) for r in rows] == list(range(0, 13, 2))
    # 200 examples at batch 64: 4 iterations per epoch, so x0.7 after iterations 4 and 8.
    assert [r["learning_rate"] for r in rows] == pytest.approx([1, 1, 0.7, 0.7, 0.49, 0.49, 0.343])
    assert rows[-1]["epoch"] == pytest.approx(3.0)
    assert run.result["final_test_accuracy"] == rows[-1]["test_accuracy"]
    assert run.result["steps"] == 12
    assert rows[-1]["test_accuracy"] > 0.5  # the tiny digits are easy: it learned


def test_the_same_seed_gives_the_same_run(twin_runs):
    dirs = [twin_runs / name for name in "abc"]
    first, second, third = ([r["test_loss"] for r in read_metrics(d / "metrics.csv")] for d in dirs)
    assert first == second
    assert first != third


def test_the_command_line_trains_the_twin_on_prepared_tfds_mnist(tiny_tfds_dir, tmp_path, cli):
    proc = cli.run(
        "bn_keras.main",
        "--framework=pytorch",
        "--model=mlp",
        "--train_steps=4",
        "--eval_every=2",
        f"--data_dir={tiny_tfds_dir}",
        f"--results_dir={tmp_path}",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = load_runs(tmp_path)
    assert run.experiment == "mlp" and run.result["steps"] == 4
    assert "prepared TFDS mnist" in run.record["data_source"]
    assert run.record["ignored_settings"]["export"].startswith("no SavedModel")
    assert "checkpoint_every" not in run.record["ignored_settings"]
    assert not (run.run_dir / "saved_model").exists()
    assert (run.run_dir / "checkpoints" / "state.json").is_file()


def test_the_networks_and_the_torch_worker_import_without_tensorflow():
    # The benchmark's worker runs under an interpreter that may hold torch alone.
    block = "import sys; sys.modules.update(dict.fromkeys(['tensorflow', 'keras', 'absl']))"
    code = f"{block}; import bn_keras.benchmark.torch_worker, bn_keras.twin.networks"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
