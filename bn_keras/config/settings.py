"""The frozen run configuration: every setting of a run, validated before anything is written."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

from bn_keras.common.errors import ConfigError

MODELS = ("mlp", "lenet", "lenetr")
# The hidden layers of each network (bn_keras.models.networks; a test checks they agree), for
# --probe_layers.
HIDDEN_LAYERS = {
    "mlp": ("fc1", "fc2", "fc3"),
    "lenet": ("conv1", "conv2", "fc1", "fc2"),
    "lenetr": ("conv1", "conv2", "fc1", "fc2"),
}
LR_SCHEDULES = ("epoch", "steps", "constant")
STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
SYNC_BN = ("auto", "true", "false")
INITS = ("pytorch", "glorot")
FRAMEWORKS = ("keras", "pytorch")  # pytorch: the twin in bn_keras.twin
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
)
CHECKPOINT_SHARE = 0.02  # auto checkpoints: a resume redoes at most about 2% of a run


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines a run. Defaults are the original PyTorch recipe.

    Attributes:
        model: network name, one of MODELS.
        bn: BatchNormalization between each hidden affine op and its activation.
        seed: seeds weight init and data order.
        train_steps: training length in iterations (optimizer steps).
        batch_size: global batch size (split across replicas).
        eval_every: evaluate on the full test set every this many iterations.
        learning_rate: Adadelta's initial learning rate.
        rho: Adadelta's decay of the running averages (PyTorch's 0.9, not Keras's 0.95).
        adadelta_epsilon: Adadelta's epsilon (PyTorch's 1e-6, not Keras's 1e-7).
        lr_schedule: "epoch" (x lr_decay after every epoch), "steps" (x lr_decay every
            lr_decay_steps iterations) or "constant".
        lr_decay: multiplicative decay factor.
        lr_decay_steps: decay interval for lr_schedule="steps".
        bn_momentum: Keras convention, moving = momentum * moving + (1 - momentum) * batch;
            PyTorch's momentum 0.1 is Keras's 0.9.
        bn_epsilon: BatchNormalization epsilon (PyTorch's 1e-5).
        init: "pytorch" (PyTorch's default uniform fan-in init, as the original) or
            "glorot" (Keras's default).
        deterministic: also enable TensorFlow op determinism.
        data_dir: TFDS data directory; None is TFDS's default.
        mnist_source: "auto", "tfds" or "offline" (see input_pipeline.ensure_mnist).
        strategy: tf.distribute strategy name, one of STRATEGIES; "auto" is multi_worker when
            TF_CONFIG names a cluster of several tasks, mirrored when there are several GPUs,
            else the default strategy.
        devices: comma-separated devices for "mirrored" or "one_device" (e.g. "/gpu:0,/gpu:1");
            empty means all local GPUs (or the CPU).
        sync_bn: "auto" (synchronized BatchNorm when there are several replicas), "true" or
            "false" (each replica normalizes with its own part of the batch).
        scale_lr: multiply learning_rate by the number of replicas (linear scaling rule).
        steps_per_execution: training steps per compiled call; must divide eval_every,
            train_steps and the probe intervals in use. 0 (auto) picks the largest common divisor
            up to MAX_STEPS_PER_EXECUTION: fewer round trips from Python per step, and the same
            results.
        jit_compile: "auto", "true" or "false" (XLA for the train step).
        export: write the SavedModel and model.keras at the end.
        test_batch_size: evaluation batch size (global).
        checkpoint_every: checkpoint interval for exact resume, a multiple of eval_every; 0 (auto)
            is the smallest multiple of eval_every that is at least 2% of train_steps.
        probe_every: record activation percentiles (bn_keras.probes) every this many
            iterations; 0 turns the probe off.
        probe_layers: comma-separated hidden layers to probe (e.g. "fc1,fc3"); "" is all.
        probe_units: units (channels of conv layers) probed per layer, evenly spaced.
        landscape_every: record the loss landscape, gradient predictiveness, effective
            beta-smoothness and internal covariate shift every this many iterations; 0: off.
        landscape_steps: step sizes eta of the landscape, geometrically spaced.
        landscape_span: eta ranges from eta_eff / span to eta_eff * span, eta_eff being
            the norm of Adadelta's update over the norm of the gradient at that step.
        framework: "keras" (this package) or "pytorch" (the twin of the original code,
            bn_keras.twin, reading the same settings).
    """

    model: str = "lenetr"
    bn: bool = False
    seed: int = 0
    train_steps: int = 4000
    batch_size: int = 64
    eval_every: int = 100
    learning_rate: float = 1.0
    rho: float = 0.9
    adadelta_epsilon: float = 1e-6
    lr_schedule: str = "epoch"
    lr_decay: float = 0.7
    lr_decay_steps: int = 938
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    init: str = "pytorch"
    deterministic: bool = False
    data_dir: str | None = None
    mnist_source: str = "auto"
    strategy: str = "auto"
    devices: str = ""
    sync_bn: str = "auto"
    scale_lr: bool = False
    steps_per_execution: int = 0
    jit_compile: str = "auto"
    export: bool = True
    test_batch_size: int = 1000
    checkpoint_every: int = 0
    probe_every: int = 0
    probe_layers: str = ""
    probe_units: int = 3
    landscape_every: int = 0
    landscape_steps: int = 5
    landscape_span: float = 4.0
    framework: str = "keras"

    @property
    def default_run_name(self) -> str:
        """`<model>[_bn]_seed<seed>`, e.g. `lenetr_bn_seed0`."""
        return f"{self.model}{'_bn' if self.bn else ''}_seed{self.seed}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Raises ConfigError naming the first invalid setting and its fix."""
        _require(
            self.model in MODELS,
            f"--model={self.model!r} is unknown: use one of {MODELS}",
        )
        for name in (
            "train_steps",
            "batch_size",
            "eval_every",
            "lr_decay_steps",
            "test_batch_size",
        ):
            value = getattr(self, name)
            _require(value > 0, f"--{name}={value} must be a positive integer")
        _require(
            self.eval_every <= self.train_steps,
            f"--eval_every={self.eval_every} is above --train_steps={self.train_steps}: "
            "lower it so that at least one evaluation falls inside the run",
        )
        _require(
            self.learning_rate > 0,
            f"--learning_rate={self.learning_rate} must be positive",
        )
        _require(0 < self.rho < 1, f"--rho={self.rho} must lie in (0, 1)")
        _require(
            self.adadelta_epsilon > 0,
            f"--adadelta_epsilon={self.adadelta_epsilon} must be positive",
        )
        _require(
            0 <= self.seed < 2**32,
            f"--seed={self.seed} must lie in [0, 2**32): NumPy and TensorFlow seeds are unsigned",
        )
        _require(0 < self.lr_decay <= 1, f"--lr_decay={self.lr_decay} must lie in (0, 1]")
        _require(
            0 <= self.bn_momentum < 1,
            f"--bn_momentum={self.bn_momentum} must lie in [0, 1)",
        )
        _require(self.bn_epsilon > 0, f"--bn_epsilon={self.bn_epsilon} must be positive")
        _require(
            self.lr_schedule in LR_SCHEDULES,
            f"--lr_schedule must be one of {LR_SCHEDULES}",
        )
        _require(
            self.strategy in STRATEGIES,
            f"--strategy={self.strategy!r} is unknown: use one of {STRATEGIES}",
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
            self.sync_bn in SYNC_BN,
            f"--sync_bn={self.sync_bn!r} is unknown: use one of {SYNC_BN}",
        )
        _require(self.init in INITS, f"--init={self.init!r} is unknown: use one of {INITS}")
        _require(
            self.checkpoint_every >= 0 and self.checkpoint_every % self.eval_every == 0,
            f"--checkpoint_every={self.checkpoint_every} must be 0 (auto) or a multiple of "
            f"--eval_every={self.eval_every}",
        )
        spe = self.steps_per_execution
        _require(spe >= 0, f"--steps_per_execution={spe} must be 0 (auto) or positive")
        _require(
            spe == 0 or (self.eval_every % spe == 0 and self.train_steps % spe == 0),
            f"--steps_per_execution={spe} must divide --eval_every={self.eval_every} and "
            f"--train_steps={self.train_steps}: use a divisor of both, or 0 (auto)",
        )
        _require(
            self.framework in FRAMEWORKS,
            f"--framework={self.framework!r} is unknown: use one of {FRAMEWORKS}",
        )
        self._validate_probes()

    def _validate_probes(self) -> None:
        spe = self.steps_per_execution
        for name in ("probe_every", "landscape_every"):
            value = getattr(self, name)
            _require(value >= 0, f"--{name}={value} must be 0 (off) or positive")
            _require(
                spe == 0 or value % spe == 0,
                f"--{name}={value} must be a multiple of --steps_per_execution={spe} "
                "(callbacks run once per compiled call): change one, or use 0 (auto)",
            )
        _require(self.probe_units > 0, f"--probe_units={self.probe_units} must be positive")
        hidden = HIDDEN_LAYERS.get(self.model, ())
        unknown = [n.strip() for n in self.probe_layers.split(",") if n.strip() not in hidden]
        _require(
            not [n for n in unknown if n],
            f"--probe_layers={self.probe_layers!r} names layers {self.model} does not have: use "
            f"some of {','.join(hidden)}, or leave it empty for all",
        )
        _require(
            self.landscape_steps > 0, f"--landscape_steps={self.landscape_steps} must be positive"
        )
        _require(self.landscape_span >= 1, f"--landscape_span={self.landscape_span} must be >= 1")

    @property
    def device_list(self) -> list[str]:
        """The --devices value as a list of device names."""
        return [d.strip() for d in self.devices.split(",") if d.strip()]

    @property
    def resolved_checkpoint_every(self) -> int:
        """checkpoint_every with auto (0) resolved; see the attribute's description."""
        if self.checkpoint_every:
            return self.checkpoint_every
        evaluations = math.ceil(CHECKPOINT_SHARE * self.train_steps / self.eval_every)
        return max(1, evaluations) * self.eval_every

    @property
    def resolved_steps_per_execution(self) -> int:
        """steps_per_execution with auto (0) resolved; see the attribute's description."""
        if self.steps_per_execution:
            return self.steps_per_execution
        # Probe intervals (0 when off) count too: callbacks see only every compiled call's end.
        common = math.gcd(self.eval_every, self.train_steps, self.probe_every, self.landscape_every)
        return max(d for d in range(1, MAX_STEPS_PER_EXECUTION + 1) if common % d == 0)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def check_writable_dir(path: Path, flag: str) -> None:
    """Raises ConfigError unless `path` is, or can be created as, a writable directory.

    Creates nothing: it inspects the nearest existing ancestor.
    """
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag}={path} is a file, not a directory: choose another path")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{flag}={path} lies under the file {probe}: choose another path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag}={path} is not writable (no write access to {probe})")
