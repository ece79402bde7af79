"""Parameter counts and BatchNorm placement of the six networks."""

import keras
import numpy as np
import pytest

from bn_keras.config import settings as config_settings
from bn_keras.models import networks as models

# The original PyTorch models, layer by layer: (inputs per output unit, output units). MLP:
# 784-100-100-100-10. LeNet-5: 5x5 convolutions 1->6 ('same') and 6->16 ('valid', on 14x14 after
# pooling: 10x10, pooled to 5x5), then 400-120-84-10.
AFFINE = {
    "mlp": [(784, 100), (100, 100), (100, 100), (100, 10)],
    "lenet": [(5 * 5 * 1, 6), (5 * 5 * 6, 16), (5 * 5 * 16, 120), (120, 84), (84, 10)],
}
AFFINE["lenetr"] = AFFINE["lenet"]


def expected_counts(name: str, bn: bool) -> tuple[int, int]:
    """(trainable, non-trainable) parameters: weights and biases; with BN, each hidden layer's
    bias gives way to BN's gamma and beta (trainable) and moving mean and variance (not)."""
    *hidden, (fan_in, classes) = AFFINE[name]
    weights = sum(n_in * n_out for n_in, n_out in AFFINE[name])
    hidden_units = sum(n_out for _, n_out in hidden)
    trainable = weights + classes + (2 if bn else 1) * hidden_units
    return trainable, 2 * hidden_units if bn else 0


def test_counts_match_the_published_ones():
    # The figures PyTorch's models report (issue 1), against the derivation above.
    assert expected_counts("mlp", False) == (99_710, 0)
    assert expected_counts("lenet", True) == (61_932, 452)


def _count(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize("name", models.MODEL_NAMES)
@pytest.mark.parametrize("bn", [False, True])
def test_parameter_counts(name, bn):
    model = models.build_model(name, bn=bn)
    trainable, non_trainable = expected_counts(name, bn)
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


def _uniform_limit(values: np.ndarray) -> float:
    """The limit b of U(-b, b) estimated from the mean square (b^2 / 3). x^2 has relative standard
    deviation sqrt(4/5) (variance b^4/5 - b^4/9), so b's relative standard error is
    sqrt(4/5) / 2 / sqrt(n) = 0.447 / sqrt(n): 0.16% for fc1's 78,400 weights."""
    return float(np.sqrt(3 * np.mean(values.astype(np.float64) ** 2)))


def test_pytorch_init_is_uniform_within_one_over_sqrt_fan_in():
    model = models.build_model("mlp", bn=False, init="pytorch")
    kernel, bias = model.get_layer("fc1").get_weights()
    bound = 1 / np.sqrt(784)  # PyTorch's nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias too
    assert np.abs(kernel).max() <= bound and np.abs(bias).max() <= bound
    assert _uniform_limit(kernel) == pytest.approx(bound, rel=5 * 0.447 / np.sqrt(kernel.size))
    assert abs(kernel.mean()) < 5 * bound / np.sqrt(3 * kernel.size)  # 5 standard errors
    glorot = models.build_model("mlp", bn=False, init="glorot")
    kernel, bias = glorot.get_layer("fc1").get_weights()
    limit = np.sqrt(6 / (784 + 100))  # Glorot uniform: sqrt(6 / (fan_in + fan_out))
    assert _uniform_limit(kernel) == pytest.approx(limit, rel=5 * 0.447 / np.sqrt(kernel.size))
    assert np.all(bias == 0)


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
