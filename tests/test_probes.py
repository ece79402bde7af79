"""The probes on problems with known answers, and their leaving training untouched."""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import threading
from collections.abc import Iterator
from xml.etree import ElementTree

import keras
import matplotlib.image
import numpy as np
import pytest
import tensorflow as tf

from bn_keras.common.errors import ConfigError
from bn_keras.config import datasets, networks
from bn_keras.config.settings import RESULT_NEUTRAL, Config
from bn_keras.data import input_pipeline
from bn_keras.probes import activations, landscape
from bn_keras.probes.callback import LandscapeProbe, TrainBatches
from bn_keras.reporting.probes import probe_figures, probe_table
from bn_keras.runs.metrics_file import MetricsWriter, read_metrics
from bn_keras.runs.run_dir import ACTIVATIONS_FILE, ICS_FILE, LANDSCAPE_FILE
from bn_keras.training import train

MNIST = datasets.get("mnist")

# 200 tiny training images at batch 32: 7 iterations per epoch, the 7th holding 8 images.
SMALL = dict(batch_size=32, eval_every=10, train_steps=20, test_batch_size=40, export=False)
PROBES = dict(probe_every=10, landscape_every=10, probe_units=2)


def test_percentiles_of_a_fixed_tensor():
    rng = np.random.default_rng(0)
    # Dense layout [N, units]: unit j holds 0..100 + 1000 j in a random order.
    dense = np.stack([rng.permutation(101) + 1000.0 * j for j in range(4)], axis=1)
    np.testing.assert_allclose(
        activations.unit_percentiles(dense, [1, 3]), [[1015, 1050, 1085], [3015, 3050, 3085]]
    )
    # Conv layout [N, H, W, C]: a channel's values are taken over examples and positions.
    conv = rng.normal(size=(7, 5, 3, 2))
    expected = np.percentile(conv[..., 1].ravel(), [15, 50, 85])
    np.testing.assert_allclose(activations.unit_percentiles(conv, [1])[0], expected)


def test_layer_and_unit_choice():
    models = {}
    for name, network in networks.NETWORKS.items():  # the declaration's, for validation
        layers = network.hidden_layers
        models[name] = train.build_compiled_model(Config(model=name, bn=True), steps_per_epoch=7)
        assert activations.hidden_layers(models[name]) == list(layers)
    lenet = models["lenet"]
    assert activations.choose_layers(lenet, "fc2, conv1") == ["conv1", "fc2"]
    with pytest.raises(ConfigError, match="fc3"):
        activations.choose_layers(lenet, "fc3")
    assert activations.choose_units(100, 3) == [0, 50, 99]
    assert activations.choose_units(6, 10) == [0, 1, 2, 3, 4, 5]


def test_activation_probe_reads_the_pre_activations(tiny_mnist):
    model = train.build_compiled_model(Config(model="mlp"), steps_per_epoch=7)
    images = input_pipeline.normalize(tiny_mnist.test_images, MNIST)
    probe = activations.ActivationProbe(model, ["fc1", "fc2"], 3, images)
    row = probe.measure()
    x = np.asarray(images).reshape(len(images), -1)
    w1, b1, w2, b2 = (
        np.asarray(v) for v in model.get_layer("fc1").weights + model.get_layer("fc2").weights
    )
    z1 = x @ w1 + b1
    z2 = (1 / (1 + np.exp(-z1))) @ w2 + b2
    for layer, z in (("fc1", z1), ("fc2", z2)):
        for unit in (0, 50, 99):
            expected = np.percentile(z[:, unit], [15, 50, 85])
            got = [row[f"{layer}:{unit}:p{q}"] for q in (15, 50, 85)]
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def _least_squares(n=40, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.normal(size=(n, 1)).astype(np.float32)
    model = keras.Sequential([keras.Input((d,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].kernel.assign(rng.normal(size=(d, 1)).astype(np.float32))
    return model, x, y


def test_landscape_of_linear_least_squares_is_the_exact_quadratic():
    """L(w) = mean((Xw - y)^2): g = H w - 2 X^T y / n with H = 2 X^T X / n, so along -g
    L(w - eta g) = L(w) - eta |g|^2 + eta^2 g^T H g / 2 exactly, grad(w - eta g) - g = -eta H g,
    and the effective smoothness is |H g| / |g| at every eta."""
    model, x, y = _least_squares()
    loss = landscape.stateless_loss(model, keras.losses.MeanSquaredError())
    etas = [0.01, 0.05, 0.2, 0.5]
    got = landscape.measure_landscape(loss, landscape.current_weights(model), x, y, etas)

    X, Y, w = x.astype(np.float64), y.astype(np.float64), np.asarray(model.weights[0], np.float64)
    n = len(X)
    hessian = 2 * X.T @ X / n
    g = hessian @ w - 2 * X.T @ Y / n
    loss0 = float(np.mean((X @ w - Y) ** 2))
    along = [loss0 - e * (g.T @ g).item() + e**2 * (g.T @ hessian @ g).item() / 2 for e in etas]
    diffs = [e * np.linalg.norm(hessian @ g) for e in etas]
    assert got.loss == pytest.approx(loss0, rel=1e-5)
    assert got.grad_norm == pytest.approx(np.linalg.norm(g), rel=1e-5)
    assert got.loss_min == pytest.approx(min(along), rel=1e-4)
    assert got.loss_max == pytest.approx(max(along), rel=1e-4)
    assert got.grad_diff_min == pytest.approx(min(diffs), rel=1e-4)
    assert got.grad_diff_max == pytest.approx(max(diffs), rel=1e-4)
    assert got.beta_smoothness == pytest.approx(
        np.linalg.norm(hessian @ g) / np.linalg.norm(g), rel=1e-4
    )


def test_internal_covariate_shift_of_a_two_layer_linear_network():
    """f(x) = x A b: the first layer's ICS is exactly 0; the second layer's G' is its gradient
    after A alone moved, 2 (XA')^T (XA'b - y) / n, computed here in numpy."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 5)).astype(np.float32)
    y = rng.normal(size=(30, 1)).astype(np.float32)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(3, use_bias=False, name="first"),
            keras.layers.Dense(1, use_bias=False, name="second"),
        ]
    )
    loss = landscape.stateless_loss(model, keras.losses.MeanSquaredError())
    weights = landscape.current_weights(model)
    _, grads = loss(weights, x, y)
    update = [tf.constant(rng.normal(size=w.shape), tf.float32) * 0.1 for w in weights]
    groups = landscape.layer_groups(model)
    assert groups == {"first": [0], "second": [1]}
    shifts = landscape.internal_covariate_shift(loss, weights, grads, update, groups, x, y)
    assert shifts["first"].l2 == 0.0 and shifts["first"].cosine == pytest.approx(1.0)

    X, Y = x.astype(np.float64), y.astype(np.float64)
    a, b = (np.asarray(w, np.float64) for w in weights)
    moved = X @ (a + np.asarray(update[0], np.float64))
    g_before = 2 * (X @ a).T @ (X @ a @ b - Y) / len(X)
    g_after = 2 * moved.T @ (moved @ b - Y) / len(X)
    assert shifts["second"].l2 == pytest.approx(np.linalg.norm(g_before - g_after), rel=1e-4)
    cosine = float(g_before.ravel() @ g_after.ravel())
    cosine /= np.linalg.norm(g_before) * np.linalg.norm(g_after)
    assert shifts["second"].cosine == pytest.approx(cosine, rel=1e-5)


@pytest.fixture(scope="module")
def trained_lenet_bn(tiny_mnist):
    """A LeNet-5 with BN after three real training steps: nonzero Adadelta state, moved BN stats.
    Shared by the module's tests: a test that trains it further puts its state back."""
    keras.utils.set_random_seed(0)
    model = train.build_compiled_model(Config(model="lenet", bn=True), steps_per_epoch=7)
    batches = TrainBatches(tiny_mnist.train_images, tiny_mnist.train_labels, 32, 0, MNIST)
    for k in range(3):
        model.train_on_batch(*batches(k))
    return model, batches


@contextlib.contextmanager
def _state_restored(model: keras.Model) -> Iterator[None]:
    """Puts the model's and its optimizer's variables back as they were on entry."""
    state = [*model.variables, *model.optimizer.variables]
    saved = [np.array(v) for v in state]
    try:
        yield
    finally:
        for variable, value in zip(state, saved, strict=True):
            variable.assign(value)


def test_adadelta_update_is_the_step_training_takes(trained_lenet_bn):
    model, batches = trained_lenet_bn
    x, y = batches(3)
    loss = landscape.stateless_loss(model, train.recipe.make_loss())
    weights = landscape.current_weights(model)
    _, grads = loss(weights, x, y)
    update = landscape.adadelta_update(model.optimizer, grads, model.trainable_variables)
    with _state_restored(model):
        model.train_on_batch(x, y)
        taken = [np.asarray(v) - np.asarray(w) for v, w in zip(model.trainable_variables, weights)]
    for predicted, actual in zip(update, taken):
        np.testing.assert_allclose(predicted, actual, rtol=2e-3, atol=1e-6)


def test_probes_change_nothing(trained_lenet_bn, tiny_mnist):
    model, batches = trained_lenet_bn
    state = [*model.variables, *model.optimizer.variables]
    before = [np.array(v) for v in state]
    images = input_pipeline.normalize(tiny_mnist.test_images, MNIST)
    activations.ActivationProbe(model, ["conv1", "fc2"], 2, images).measure()
    landscape_row, ics_row = LandscapeProbe(
        model, train.recipe.make_loss(), batches, 3, 4.0
    ).measure(3)
    for variable, old in zip(state, before):
        np.testing.assert_array_equal(np.array(variable), old, err_msg=variable.path)
    assert landscape_row["eta_min"] == pytest.approx(landscape_row["eta_eff"] / 4)
    assert landscape_row["loss_min"] <= landscape_row["loss_max"]
    assert ics_row["conv1:ics_l2"] == 0.0 and ics_row["conv1:ics_cos"] == pytest.approx(1.0)


def test_train_batches_are_the_pipelines(tiny_mnist):
    batches = TrainBatches(tiny_mnist.train_images, tiny_mnist.train_labels, 32, 3, MNIST)
    stream = list(
        input_pipeline.train_dataset(
            tiny_mnist.train_images, tiny_mnist.train_labels, 32, seed=3, dataset=MNIST
        ).take(16)
    )
    for k in (0, 6, 7, 13, 15):  # first, partial last of epoch 0, first of epoch 1, ...
        x, y = batches(k)
        np.testing.assert_array_equal(x, stream[k][0])
        np.testing.assert_array_equal(y, stream[k][1])


def test_probe_settings_are_validated_and_result_neutral():
    for name in PROBES:
        assert name in RESULT_NEUTRAL
    assert Config(eval_every=10, train_steps=20, probe_every=5).resolved_steps_per_execution == 5
    with pytest.raises(ConfigError, match="--probe_every=5 must be a multiple"):
        Config(eval_every=10, train_steps=20, steps_per_execution=10, probe_every=5).validate()
    with pytest.raises(ConfigError, match="--landscape_span"):
        Config(landscape_span=0.5).validate()
    Config(model="lenet", probe_layers="fc2, conv1").validate()
    with pytest.raises(ConfigError, match="--probe_layers='fc3'"):
        Config(model="lenet", probe_layers="fc3").validate()


def _rows(run_dir, name):
    return read_metrics(run_dir / name)


def _lenet_bn_run(mnist, run_dir, **probes):
    config = Config(model="lenet", bn=True, deterministic=True, **SMALL, **probes)
    return train.train_and_evaluate(config, run_dir, data=mnist)


@pytest.fixture(scope="module")
def probed_run(tiny_mnist, tmp_path_factory):
    return _lenet_bn_run(tiny_mnist, tmp_path_factory.mktemp("probed") / "run", **PROBES)


def test_training_with_probes_is_bitwise_training_without(tiny_mnist, tmp_path, probed_run):
    plain, probed = _lenet_bn_run(tiny_mnist, tmp_path / "plain"), probed_run
    assert Config(**SMALL, **PROBES).resolved_steps_per_execution == 10  # same compiled calls
    assert [(r["step"], r["train_loss"], r["test_loss"]) for r in plain.rows] == [
        (r["step"], r["train_loss"], r["test_loss"]) for r in probed.rows
    ]
    # Weights, BN statistics and Adadelta's state at the end, through the last checkpoints.
    readers = [
        tf.train.load_checkpoint(str(tf.train.latest_checkpoint(r.run_dir / "checkpoints")))
        for r in (plain, probed)
    ]
    names = [
        n
        for n in readers[0].get_variable_to_shape_map()
        if n.endswith("VARIABLE_VALUE") and "save_counter" not in n
    ]
    assert len(names) > 30
    for name in names:
        np.testing.assert_array_equal(readers[0].get_tensor(name), readers[1].get_tensor(name))
    for name in (ACTIVATIONS_FILE, LANDSCAPE_FILE, ICS_FILE):
        assert not (plain.run_dir / name).exists()
        assert [r["step"] for r in _rows(probed.run_dir, name)] == [0, 10, 20]
    # step, 3 percentiles of each probed unit of every hidden layer, probe_s.
    units = len(networks.LENET.hidden_layers) * PROBES["probe_units"]
    assert len(_rows(probed.run_dir, ACTIVATIONS_FILE)[0]) == 1 + 3 * units + 1


def test_resume_continues_probe_files_without_duplicates(tiny_mnist, tmp_path):
    config = Config(
        model="mlp",
        bn=True,
        **dict(SMALL, eval_every=5, train_steps=10),
        **dict(PROBES, probe_every=5),
    )
    stop = threading.Event()
    stop.set()  # stops at the first callback: iteration 5, checkpointed
    first = train.train_and_evaluate(config, tmp_path / "run", data=tiny_mnist, stop_request=stop)
    assert first.interrupted_at == 5
    with open(tmp_path / "run" / ACTIVATIONS_FILE, "a") as f:  # as if written after the checkpoint
        f.write("7" + ",0" * (len(_rows(tmp_path / "run", ACTIVATIONS_FILE)[0]) - 1) + "\n")
    train.train_and_evaluate(config, tmp_path / "run", data=tiny_mnist)
    steps = [r["step"] for r in _rows(tmp_path / "run", ACTIVATIONS_FILE)]
    assert steps == [0, 5, 10]
    assert [r["step"] for r in _rows(tmp_path / "run", LANDSCAPE_FILE)] == [0, 10]


def _copy_of_a_run(run_dir, destination, eta_eff_factor: float = 1.0) -> None:
    """A copy of a finished run directory without its checkpoints; the landscape probes'
    eta_eff multiplied by `eta_eff_factor`, so that the copy reads as a different run."""
    shutil.copytree(run_dir, destination, ignore=shutil.ignore_patterns("check*"))
    rows = _rows(destination, LANDSCAPE_FILE)
    (destination / LANDSCAPE_FILE).unlink()
    writer = MetricsWriter(destination / LANDSCAPE_FILE, list(rows[0]))
    for row in rows:
        writer.append({**row, "eta_eff": row["eta_eff"] * eta_eff_factor})


def _colour_count(png: np.ndarray) -> int:
    """The number of distinct colours of an image `matplotlib.image.imread` read from an 8-bit
    PNG: each pixel's channels packed into one integer, which np.unique sorts far faster than
    rows of floats."""
    packed = np.zeros(png.shape[:2], np.uint32)
    for channel in range(png.shape[-1]):
        packed = packed << 8 | np.round(png[..., channel] * 255).astype(np.uint32)
    return len(np.unique(packed))


def test_figures_and_table_from_probed_runs(probed_run, tmp_path, cli):
    """The pair's two runs are copies of one trained run (the figures and the table read only
    its files, and a pair's columns have the same layout whether or not BN is on); the copy in
    the without-BN arm has a different eta_eff, so that the table's columns can be told apart."""
    _copy_of_a_run(probed_run.run_dir, tmp_path / "lenet_bn_seed0")
    _copy_of_a_run(probed_run.run_dir, tmp_path / "lenet_seed0", eta_eff_factor=3.0)
    proc = cli.run(
        "bn_keras.probes.plot", str(tmp_path), "--command=./run_all.sh --probes", timeout=180
    )
    assert proc.returncode == 0, proc.stderr

    pair = probe_figures.probe_pairs(tmp_path)["lenet"][0]
    figures = {
        "activations_lenet": probe_figures.activations_figure,
        "activations_grid_lenet": probe_figures.activations_grid,
        "landscape_lenet": probe_figures.landscape_figure,
        "ics_lenet": probe_figures.ics_figure,
    }
    for stem, draw in figures.items():
        png = matplotlib.image.imread(tmp_path / f"{stem}.png")
        width, height = draw(pair).get_size_inches() * 150  # save_figure's dpi
        assert png.shape[:2] == (round(height), round(width)), stem
        assert _colour_count(png) > 10, stem  # not blank
        assert ElementTree.parse(tmp_path / f"{stem}.svg").getroot().tag.endswith("svg")
    summary = (tmp_path / "summary.md").read_text()
    assert "Command: `./run_all.sh --probes`" in summary
    table_rows = [line for line in summary.splitlines() if line.startswith("| `lenet` |")]
    assert len(table_rows) == len(probe_table.MEASURES)
    # The eta_eff row: each run's median over its probe steps in the second half (step 20 of
    # 20 here), one seed per arm.
    medians = [
        f"{np.median([r['eta_eff'] for r in _rows(tmp_path / n, LANDSCAPE_FILE) if r['step'] > 10]):.3g}"  # noqa: E501
        for n in ("lenet_seed0", "lenet_bn_seed0")
    ]
    assert medians[0] != medians[1]  # two different runs
    eta_row = next(line for line in table_rows if "eta_eff" in line)
    assert eta_row.split(" | ")[2:5] == ["1 (provisional)", *medians]
    assert "| `lenet_seed0` |" in summary and "| `lenet_bn_seed0` |" in summary
    with pytest.raises(FileNotFoundError, match="no <experiment>_seed<N> run directories"):
        probe_figures.rebuild(tmp_path / "lenet_seed0", None, None)
    shutil.copytree(tmp_path / "lenet_seed0", tmp_path / "alone" / "lenet_seed0")
    with pytest.raises(FileNotFoundError, match="no pair of probed runs"):
        probe_figures.rebuild(tmp_path / "alone", None, None)


def test_probe_flagfiles_resolve(cli, main_here):
    names = sorted(p.stem for p in (cli.repo / "flags" / "probes").glob("*.flags"))
    assert names == sorted(f"{m}{bn}" for m in ("mlp", "lenet", "lenetr") for bn in ("", "_bn"))
    proc = main_here("--flagfile=flags/probes/lenet_bn.flags", "--print_config")
    assert proc.returncode == 0, proc.stderr
    config = json.loads(proc.stdout)
    assert config["probe_every"] == config["landscape_every"] == 100 and config["bn"]


def _probe_run(root, experiment, seed, scale):
    """A finished run directory with probe files: steps 0-400, every measure `scale` times a
    per-seed factor, grad_diff_max alternating x1.1 and /1.1 between probe steps."""
    from bn_keras.common.atomic import write_json_atomic

    run_dir = root / f"{experiment}_seed{seed}"
    run_dir.mkdir(parents=True)
    config = {"model": "lenet", "train_steps": 400, "probe_every": 100, "landscape_every": 100}
    write_json_atomic(run_dir / "config.json", {"config": config})
    write_json_atomic(run_dir / "result.json", {"train_seconds": 1.0})
    seed_factor = 1 + 0.01 * seed
    metrics = MetricsWriter(run_dir / "metrics.csv")
    landscape_fields = ("step", "loss_max", "loss_min", "grad_diff_max", "beta_smoothness")
    landscape_file = MetricsWriter(
        run_dir / LANDSCAPE_FILE, (*landscape_fields, "eta_eff", "probe_s")
    )
    ics_fields = [f"{n}:{k}" for n in ("l1", "l2") for k in ("ics_l2", "ics_cos", "grad_norm")]
    ics_file = MetricsWriter(run_dir / ICS_FILE, ("step", *ics_fields, "probe_s"))
    activations_file = MetricsWriter(run_dir / ACTIVATIONS_FILE, ("step", "probe_s"))
    for i, step in enumerate(range(0, 500, 100)):
        metrics.append({"step": step, "epoch": 0.0, "learning_rate": 1.0, "train_loss": 0.1,
                        "test_loss": 0.1, "test_accuracy": 0.9, "elapsed_s": 10.0 * i})  # fmt: skip
        wobble = 1.1 if i % 2 else 1 / 1.1
        landscape_file.append({"step": step, "loss_max": 1.0 + 0.05 * seed_factor,
                               "loss_min": 1.0, "grad_diff_max": seed_factor * wobble,
                               "beta_smoothness": scale * seed_factor, "eta_eff": 0.2,
                               "probe_s": 0.1})  # fmt: skip
        ics_file.append({"step": step, "l1:ics_l2": 0.0, "l1:ics_cos": 1.0, "l1:grad_norm": 1.0,
                         "l2:ics_l2": 0.1 * scale * seed_factor, "l2:ics_cos": 0.9,
                         "l2:grad_norm": 1.0, "probe_s": 0.1})  # fmt: skip
        activations_file.append({"step": step, "probe_s": 0.1})


def test_probe_table_one_number_per_run_and_an_interval_over_seeds(tmp_path):
    """Constructed probe files with known answers: beta-smoothness and ICS halved by BN in
    every seed, the loss variation and 1 - cos the same, grad_diff_max wobbling between steps."""
    for seed in range(5):
        _probe_run(tmp_path, "lenet", seed, 2.0)
        _probe_run(tmp_path, "lenet_bn", seed, 1.0)
    pairs = probe_figures.probe_pairs(tmp_path)["lenet"]
    beta = probe_table.measure("effective beta-smoothness", pairs)
    # One number per run: the median over steps 300 and 400 (the second half of 400).
    np.testing.assert_allclose(beta.without, [2.0 * (1 + 0.01 * s) for s in range(5)])
    assert beta.interval.effect == pytest.approx(math.log(0.5))  # BN / no BN = 0.5 exactly
    assert beta.ratio_text().startswith("x0.50 [") and beta.answer() == "**yes**"
    same = probe_table.measure("loss variation: max - min over eta of L(W - eta g)", pairs)
    assert same.interval.effect == pytest.approx(0.0, abs=1e-12)
    assert same.answer() == "**no**: no difference beyond x1.25"
    cos = probe_table.measure("ICS 1 - cos(G, G') (lower: less shift)", pairs)
    assert np.allclose(cos.without, 0.1)  # 1 - 0.9: layer 2 only (the first is left out)
    # Single-batch noise of grad_diff_max: log values alternate by 2 log 1.1, so the within-run
    # SD is sqrt((2 log 1.1)^2 / 2); between seeds the medians spread as log(1 + 0.01 s).
    wobble = probe_table.measure("gradient change: max over eta of ‖grad L(W - eta g) - g‖", pairs)
    within = math.sqrt(2) * math.log(1.1)
    between = float(np.std(np.log(1 + 0.01 * np.arange(5)), ddof=1))
    # (The files hold 6 significant digits.)
    assert wobble.noise.within_sd == pytest.approx(within, rel=1e-5)
    assert wobble.noise.between_sd == pytest.approx(between, rel=1e-4)
    assert wobble.noise.share == pytest.approx(math.pi / 2 * within**2 / 2 / between**2, rel=1e-3)
    # The file: no "(provisional)" at 5 seeds; a rebuild from the same runs changes nothing.
    path = probe_table.write_summary({"lenet": pairs}, tmp_path, "./run_all.sh --probes", "9 s")
    text = path.read_text()
    assert "| `lenet` | effective beta-smoothness | 5 | 2.04 | 1.02 | x0.50 [" in text
    assert "- Command: `./run_all.sh --probes`\n- Wall time of this command: 9 s" in text
    probe_table.write_summary({"lenet": pairs}, tmp_path, "./run_all.sh --probes", "1 s")
    assert path.read_text() == text


def test_probe_table_verdicts_need_two_seeds_and_old_summaries_count_their_runs(tmp_path):
    _probe_run(tmp_path, "lenet", 0, 2.0)
    _probe_run(tmp_path, "lenet_bn", 0, 1.0)
    pairs = probe_figures.probe_pairs(tmp_path)["lenet"]
    assert probe_table.measure("effective beta-smoothness", pairs).answer() == (
        "needs 2+ seeds per arm"
    )
    legacy = "| `mlp` | x | 1 |\n| `mlp_seed0` | 0.96 | 28 |\n| `mlp_bn_seed0` | 0.97 | 40 |\n"
    assert probe_table._legacy_count(legacy) == 2  # noqa: SLF001 - the old header's run count
