"""Parameter counts and BatchNorm placement of the six networks and of the explanation grid's
variants."""

import keras
import numpy as np
import pytest

from bn_keras.config import names, networks
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
    # The figures PyTorch's models report, against the derivation above.
    assert expected_counts("mlp", False) == (99_710, 0)
    assert expected_counts("lenet", True) == (61_932, 452)


def _count(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


@pytest.mark.parametrize("name", names.MODELS)
@pytest.mark.parametrize("bn", [False, True])
def test_parameter_counts(name, bn):
    model = models.build_model(name, bn=bn)
    trainable, non_trainable = expected_counts(name, bn)
    assert _count(model.trainable_weights) == trainable
    assert _count(model.non_trainable_weights) == non_trainable


@pytest.mark.parametrize("name", names.MODELS)
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


# The six networks' (trainable, non-trainable) counts as built before the width, depth and
# activation keywords existed (at f345fa2): the defaults must still give exactly these.
TODAYS_COUNTS = {
    ("mlp", False): (99_710, 0),
    ("mlp", True): (100_010, 600),
    ("lenet", False): (61_706, 0),
    ("lenet", True): (61_932, 452),
    ("lenetr", False): (61_706, 0),
    ("lenetr", True): (61_932, 452),
}


@pytest.mark.parametrize(("name", "bn"), list(TODAYS_COUNTS))
def test_the_defaults_give_todays_networks(name, bn):
    default = models.build_model(name, bn=bn)
    explicit = models.build_model(name, bn=bn, width=1.0, mlp_depth=3, activation="auto")
    for model in (default, explicit):
        assert (_count(model.trainable_weights), _count(model.non_trainable_weights)) == (
            TODAYS_COUNTS[name, bn]
        )
    assert [layer.name for layer in default.layers] == [layer.name for layer in explicit.layers]


# The grid's variants, counted by hand (weights + biases; with BN each hidden bias becomes gamma and
# beta, plus a moving mean and variance per unit, not trainable):
# - LeNet-5 x0.25: channels 1.5 -> 2 and 4, units 30 and 21. conv1 5*5*1*2 + 2 = 52, conv2
#   5*5*2*4 + 4 = 204, fc1 (5*5*4 = 100 inputs) 100*30 + 30 = 3,030, fc2 30*21 + 21 = 651, logits
#   21*10 + 10 = 220: 4,157. With BN: 4,090 weights + 10 + 2 * 57 hidden units = 4,214, and 114.
# - LeNet-5 x2: 12, 32, 240, 168. conv1 25*12 + 12 = 312, conv2 25*12*32 + 32 = 9,632, fc1 (800
#   inputs) 800*240 + 240 = 192,240, fc2 240*168 + 168 = 40,488, logits 1,680 + 10 = 1,690:
#   244,362.
# - MLP with 6 hidden layers: 784*100 + 5 * 100*100 + 100*10 = 129,400 weights; + 610 biases =
#   130,010. With BN: 129,400 + 10 + 2 * 600 = 130,610, and 1,200.
# - MLP with 10 hidden layers x0.5 (50 units): 784*50 + 9 * 50*50 + 50*10 = 62,200 weights;
#   + 510 biases = 62,710.
VARIANTS = [
    ("lenetr", False, {"width": 0.25}, (4_157, 0)),
    ("lenet", True, {"width": 0.25}, (4_214, 114)),
    ("lenetr", False, {"width": 2.0}, (244_362, 0)),
    ("mlp", False, {"mlp_depth": 6, "activation": "relu"}, (130_010, 0)),
    ("mlp", True, {"mlp_depth": 6}, (130_610, 1_200)),
    ("mlp", False, {"mlp_depth": 10, "width": 0.5}, (62_710, 0)),
]


@pytest.mark.parametrize(("name", "bn", "variant", "counts"), VARIANTS)
def test_variant_parameter_counts(name, bn, variant, counts):
    model = models.build_model(name, bn=bn, **variant)
    assert (_count(model.trainable_weights), _count(model.non_trainable_weights)) == counts


def test_width_rounds_half_up_and_keeps_one_unit():
    assert [networks.scaled(n, 0.25) for n in (6, 16, 120, 84, 100)] == [2, 4, 30, 21, 25]
    assert [networks.scaled(n, 0.5) for n in (6, 16, 120, 84)] == [3, 8, 60, 42]
    assert networks.scaled(6, 0.01) == 1  # 0.06 rounds to 0: a layer keeps one unit


def test_depth_and_activation_name_the_layers():
    model = models.build_model("mlp", bn=True, mlp_depth=10, activation="relu")
    dense = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert dense == [f"fc{i}" for i in range(1, 11)] + ["logits"]
    assert model.get_layer("fc10_relu").activation is keras.activations.relu
    sigmoid = models.build_model("lenetr", bn=False, activation="sigmoid")
    assert sigmoid.get_layer("conv1_sigmoid").activation is keras.activations.sigmoid


@pytest.mark.parametrize(
    ("name", "variant", "match"),
    [("lenet", {"mlp_depth": 6}, "mlp_depth=6 is the MLP's"), ("mlp", {"width": 0.0}, "positive")],
)
def test_variants_a_network_cannot_take_are_refused(name, variant, match):
    with pytest.raises(ValueError, match=match):
        models.build_model(name, bn=False, **variant)


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown model"):
        models.build_model("resnet", bn=False)


def test_each_declared_network_builds_its_declared_hidden_layers_and_activation():
    # The declaration (bn_keras/config/networks.py) is what validation and the probes read.
    for name, network in networks.NETWORKS.items():
        built = models.build_model(name, bn=False)
        hidden = [
            layer.name
            for layer in built.layers
            if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)
        ][:-1]
        assert tuple(hidden) == network.hidden_layers
        assert built.get_layer(f"{hidden[0]}_{network.activation}")
