"""The confirmatory rule on constructed arms: each cell of the verdict, too few runs, Holm across
the family, the image-sampling variance by hand, the bootstrap, the failure rule for a diverged
run, the capacity case of the existing grid, power, and the summary from run directories."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from bn_keras.config import datasets
from bn_keras.experiments import confirm
from bn_keras.reporting.why import confirm_report, confirm_runs, confirmatory, image_sampling, power
from bn_keras.reporting.why.confirmatory import NOT_SUPPORTED, SUPPORTED, UNDECIDED, Arm

MARGIN = 0.002


def _values(mean: float, sd: float, n: int = 5) -> tuple[float, ...]:
    """n values with exactly this mean and sample SD."""
    z = np.linspace(-1, 1, n)
    z = z / z.std(ddof=1) if n > 1 else z
    return tuple(mean + sd * z)


def _difference(effect: float, sd: float, n: int = 5, margin: float = MARGIN):
    """A two-arm contrast (b - a) whose estimate is `effect`, each arm's SD `sd`."""
    contrast = confirmatory.Contrast("mnist", "growth", (("a", -1.0), ("b", 1.0)), margin)
    arms = {"a": Arm("a", _values(0.98, sd, n)), "b": Arm("b", _values(0.98 + effect, sd, n))}
    return confirmatory.estimate(contrast, arms)


def _read_alone(estimate):
    return confirmatory.read_family([estimate])[0]


@pytest.mark.parametrize(
    ("effect", "sd", "outcome", "words"),
    [
        (0.005, 0.0005, SUPPORTED, "a growth of 0.002 or more is not excluded"),
        (0.001, 0.0001, NOT_SUPPORTED, "grows, but by less than 0.002"),
        (0.0, 0.0002, NOT_SUPPORTED, "smaller than 0.002, possibly none"),
        (-0.003, 0.0003, NOT_SUPPORTED, "of the opposite sign"),
        (0.001, 0.003, UNDECIDED, "allow a growth of 0.002 or more and none"),
    ],
)
def test_each_cell_of_the_rule(effect, sd, outcome, words):
    reading = _read_alone(_difference(effect, sd))
    assert reading.outcome == outcome
    assert words in reading.sentence
    assert f"{effect:+.4f}" in reading.sentence


def test_the_cells_follow_the_two_holm_decisions():
    supported = _read_alone(_difference(0.005, 0.0005))
    assert supported.holm_present < 0.05 <= supported.holm_small
    both = _read_alone(_difference(0.001, 0.0001))
    assert both.holm_present < 0.05 and both.holm_small < 0.05
    neither = _read_alone(_difference(0.001, 0.003))
    assert neither.holm_present >= 0.05 and neither.holm_small >= 0.05


def test_too_few_runs_is_undecided_and_counts_as_p_1():
    contrast = confirmatory.Contrast("mnist", "growth", (("a", -1.0), ("b", 1.0)), MARGIN)
    short = confirmatory.estimate(contrast, {"a": Arm("a", (0.98,)), "b": Arm("b", (0.99, 0.99))})
    assert short.p_present is None and short.primary is None
    reading = _read_alone(short)
    assert reading.outcome == UNDECIDED
    assert reading.sentence == "too few runs (a has 1; every arm needs 2)"
    assert reading.holm_present == reading.holm_small == 1.0


def test_holm_over_the_family_turns_a_raw_support_into_undecided():
    target = _difference(0.003, 0.002)
    assert 0.004 < target.p_present < 0.05  # raw: present; Holm over 12 needs < 0.05 / 12
    raw = confirmatory.verdict(target.p_present < 0.05, target.p_small < 0.05, target)
    assert raw[0] == SUPPORTED
    family = [target, *(_difference(0.0, 0.002) for _ in range(5))]  # 12 p-values
    reading = confirmatory.read_family(family)[0]
    assert reading.holm_present >= 0.05
    assert reading.outcome == UNDECIDED


def test_image_variance_by_hand():
    a = np.array([[1, 1, 0, 1], [1, 1, 0, 1]])
    b = np.array([[1, 1, 1, 1], [1, 1, 1, 1]])
    # Runs that agree carry no seed noise: c_i = (0, 0, 1, 0), var (ddof 1) 1/4, over 4 images.
    assert image_sampling.per_image_contrast([a, b], [-1, 1]) == pytest.approx([0, 0, 1, 0])
    assert image_sampling.image_variance([a, b], [-1, 1]) == pytest.approx(1 / 16)
    # Runs that disagree: c_i = (0, 0.5, 0.5, 0), var 1/12; the seed noise, per image
    # (0, 1/4, 1/4, 0) from var_s / 2 in each arm, averages 1/8 > 1/12: nothing left.
    noisy = np.array([[1, 1, 0, 1], [1, 0, 0, 1]]), np.array([[1, 1, 1, 1], [1, 1, 0, 1]])
    assert image_sampling.image_variance(noisy, [-1, 1]) == 0.0
    # One run per arm: no seed noise to estimate, the whole spread is kept.
    assert image_sampling.image_variance([a[:1], b[:1]], [-1, 1]) == pytest.approx(1 / 16)


def test_seed_noise_alone_is_not_counted_as_image_sampling():
    rng = np.random.default_rng(1)
    # Every image alike (each run right with probability 0.9 anywhere): nothing for a new test
    # set to resample, though the per-image contrasts spread by about 2 x 0.09 / 5 over images.
    arms = [rng.random((5, 20_000)) < 0.9 for _ in range(2)]
    spread = image_sampling.per_image_contrast(arms, [-1, 1]).var(ddof=1) / 20_000
    assert spread == pytest.approx(2 * 0.09 / 5 / 20_000, rel=0.05)
    assert image_sampling.image_variance(arms, [-1, 1]) < spread / 20


def test_the_primary_interval_adds_the_image_variance_to_the_seeds():
    rng = np.random.default_rng(3)
    hard = rng.random(500)  # images differ, and BN's arm finds some of them easier
    correct = {name: rng.random((4, 500)) < p - 0.3 * hard for name, p in (("a", 1.0), ("b", 1.2))}
    arms = {name: Arm(name, tuple(c.mean(axis=1)), c) for name, c in correct.items()}
    contrast = confirmatory.Contrast("mnist", "growth", (("a", -1.0), ("b", 1.0)), MARGIN)
    e = confirmatory.estimate(contrast, arms, draws=400)
    variance = image_sampling.image_variance([correct["a"], correct["b"]], [-1, 1])
    assert e.with_images
    assert e.primary.se == pytest.approx(math.sqrt(e.seed.se**2 + variance))
    assert e.primary.df == e.seed.df and e.primary.effect == e.seed.effect
    assert e.primary.low < e.seed.low and e.primary.high > e.seed.high


def test_the_bootstrap_interval_covers_the_analytic_centre():
    rng = np.random.default_rng(5)
    difficulty = rng.random(2000)  # shared by every run: images hard for one arm are for all
    correct = [rng.random((5, 2000)) > difficulty * scale for scale in (0.06, 0.04)]
    arms = {n: Arm(n, tuple(c.mean(axis=1)), c) for n, c in zip("ab", correct)}
    contrast = confirmatory.Contrast("mnist", "growth", (("a", -1.0), ("b", 1.0)), MARGIN)
    e = confirmatory.estimate(contrast, arms, draws=1000)
    low, high = e.bootstrap
    assert low < e.primary.effect < high
    width = (high - low) / (e.primary.high - e.primary.low)
    assert 0.4 < width < 1.5  # the analytic one is the wider: it counts seed noise twice
    assert image_sampling.bootstrap_interval(correct, [-1, 1], draws=1000) == e.bootstrap


def _write_run(results, name, seed, accuracy, diverged=False, predictions=None, train=None):
    """A run directory as the trainer leaves it."""
    run_dir = results / f"{name}_seed{seed}"
    run_dir.mkdir(parents=True)
    record = {"config": {"dataset": "mnist"}, "started": f"2026-12-01T10:{seed:02d}:00+00:00"}
    (run_dir / "config.json").write_text(json.dumps(record))
    extra = ",train_set_accuracy,train_set_loss" if train else ""
    cells = f",{train[0]},{train[1]}" if train else ""
    rows = [f"0,0,1,,2.3,0.1,0{',,' if train else ''}", f"100,1,1,0.1,0.1,{accuracy},5{cells}"]
    header = "step,epoch,learning_rate,train_loss,test_loss,test_accuracy,elapsed_s" + extra
    (run_dir / "metrics.csv").write_text("\n".join([header, *rows, ""]))
    result = {"final_test_accuracy": accuracy, "steps": 100}
    if diverged:
        result = {"diverged_at": 50, "final_test_accuracy": 0.0998, "steps": 0}
    (run_dir / "result.json").write_text(json.dumps(result))
    if predictions is not None:
        np.save(run_dir / confirm_runs.PREDICTIONS_FILE, predictions.astype(np.uint8))
    return run_dir


def test_a_diverged_run_counts_as_the_training_sets_most_frequent_class(tmp_path):
    mnist = datasets.get("mnist")
    labels = np.arange(20) % 10  # ten classes, two images each
    right = labels.copy()
    _write_run(tmp_path, "w1", 0, 1.0, predictions=right)
    _write_run(tmp_path, "w1", 1, 0.0998, diverged=True)
    grid = confirm_report.read_grid(tmp_path, {"w1": lambda run: run.experiment == "w1"}, labels)
    arm = grid.arms["w1"]
    # MNIST's training set has most 1s (6,742); they are 1,135 of the 10,000 test labels.
    assert confirm_runs.majority_class(mnist) == 1
    assert arm.accuracies == (1.0, pytest.approx(0.1135))
    assert arm.diverged == 1
    assert arm.correct[1].tolist() == (labels == 1).tolist()
    assert arm.correct[0].all()


def test_predictions_of_another_run_are_refused(tmp_path):
    labels = np.zeros(10, dtype=np.uint8)
    _write_run(tmp_path, "w1", 0, 0.5, predictions=labels)  # scores 1.0, recorded 0.5
    with pytest.raises(confirm_runs.RecordError, match="predictions are of another run"):
        confirm_report.read_grid(tmp_path, {"w1": lambda run: True}, labels)


# The capacity case: the existing grid's final accuracies of the ReLU LeNet-5 under Adadelta lr 1
# (results/why/lenetr_w<width>_adadelta1[_bn]_seed0-4), one or two images moved in a BN arm so
# that BN's effects are exactly +0.0040, +0.0013, +0.0013, +0.0011 at widths 0.25, 0.5, 1, 2.
CAPACITY_GRID = {
    0.25: ((0.9829, 0.9813, 0.9813, 0.9812, 0.9803), (0.9843, 0.9853, 0.9842, 0.9863, 0.9869)),
    0.5: ((0.9887, 0.9896, 0.9893, 0.9885, 0.9888), (0.9916, 0.9901, 0.9891, 0.9906, 0.9900)),
    1: ((0.9922, 0.9922, 0.9910, 0.9922, 0.9917), (0.9929, 0.9928, 0.9929, 0.9932, 0.9940)),
    2: ((0.9924, 0.9928, 0.9933, 0.9936, 0.9925), (0.9942, 0.9947, 0.9933, 0.9944, 0.9935)),
}
CAPACITY = confirmatory.bn_contrast(
    "mnist",
    "capacity",
    [("width 0.25", "w0.25", "w0.25_bn", 1.0), ("width 1", "w1", "w1_bn", -1.0)],
    MARGIN,
)
IMAGES = 10_000


def _capacity_arms(with_images: bool, own_images: int | None = None) -> dict[str, Arm]:
    """The grid's arms; with images, each run's errors placed as MNIST's are: 40 images that
    every run misses, the rest drawn afresh for every run from 1,000 ambiguous ones, or, with
    `own_images`, from that many of them that are the arm's own (each arm errs on its own images,
    so BN's effect sits on particular images and a new test set would move it)."""
    rng = np.random.default_rng(11)
    arms = {}
    for width, pair in CAPACITY_GRID.items():
        for suffix, values in zip(("", "_bn"), pair):
            name = f"w{width:g}{suffix}"
            correct = None
            if with_images:
                pool = 40 + rng.choice(1000, own_images or 1000, replace=False)
                correct = np.ones((len(values), IMAGES), bool)
                for run, accuracy in enumerate(values):
                    errors = round((1 - accuracy) * IMAGES)
                    correct[run, :40] = False
                    correct[run, rng.choice(pool, errors - 40, replace=False)] = False
            arms[name] = Arm(name, values, correct)
    return arms


def _padded_family(estimate):
    """The estimate in a family of 12 p-values, the other 10 at 1: Holm at its strictest."""
    contrast = confirmatory.Contrast("mnist", "none", (("x", 1.0),), MARGIN)
    empty = confirmatory.estimate(contrast, {"x": Arm("x", ())})
    return confirmatory.read_family([estimate, *[empty] * 5])[0]


def test_the_capacity_case_by_seeds_only_is_supported_by_the_narrowest_width():
    per_level = {
        width: float(np.mean(bn) - np.mean(without))
        for width, (without, bn) in CAPACITY_GRID.items()
    }
    assert per_level == pytest.approx({0.25: 0.004, 0.5: 0.0013, 1: 0.0013, 2: 0.0011}, abs=1e-9)
    e = confirmatory.estimate(CAPACITY, _capacity_arms(with_images=False))
    assert e.primary.effect == pytest.approx(0.0027)
    assert e.primary.se == pytest.approx(0.00076, abs=0.00002)
    reading = _padded_family(e)
    # The growth 0.25 vs 1 is present even under Holm x 12 (p about 0.002), and a growth of the
    # margin or more is not excluded: the rule says SUPPORTED, and says that the interval
    # reaches below the margin.
    assert reading.holm_present < 0.05 <= reading.holm_small
    assert reading.outcome == SUPPORTED
    assert reading.sentence == (
        "BN's effect grows by +0.0027 [+0.0010, +0.0044]; a growth of 0.002 or more is not excluded"
    )


def test_the_capacity_case_with_the_test_images_sampled_depends_on_where_the_errors_lie():
    weights = [w for _, w in CAPACITY.weights]

    def read(arms):
        variance = image_sampling.image_variance([arms[a].correct for a in CAPACITY.arms], weights)
        e = confirmatory.estimate(CAPACITY, arms, draws=500)
        return math.sqrt(variance), e, _padded_family(e)

    # Errors on images every arm finds ambiguous alike: nothing for a new test set to move.
    image_se, e, reading = read(_capacity_arms(with_images=True))
    assert image_se < 0.0001
    assert reading.outcome == SUPPORTED
    # Each arm errs on its own 600 of them: the image-sampling SE (0.0005) widens the primary
    # interval from 0.00076 to 0.0009 and Holm x 12 no longer finds the growth.
    image_se, e, reading = read(_capacity_arms(with_images=True, own_images=600))
    assert 0.0004 < image_se < 0.0006
    assert e.primary.effect == pytest.approx(0.0027)
    assert reading.holm_present >= 0.05 and reading.holm_small >= 0.05
    assert reading.outcome == UNDECIDED
    assert 0 < e.primary.low < MARGIN < e.primary.high  # 95%, unadjusted
    low, high = e.bootstrap
    assert low < e.primary.effect < high


def test_power_grows_with_seeds_and_is_capped_by_the_images():
    sds, weights = (0.001, 0.0012, 0.0005, 0.0005), (-1, 1, 1, -1)
    few = power.power(3, sds, weights, 0.0, MARGIN, family_size=12)
    many = power.power(20, sds, weights, 0.0, MARGIN, family_size=12)
    assert few.present < many.present and few.small < many.small
    assert many.se == pytest.approx(math.sqrt(sum(s**2 for s in sds) / 20))
    n_present, n_small = power.smallest_n(sds, weights, 0.0, MARGIN, family_size=12)
    assert power.power(n_present, sds, weights, 0.0, MARGIN, 12).present >= 0.8
    assert power.power(n_present - 1, sds, weights, 0.0, MARGIN, 12).present < 0.8
    assert n_small is not None
    # An image SE as large as the margin bars the small test at any number of seeds.
    assert power.smallest_n(sds, weights, MARGIN, MARGIN, family_size=12)[1] is None


def test_power_of_one_arm_matches_a_simulation():
    rng = np.random.default_rng(2)
    n, sd, true = 6, 0.001, 2 * MARGIN
    draws = rng.normal(true, sd, (4000, n))
    t = draws.mean(axis=1) / (draws.std(axis=1, ddof=1) / math.sqrt(n))
    simulated = np.mean(t > stats.t.isf(0.05 / 12, n - 1))
    assert power.power(n, (sd,), (1.0,), 0.0, MARGIN, 12).present == pytest.approx(
        simulated, abs=0.03
    )


def test_the_summary_from_run_directories(tmp_path):
    results = tmp_path / "mnist"
    labels = np.arange(40) % 10
    for seed in range(3):
        for name, acc, train in (("w1", 0.9, (0.95, 0.2)), ("w1_bn", 0.95, (0.99, 0.05))):
            wrong = round((1 - acc) * 40) + (seed if name == "w1" else 0)
            predictions = labels.copy()
            predictions[:wrong] = (predictions[:wrong] + 1) % 10
            _write_run(results, name, seed, 1 - wrong / 40, predictions=predictions, train=train)
    _write_run(results, "w0.25", 0, 0.0998, diverged=True)
    for seed in (1, 2):
        _write_run(
            results, "w0.25", seed, 0.9, predictions=np.where(np.arange(40) < 4, 9 - labels, labels)
        )
    for seed in range(3):
        _write_run(
            results,
            "w0.25_bn",
            seed,
            0.975,
            predictions=np.where(np.arange(40) < 1, 9 - labels, labels),
        )
    selectors = {
        name: (lambda n: lambda run: run.experiment == n)(name)
        for name in ("w0.25", "w0.25_bn", "w1", "w1_bn")
    }
    unfinished = _write_run(results, "w1", 3, 0.9, predictions=labels)
    (unfinished / "result.json").unlink()
    grid = confirm_report.read_grid(results, selectors, labels)
    design = tmp_path / "design.md"
    design.write_text("the design\n")
    text = confirm_report.summary_text([CAPACITY], {"mnist": grid}, design, "abc1234")
    assert "(SHA-256 " in text and "committed at abc1234" in text
    assert "First run started: 2026-12-01T10:00:00+00:00" in text
    assert "Runs not finished, left out: 1;" in text
    assert "Grid incomplete" not in text  # no plan given
    planned = confirm_report.summary_text(
        [CAPACITY], {"mnist": grid}, design, "abc1234", planned_runs=13
    )
    assert "- Grid incomplete: 12 of the design's 13 runs have ended." in planned
    complete = confirm_report.summary_text(
        [CAPACITY], {"mnist": grid}, design, "abc1234", planned_runs=12
    )
    assert "Grid incomplete" not in complete
    assert "## Contrasts (confirmatory)" in text and "## Per level (exploratory)" in text
    assert "| mnist | capacity (m = 0.002) | 3, 3, 3, 3 |" in text
    # The exploratory table: one failure (diverged) at width 0.25, train-set effects at width 1.
    assert "| mnist | capacity | width 0.25 | 3, 3 | 1, 0 | 0, 0 |" in text
    assert "0.9500, 0.9900 | +0.0400" in text
    out = tmp_path / "summary.md"
    confirm_report.write_summary(out, text)
    assert out.read_text() == text


def test_the_planned_runs_are_the_jobs_the_sweep_plans_on_every_dataset(tmp_path):
    per_dataset = len(confirm.plan_jobs(confirm.SEEDS, tmp_path))
    assert confirm.planned_runs() == per_dataset * len(confirm.MARGINS) == 240
