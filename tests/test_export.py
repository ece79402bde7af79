"""The SavedModel takes raw pixels and answers like the Keras model on normalized ones."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from bn_keras.config import datasets
from bn_keras.data import input_pipeline
from bn_keras.models import networks as models
from bn_keras.training import export

MNIST = datasets.get("mnist")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = models.build_model("lenet", bn=True)
    bn = model.get_layer("fc1_bn")  # non-trivial moving statistics, so inference mode matters
    bn.moving_mean.assign(np.linspace(-1, 1, 120).astype(np.float32))
    bn.moving_variance.assign(np.linspace(0.5, 2, 120).astype(np.float32))
    path = tmp_path_factory.mktemp("export") / "saved_model"
    export.export_saved_model(model, path, MNIST)
    return model, path


def test_serving_signature_takes_raw_pixels(exported):
    model, path = exported
    pixels = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28, 1)).astype(np.float32)
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    out = serve(pixels=tf.constant(pixels))
    logits = model(input_pipeline.normalize(pixels, MNIST), training=False).numpy()
    expected = tf.nn.softmax(logits).numpy()
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["class"].numpy(), np.argmax(logits, -1))
    assert out["class"].dtype == tf.int64


def test_export_replaces_atomically(exported, tmp_path):
    model, _ = exported
    path = tmp_path / "saved_model"
    path.mkdir()
    (path / "stale.txt").write_text("old export")
    export.export_saved_model(model, path, MNIST)
    assert not (path / "stale.txt").exists() and (path / "saved_model.pb").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["saved_model"]


@pytest.mark.skipif(shutil.which("saved_model_cli") is None, reason="saved_model_cli not on PATH")
def test_saved_model_cli_runs_it(exported, tmp_path):
    _, path = exported
    np.save(tmp_path / "pixels.npy", np.full((2, 28, 28, 1), 128, np.float32))
    proc = subprocess.run(
        [
            "saved_model_cli",
            "run",
            "--dir",
            str(path),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--inputs",
            f"pixels={tmp_path / 'pixels.npy'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "probabilities" in proc.stdout and "class" in proc.stdout


STOCK_LOADER = """
import sys
import keras, numpy as np, tensorflow as tf
run = sys.argv[1]
model = keras.models.load_model(run + "/model.keras")
pixels = np.load(run + "/pixels.npy")
serve = tf.saved_model.load(run + "/saved_model").signatures["serving_default"]
np.save(run + "/stock_keras.npy", model(np.load(run + "/inputs.npy"), training=False))
np.save(run + "/stock_saved_model.npy", serve(pixels=tf.constant(pixels))["probabilities"])
print(sorted({type(layer).__name__ for layer in model.layers}))
print("iterations", int(model.optimizer.iterations))
print("bn_keras imported:", any(name.startswith("bn_keras") for name in sys.modules))
"""


def test_files_of_a_fast_bn_model_load_and_serve_in_stock_keras(tmp_path):
    """model.keras and the SavedModel of a trained FastBatchNormalization network load in a
    process that imports only Keras and TensorFlow, and answer as the model does."""
    from bn_keras.config.settings import Config
    from bn_keras.models.batch_norm import FastBatchNormalization
    from bn_keras.training.compiled_model import build_compiled_model

    model = build_compiled_model(Config(model="lenet", bn=True), steps_per_epoch=10)
    assert isinstance(model.get_layer("conv1_bn"), FastBatchNormalization)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(64 * 3, 28, 28, 1)).astype(np.float32)
    images = input_pipeline.normalize(pixels, MNIST)
    model.fit(images, rng.integers(0, 10, len(pixels)), batch_size=64, epochs=1, verbose=0)
    export.save_keras_model(model, tmp_path / "model.keras")
    export.export_saved_model(model, tmp_path / "saved_model", MNIST)
    np.save(tmp_path / "pixels.npy", pixels[:5])
    np.save(tmp_path / "inputs.npy", images[:5])
    proc = subprocess.run(
        [sys.executable, "-c", STOCK_LOADER, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "['Activation', 'BatchNormalization', 'Conv2D'," in proc.stdout
    assert "iterations 3" in proc.stdout and "bn_keras imported: False" in proc.stdout
    logits = model(images[:5], training=False).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "stock_keras.npy"), logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        np.load(tmp_path / "stock_saved_model.npy"), tf.nn.softmax(logits), rtol=1e-5, atol=1e-6
    )
