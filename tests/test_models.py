"""Parameter counts and BatchNorm placement of the six networks."""

import keras
import numpy as np
import pytest

from bn_keras.config import settings as config_settings
from bn_keras.models import networks as models

# (model, bn) -> (trainable, non-trainable), from the issue and the original PyTorch models.
EXPECTED_COUNTS = {
    ("mlp", False): (99_710, 0),
    ("mlp", True): (100_010, 600),
    ("lenet", False): (61_706, 0),
    ("lenet", True): (61_932, 452),
    ("lenetr", False): (61_706, 0),
    ("lenetr", True): (61_932, 452),
}


def _count(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize(("name", "bn"), list(EXPECTED_COUNTS))
def test_parameter_counts(name, bn):
    model = models.build_model(name, bn=bn)
    trainable, non_trainable = EXPECTED_COUNTS[(name, bn)]
    assert _count(model.trainable_weights) == trainable
    assert _count(model.non_trainable_weights) == non_trainable


@pytest.mark.parametrize("name", models.MODEL_NAMES)
@pytest.mark.parametrize("bn", [False, True])
def test_bn_sits_between_affine_op_and_activation(name, bn):
    model = models.build_model(name, bn=bn)
    layers = model.layers
    affine = [
        i
        for i, layer in enumerate(layers)
        if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)
    ]
    *hidden, output = affine
    for i in hidden:
        op = layers[i]
        if bn:
            assert not op.use_bias, op.name
            norm, act = layers[i + 1], layers[i + 2]
            assert isinstance(norm, keras.layers.BatchNormalization), op.name
            assert norm.name == f"{op.name}_bn"
            # One mean/variance per channel (conv) or unit (dense).
            assert norm.moving_mean.shape == (op.filters if hasattr(op, "filters") else op.units,)
        else:
            assert op.use_bias, op.name
            act = layers[i + 1]
        assert isinstance(act, keras.layers.Activation), op.name
        expected = "relu" if name == "lenetr" else "sigmoid"
        assert act.name == f"{op.name}_{expected}"
    last = layers[output]
    assert last.name == "logits" and last.use_bias and last is layers[-1]
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in layers) or bn


def test_logits_shape_and_no_softmax():
    model = models.build_model("lenet", bn=True)
    out = model(np.zeros((3, 28, 28, 1), np.float32), training=False)
    assert out.shape == (3, 10)
    assert not np.allclose(np.sum(np.asarray(out), axis=-1), 1.0)


def test_pytorch_init_bounds():
    model = models.build_model("mlp", bn=False, init="pytorch")
    kernel, bias = model.get_layer("fc1").get_weights()
    bound = 1 / np.sqrt(784)
    assert np.abs(kernel).max() <= bound and np.abs(bias).max() <= bound
    assert np.abs(kernel).max() > 0.9 * bound and np.abs(bias).max() > 0.5 * bound
    glorot = models.build_model("mlp", bn=False, init="glorot")
    assert np.all(glorot.get_layer("fc1").get_weights()[1] == 0)


def test_bn_options_reach_layers():
    model = models.build_model("lenetr", bn=True, bn_options=models.BnOptions(0.8, 1e-3))
    norm = model.get_layer("conv1_bn")
    assert norm.momentum == pytest.approx(0.8) and norm.epsilon == pytest.approx(1e-3)


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model"):
        models.build_model("resnet", bn=False)


def test_the_registry_builds_exactly_the_models_config_accepts():
    # config.settings.MODELS is the one list (flags, validation); the registry must match it.
    assert tuple(models._BUILDERS) == config_settings.MODELS == models.MODEL_NAMES
    for name in config_settings.MODELS:
        hidden = [
            layer.name
            for layer in models.build_model(name, bn=False).layers
            if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)
        ][:-1]
        assert tuple(hidden) == config_settings.HIDDEN_LAYERS[name]
