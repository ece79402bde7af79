"""The SavedModel takes raw pixels and answers like the Keras model on normalized ones."""

import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from bn_keras.data import input_pipeline
from bn_keras.models import networks as models
from bn_keras.training import export


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = models.build_model("lenet", bn=True)
    bn = model.get_layer("fc1_bn")  # non-trivial moving statistics, so inference mode matters
    bn.moving_mean.assign(np.linspace(-1, 1, 120).astype(np.float32))
    bn.moving_variance.assign(np.linspace(0.5, 2, 120).astype(np.float32))
    path = tmp_path_factory.mktemp("export") / "saved_model"
    export.export_saved_model(model, path)
    return model, path


def test_serving_signature_takes_raw_pixels(exported):
    model, path = exported
    pixels = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28, 1)).astype(np.float32)
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    out = serve(pixels=tf.constant(pixels))
    logits = model(input_pipeline.normalize(pixels), training=False).numpy()
    expected = tf.nn.softmax(logits).numpy()
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["class"].numpy(), np.argmax(logits, -1))
    assert out["class"].dtype == tf.int64


def test_export_replaces_atomically(exported, tmp_path):
    model, _ = exported
    path = tmp_path / "saved_model"
    path.mkdir()
    (path / "stale.txt").write_text("old export")
    export.export_saved_model(model, path)
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
