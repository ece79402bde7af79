"""The SavedModel takes raw pixels and answers like the Keras model on normalized ones."""

import shutil
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from bn_keras.config import datasets
from bn_keras.data import input_pipeline
from bn_keras.training import export

MNIST = datasets.get("mnist")
SAVED_MODEL_CLI = shutil.which("saved_model_cli") is not None


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A FastBatchNormalization LeNet trained three steps, its model.keras and SavedModel (the
    latter exported over a stale one), the names in their directory just after, and the raw
    pixels (and their normalized images) it was trained on."""
    from bn_keras.config.settings import Config
    from bn_keras.models.batch_norm import FastBatchNormalization
    from bn_keras.training.compiled_model import build_compiled_model

    model = build_compiled_model(Config(model="lenet", bn=True), steps_per_epoch=10)
    assert isinstance(model.get_layer("conv1_bn"), FastBatchNormalization)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(64 * 3, 28, 28, 1)).astype(np.float32)
    images = input_pipeline.normalize(pixels, MNIST)
    model.fit(images, rng.integers(0, 10, len(pixels)), batch_size=64, epochs=1, verbose=0)
    bn = model.get_layer("fc1_bn")  # statistics far from the initial ones: inference mode matters
    bn.moving_mean.assign(np.linspace(-1, 1, 120).astype(np.float32))
    bn.moving_variance.assign(np.linspace(0.5, 2, 120).astype(np.float32))
    path = tmp_path_factory.mktemp("export")
    export.save_keras_model(model, path / "model.keras")
    (path / "saved_model").mkdir()
    (path / "saved_model" / "stale.txt").write_text("old export")
    export.export_saved_model(model, path / "saved_model", MNIST)
    return types.SimpleNamespace(
        model=model,
        path=path,
        names=sorted(p.name for p in path.iterdir()),
        pixels=pixels,
        images=images,
    )


def test_export_replaces_atomically(exported):
    saved_model = exported.path / "saved_model"
    assert not (saved_model / "stale.txt").exists() and (saved_model / "saved_model.pb").is_file()
    assert exported.names == ["model.keras", "saved_model"]


# A process that imports only Keras and TensorFlow: loads both files and answers with each, then
# (given a second argument) runs saved_model_cli on the SavedModel, as its console script does.
STOCK_LOADER = """
import sys
import keras, numpy as np, tensorflow as tf
run = sys.argv[1]
model = keras.models.load_model(run + "/model.keras")
pixels = np.load(run + "/pixels.npy")
serve = tf.saved_model.load(run + "/saved_model").signatures["serving_default"]
np.save(run + "/stock_keras.npy", model(np.load(run + "/inputs.npy"), training=False))
served = serve(pixels=tf.constant(pixels))
np.save(run + "/stock_saved_model.npy", served["probabilities"])
np.save(run + "/stock_saved_model_class.npy", served["class"])
print(sorted({type(layer).__name__ for layer in model.layers}))
print("iterations", int(model.optimizer.iterations))
print("bn_keras imported:", any(name.startswith("bn_keras") for name in sys.modules))
if len(sys.argv) > 2:
    from importlib.metadata import entry_points

    (command,) = entry_points(group="console_scripts", name="saved_model_cli")
    sys.argv = [
        "saved_model_cli", "run", "--dir", run + "/saved_model", "--tag_set", "serve",
        "--signature_def", "serving_default", "--inputs", "pixels=" + run + "/pixels.npy",
    ]
    print("saved_model_cli:", flush=True)
    try:
        command.load()()
    except SystemExit as exit:
        print("saved_model_cli exit status", exit.code or 0)
    except Exception as err:  # its own test's failure, not the stock loader's
        print("saved_model_cli failed:", repr(err))
"""


@pytest.fixture(scope="module")
def stock_process(exported) -> subprocess.CompletedProcess:
    """STOCK_LOADER run on the exported files (and saved_model_cli, where it is installed)."""
    np.save(exported.path / "pixels.npy", exported.pixels[:5])
    np.save(exported.path / "inputs.npy", exported.images[:5])
    with_cli = ["saved_model_cli"] if SAVED_MODEL_CLI else []
    return subprocess.run(
        [sys.executable, "-c", STOCK_LOADER, str(exported.path), *with_cli],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_files_of_a_fast_bn_model_load_and_serve_in_stock_keras(exported, stock_process):
    """model.keras and the SavedModel of a trained FastBatchNormalization network load in a
    process that imports only Keras and TensorFlow, and answer as the model does."""
    proc = stock_process
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "['Activation', 'BatchNormalization', 'Conv2D'," in proc.stdout
    assert "iterations 3" in proc.stdout and "bn_keras imported: False" in proc.stdout
    logits = exported.model(exported.images[:5], training=False).numpy()
    stock_keras = np.load(exported.path / "stock_keras.npy")
    np.testing.assert_allclose(stock_keras, logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        np.load(exported.path / "stock_saved_model.npy"),
        tf.nn.softmax(logits),
        rtol=1e-5,
        atol=1e-6,
    )


def test_serving_signature_takes_raw_pixels(exported, stock_process):
    """The SavedModel, in the stock process, answers raw pixels with the model's classes (as
    int64) on their normalized images; its probabilities: the test above."""
    assert stock_process.returncode == 0, stock_process.stderr[-3000:]
    classes = np.load(exported.path / "stock_saved_model_class.npy")
    logits = exported.model(input_pipeline.normalize(exported.pixels[:5], MNIST), training=False)
    np.testing.assert_array_equal(classes, np.argmax(logits, -1))
    assert classes.dtype == np.int64


@pytest.mark.skipif(not SAVED_MODEL_CLI, reason="saved_model_cli not on PATH")
def test_saved_model_cli_runs_it(stock_process):
    assert stock_process.returncode == 0, stock_process.stderr[-3000:]
    _, cli_output = stock_process.stdout.split("saved_model_cli:\n")
    assert "probabilities" in cli_output and "class" in cli_output
    assert cli_output.strip().endswith("saved_model_cli exit status 0"), cli_output[-2000:]
