"""The frozen run configuration: every setting of a run, validated before anything is written."""

from __future__ import annotations

import dataclasses
import math

from bn_keras.common.errors import ConfigError
from bn_keras.config import datasets, networks, sizes
from bn_keras.config.fields import NON_NEGATIVE, POSITIVE, Bounds, check_fields, setting
from bn_keras.config.names import experiment_name

LR_SCHEDULES = ("epoch", "steps", "constant")
STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
SYNC_BN = ("auto", "true", "false")
INITS = ("pytorch", "glorot")
FRAMEWORKS = ("keras", "pytorch")  # pytorch: the twin in bn_keras.twin
DATASET_SOURCES = ("auto", "tfds", "offline")
DEFAULT_RESULTS_DIR = "results"
JIT_COMPILE = ("auto", "true", "false")
BN_IMPLS = ("fast", "keras")  # bn_keras.models.batch_norm
ACTIVATIONS = ("auto", "sigmoid", "relu")  # auto: the network's own
OPTIMIZERS = ("adadelta", "sgd")
MAX_STEPS_PER_EXECUTION = 50
# Settings that change speed or outputs written, never the numbers a run measures.
RESULT_NEUTRAL = (
    "steps_per_execution",
    "export",
    "checkpoint_every",
    # The probes read the model and write their own files; a test checks that training is
    # bitwise the same with and without them.
    "probe_every",
    "probe_layers",
    "probe_units",
    "landscape_every",
    "landscape_steps",
    "landscape_span",
    # A folder of the original files, each checked against the dataset's declared SHA-256.
    "dataset_files",
)
# Settings a config.json written before they existed lacks, and what such a run used.
RENAMED = {"mnist_source": "dataset_source"}
ABSENT_MEANS = {
    "dataset": datasets.DEFAULT,
    "eval_train": False,
    "save_predictions": False,
    "design": "",
}
_MOST_TEST_EXAMPLES = max(dataset.test_examples for dataset in datasets.DATASETS.values())
CHECKPOINT_SHARE = 0.02  # auto checkpoints: a resume redoes at most about 2% of a run
# The sizes' bounds, each far past the grid's largest (width 2, 10 hidden layers): a network within
# them is refused still when its memory estimate exceeds the machine's (sizes.check_fits).
MAX_WIDTH = 100
MAX_MLP_DEPTH = 100  # Keras builds a BN layer in about 30 ms: 100 layers in 3 s, 300 in 9 s
# Measured on 2 cores: 1,024 intra-op threads start in 0.2 s and 60 MB, 4,096 in 1.5 s and
# 300 MB; 100,000 hung. No CPU of one machine has more than 1,024 cores to use.
MAX_THREADS = 1024


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines a run. Defaults are the original PyTorch recipe.

    Each field's type, default, allowed values and help text are said once, in its `setting`:
    the flags of `python -m bn_keras.main`, `validate` and docs/flags.md come from there.
    """

    dataset: str = setting(
        datasets.DEFAULT,
        f"Dataset to train and test on: one declared in bn_keras/config/datasets.py "
        f"({', '.join(datasets.DATASETS)}). Runs whose config.json lacks it used mnist.",
    )
    model: str = setting(
        "lenetr",
        "Network to train: one declared in bn_keras/config/networks.py "
        f"({', '.join(networks.NETWORKS)}).",
    )
    bn: bool = setting(False, "BatchNormalization before every hidden activation.")
    seed: int = setting(
        0,
        "Seed for weight init and data order.",
        bounds=Bounds(0, 2**32, high_open=True),
        why=": NumPy and TensorFlow seeds are unsigned",
    )
    train_steps: int = setting(4000, "Training iterations (optimizer steps).", bounds=POSITIVE)
    batch_size: int = setting(
        64,
        "Global batch size (split across replicas); at most the dataset's training examples.",
        bounds=POSITIVE,
    )
    eval_every: int = setting(
        100,
        "Test-set evaluation interval (iterations); under --eval_train the training set's too.",
        bounds=POSITIVE,
    )
    learning_rate: float = setting(1.0, "Adadelta's initial learning rate.", bounds=POSITIVE)
    rho: float = setting(
        0.9,
        "Adadelta's decay of the running averages (PyTorch's 0.9, not Keras's 0.95).",
        bounds=Bounds(0, 1, low_open=True, high_open=True),
    )
    adadelta_epsilon: float = setting(
        1e-6, "Adadelta's epsilon (PyTorch's 1e-6, not Keras's 1e-7).", bounds=POSITIVE
    )
    lr_schedule: str = setting(
        "epoch",
        "epoch: x lr_decay after every epoch; steps: every lr_decay_steps iterations; constant.",
        choices=LR_SCHEDULES,
    )
    lr_decay: float = setting(
        0.7, "Learning-rate decay factor.", bounds=Bounds(0, 1, low_open=True)
    )
    lr_decay_steps: int = setting(938, "Decay interval for --lr_schedule=steps.", bounds=POSITIVE)
    bn_momentum: float = setting(
        0.9,
        "BN moving-average momentum, Keras convention (PyTorch's momentum 0.1 = 0.9 here).",
        bounds=Bounds(0, 1, high_open=True),
    )
    bn_epsilon: float = setting(1e-5, "BN epsilon (PyTorch's 1e-5).", bounds=POSITIVE)
    bn_impl: str = setting(
        "fast",
        "BatchNorm's training step: fast (FastBatchNormalization: closed-form gradient in "
        "XLA-compiled passes) or keras (Keras's BatchNormalization). The same function and "
        "gradient up to float32 rounding; inference and exports use Keras's ops either way. Runs "
        "whose config.json lacks it used keras.",
        choices=BN_IMPLS,
    )
    init: str = setting(
        "pytorch",
        "Weight init: pytorch (PyTorch's default uniform fan-in init, as the original) or "
        "glorot (Keras's default).",
        choices=INITS,
    )
    # The explanation grid's factors (capacity, depth, step size) and how a diverged run ends;
    # the defaults give the paper's networks and recipe, and the PyTorch twin refuses anything else.
    width: float = setting(
        1.0,
        "Width multiplier: every hidden layer's channels (conv) or units (dense) times this, "
        "rounded half up, at least 1 (LeNet-5 at 0.25: 2, 4, 30 and 21; the MLP's 100: 25). "
        "A network too big for this machine's memory is refused (bn_keras.config.sizes).",
        bounds=Bounds(0, MAX_WIDTH, low_open=True),
        why=": the grid's widest is 2",
    )
    mlp_depth: int = setting(
        3,
        "The MLP's hidden layers of 100 units (times --width); --model=mlp only.",
        bounds=Bounds(1, MAX_MLP_DEPTH),
        why=": the grid's deepest is 10, and Keras builds about 30 layers a second",
    )
    activation: str = setting(
        "auto",
        "Hidden activation; auto: the network's own (sigmoid for mlp and lenet, relu for lenetr).",
        choices=ACTIVATIONS,
    )
    optimizer: str = setting(
        "adadelta",
        "adadelta (the original recipe), or sgd: plain SGD (no momentum) at --learning_rate on "
        "the same schedule.",
        choices=OPTIMIZERS,
    )
    record_divergence: bool = setting(
        False,
        "A loss that stops being finite ends the run as a result: result.json with diverged_at "
        "(no export), exit code 0, so a sweep counts it finished. Otherwise it is an error.",
    )
    deterministic: bool = setting(False, "Enable TensorFlow op determinism.")
    data_dir: str | None = setting(None, "TFDS data directory (TFDS's default when unset).")
    dataset_source: str = setting(
        "auto",
        "auto: TFDS download when reachable, else an offline build from the dataset's original "
        "files; tfds: TFDS only; offline: the original files only (--dataset_files, else the "
        "package the dataset's declaration names; docs/datasets.md). Formerly --mnist_source.",
        choices=DATASET_SOURCES,
        alias="mnist_source",
    )
    dataset_files: str | None = setting(
        None,
        "Folder holding the dataset's four original IDX files, plain or .gz (e.g. "
        "/usr/share/datasets/fashion-mnist of Debian's dataset-fashion-mnist): the offline "
        "build reads them instead of fetching a package.",
    )
    strategy: str = setting(
        "auto",
        "tf.distribute strategy; auto: multi_worker when TF_CONFIG names a cluster of several "
        "tasks, mirrored over several GPUs, else the default strategy.",
        choices=STRATEGIES,
    )
    devices: str = setting(
        "",
        "Devices for mirrored or one_device, e.g. /gpu:0,/gpu:1; empty: all local GPUs (or the "
        "CPU).",
    )
    sync_bn: str = setting(
        "auto",
        "Synchronized BatchNorm (statistics over the global batch); auto: on with several "
        "replicas.",
        choices=SYNC_BN,
    )
    scale_lr: bool = setting(
        False, "Multiply the learning rate by the number of replicas (linear scaling rule)."
    )
    steps_per_execution: int = setting(
        0,
        "Training steps per compiled call; must divide --eval_every, --train_steps and the probe "
        "intervals in use. 0 (auto): their largest common divisor up to "
        f"{MAX_STEPS_PER_EXECUTION}, for fewer round trips from Python and the same results.",
        bounds=NON_NEGATIVE,
        zero="auto",
    )
    jit_compile: str = setting("auto", "XLA for the train step.", choices=JIT_COMPILE)
    export: bool = setting(True, "Export the SavedModel and model.keras at the end.")
    fold_bn_eval: bool = setting(
        False,
        "Evaluate with each BatchNorm folded into the conv or dense layer before it "
        "(bn_keras.models.folding): the same logits up to float rounding, fewer passes.",
    )
    test_batch_size: int = setting(
        1000,
        "Evaluation batch size (global).",
        bounds=Bounds(0, _MOST_TEST_EXAMPLES, low_open=True),
        why=f": no dataset has more than {_MOST_TEST_EXAMPLES:,} test images, and a batch "
        "cannot be larger",
    )
    eval_train: bool = setting(
        False,
        "At every evaluation, also evaluate the whole training set in inference mode (BN's "
        "moving statistics, in --test_batch_size batches): metrics.csv gains train_set_loss and "
        "train_set_accuracy, result.json their final values. Single Keras runs only.",
    )
    save_predictions: bool = setting(
        False,
        "After the last evaluation, write test_predictions.npy: the predicted class (uint8) of "
        "every test image, in the test set's order. None for a diverged run. Single Keras runs "
        "only.",
    )
    design: str = setting(
        "",
        "The registered design file this run belongs to; config.json records its path and the "
        "SHA-256 of its bytes, read when the run starts. It changes nothing else. Empty: none.",
    )
    checkpoint_every: int = setting(
        0,
        "Checkpoint interval for exact resume, a multiple of --eval_every; 0 (auto): the "
        "smallest multiple of --eval_every that is at least 2% of --train_steps.",
        bounds=NON_NEGATIVE,
        zero="auto",
    )
    probe_every: int = setting(
        0,
        "Activation percentiles (Ioffe & Szegedy Fig. 1) every N iterations; 0: off.",
        bounds=NON_NEGATIVE,
        zero="off",
    )
    probe_layers: str = setting("", "Hidden layers to probe, e.g. fc1,fc3; empty: all.")
    probe_units: int = setting(
        3, "Units (conv layers: channels) probed per layer, evenly spaced.", bounds=POSITIVE
    )
    landscape_every: int = setting(
        0,
        "Santurkar et al.'s loss landscape, gradient predictiveness, beta-smoothness and "
        "internal covariate shift every N iterations; 0: off.",
        bounds=NON_NEGATIVE,
        zero="off",
    )
    landscape_steps: int = setting(
        5, "Step sizes eta per landscape measurement, geometrically spaced.", bounds=POSITIVE
    )
    landscape_span: float = setting(
        4.0,
        "eta from eta_eff/span to eta_eff*span (eta_eff: |Adadelta update| / |gradient|).",
        bounds=Bounds(low=1),
    )
    framework: str = setting(
        "keras",
        "keras, or pytorch: the PyTorch twin of the original code (bn_keras.twin), same settings.",
        choices=FRAMEWORKS,
    )

    @property
    def default_run_name(self) -> str:
        """`<model>[_bn]_seed<seed>`, e.g. `lenetr_bn_seed0`."""
        return f"{experiment_name(self.model, self.bn)}_seed{self.seed}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Checks every setting, then how they combine.

        Raises:
            ConfigError: naming the first invalid setting and its fix.
        """
        check_fields(self)
        networks.get(self.model)  # a network that is not declared
        _check_dataset(self)
        _require(
            self.eval_every <= self.train_steps,
            f"--eval_every={self.eval_every} is above --train_steps={self.train_steps}: "
            "lower it so that at least one evaluation falls inside the run",
        )
        _require(
            not self.devices or self.strategy in ("mirrored", "one_device"),
            f"--devices={self.devices!r} needs --strategy=mirrored or one_device "
            f"(not {self.strategy!r})",
        )
        _require(
            self.strategy != "one_device" or len(self.device_list) <= 1,
            f"--strategy=one_device takes one device, not --devices={self.devices!r}",
        )
        _require(
            self.checkpoint_every % self.eval_every == 0,
            f"--checkpoint_every={self.checkpoint_every} must be 0 (auto) or a multiple of "
            f"--eval_every={self.eval_every}",
        )
        spe = self.steps_per_execution
        _require(
            spe == 0 or (self.eval_every % spe == 0 and self.train_steps % spe == 0),
            f"--steps_per_execution={spe} must divide --eval_every={self.eval_every} and "
            f"--train_steps={self.train_steps}: use a divisor of both, or 0 (auto)",
        )
        for name in ("probe_every", "landscape_every"):
            value = getattr(self, name)
            _require(
                spe == 0 or value % spe == 0,
                f"--{name}={value} must be a multiple of --steps_per_execution={spe} "
                "(callbacks run once per compiled call): change one, or use 0 (auto)",
            )
        hidden = networks.get(self.model).hidden_layers
        unknown = [n.strip() for n in self.probe_layers.split(",") if n.strip() not in hidden]
        _require(
            not [n for n in unknown if n],
            f"--probe_layers={self.probe_layers!r} names layers {self.model} does not have: use "
            f"some of {','.join(hidden)}, or leave it empty for all",
        )
        _check_factors(self)
        sizes.check_fits(self)

    @property
    def device_list(self) -> list[str]:
        """The --devices value as a list of device names."""
        return [d.strip() for d in self.devices.split(",") if d.strip()]

    @property
    def resolved_checkpoint_every(self) -> int:
        """checkpoint_every with auto (0) resolved; see its help."""
        if self.checkpoint_every:
            return self.checkpoint_every
        evaluations = math.ceil(CHECKPOINT_SHARE * self.train_steps / self.eval_every)
        return max(1, evaluations) * self.eval_every

    @property
    def resolved_steps_per_execution(self) -> int:
        """steps_per_execution with auto (0) resolved; see its help."""
        if self.steps_per_execution:
            return self.steps_per_execution
        # Probe intervals (0 when off) count too: callbacks see only every compiled call's end.
        common = math.gcd(self.eval_every, self.train_steps, self.probe_every, self.landscape_every)
        return max(d for d in range(1, MAX_STEPS_PER_EXECUTION + 1) if common % d == 0)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _check_dataset(config: Config) -> None:
    """The dataset is declared, fits the networks and the batch, and its source can be used."""
    dataset = datasets.get(config.dataset)
    _require(
        dataset.image_shape == networks.IMAGE_SHAPE and dataset.num_classes == networks.CLASSES,
        f"--dataset={config.dataset} has {'x'.join(map(str, dataset.image_shape))} images in "
        f"{dataset.num_classes} classes; the networks take "
        f"{'x'.join(map(str, networks.IMAGE_SHAPE))} images in {networks.CLASSES}",
    )
    _require(
        config.batch_size <= dataset.train_examples,
        f"--batch_size={config.batch_size} is above {dataset.label}'s "
        f"{dataset.train_examples:,} training images: use at most {dataset.train_examples}",
    )
    _require(
        not config.dataset_files or config.dataset_source != "tfds",
        f"--dataset_files={config.dataset_files} is read by an offline build: drop it, or use "
        "--dataset_source=auto or offline",
    )


def upgrade_record(recorded: dict) -> dict:
    """A config.json's settings as this version names them: renamed settings under their new
    names, and settings it lacks that have a known past value (ABSENT_MEANS) filled in."""
    upgraded = {RENAMED.get(name, name): value for name, value in recorded.items()}
    return {**ABSENT_MEANS, **upgraded}


def default_results_dir(dataset: str, base: str = DEFAULT_RESULTS_DIR) -> str:
    """Where runs go when no --results_dir is given: `base`, or `base/<dataset>` for a dataset
    other than the default, so that runs of two datasets never share a directory."""
    return base if dataset == datasets.DEFAULT else f"{base}/{dataset}"


def _check_factors(config: Config) -> None:
    """How the explanation grid's factors combine with the other settings."""
    _require(
        config.mlp_depth == 3 or networks.get(config.model).depth_varies,
        f"--mlp_depth={config.mlp_depth} is the MLP's: use --model=mlp, or drop it",
    )
    _require(
        config.optimizer == "adadelta" or not config.landscape_every,
        f"--landscape_every measures Adadelta's step: drop it, or --optimizer={config.optimizer}",
    )


@dataclasses.dataclass(frozen=True)
class CommandOptions:
    """What `python -m bn_keras.main` does with a Config: where the run goes, and whether it runs.

    Not part of a run's record: the same run may live in any directory.
    """

    results_dir: str | None = setting(
        None,
        "Directory that holds the run directories; unset: results, or results/<dataset> for a "
        "--dataset other than mnist.",
    )
    run_name: str | None = setting(None, "Run directory name (default: <model>[_bn]_seed<seed>).")
    overwrite: bool = setting(
        False,
        "Start afresh in an existing run directory (otherwise an unfinished run with the same "
        "settings is resumed, and anything else there is refused).",
    )
    print_config: bool = setting(False, "Print the resolved configuration as JSON and exit.")
    dry_run: bool = setting(
        False,
        "Check the settings, paths and run directory as a run would before TensorFlow starts, "
        "print the configuration as JSON and exit; writes nothing.",
    )
    # Seeds trained together as one stacked model (bn_keras.training.stacked).
    seeds: str = setting(
        "",
        "Train these seeds together as one stacked model, e.g. 0-9 or 0,2,5 (at most 32, "
        "without --seed). Each seed is the same run as --seed=<s> up to float rounding "
        "and gets its own run directory <model>[_bn]_seed<s>; a stack holding a finished seed "
        "is refused. Empty: one run, of --seed.",
    )
    threads: int = setting(
        0,
        "TensorFlow's intra-op threads in this process; 0: TensorFlow's default (one per "
        "core). 1 lets two stacks train side by side on two cores.",
        bounds=Bounds(0, MAX_THREADS),
        zero="TensorFlow's default",
        why=f": more threads than cores only wait (and {MAX_THREADS:,} is more cores than a "
        "machine has); 100,000 hung",
    )
