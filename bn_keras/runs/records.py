"""What a run's config.json and result.json hold, for either engine: settings, distribution,
data source, versions and machine; then the final measurements (no TensorFlow)."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path

from bn_keras.common.atomic import write_json_atomic
from bn_keras.common.errors import ConfigError
from bn_keras.config.settings import Config
from bn_keras.runs import provenance
from bn_keras.runs.metrics_file import TRAIN_SET_ACCURACY, TRAIN_SET_LOSS
from bn_keras.runs.run_dir import RESULT_FILE


@dataclasses.dataclass(frozen=True)
class EngineRecord:
    """What an engine adds to config.json.

    Attributes:
        libraries: its libraries' versions by name, added to `versions`.
        devices: what it reports of the machine's devices (GPUs, threads), added to `machine`.
        extra: other top-level keys (the twin's `framework` and `ignored_settings`).
    """

    libraries: dict[str, str]
    devices: dict
    extra: dict = dataclasses.field(default_factory=dict)


def run_record(config: Config, distribution: dict, data_source: str, engine: EngineRecord) -> dict:
    """Everything config.json holds: settings, distribution, data source, versions, machine and
    the time the run started, plus the engine's own keys; with --design, the design's path and
    hash (design_record).

    Raises:
        ConfigError: the design file cannot be read.
    """
    record = {
        "config": config.to_dict(),
        "distribution": distribution,
        "data_source": data_source,
        "versions": provenance.versions(engine.libraries),
        "machine": provenance.machine(engine.devices),
        "started": provenance.now(),
        **engine.extra,
    }
    if config.design:
        record["design"] = design_record(config.design)
    return record


def design_record(path: str) -> dict:
    """The design file as config.json records it: its path as given and the SHA-256 of its bytes.

    Raises:
        ConfigError: the file cannot be read.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"--design={path}: {err.strerror}: name a readable file") from None
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest()}


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a run measured, whichever engine trained it.

    Attributes:
        run_dir: the run directory.
        steps: the iteration of the last metrics row.
        final_test_accuracy: the last row's test accuracy.
        final_test_loss: the last row's test loss.
        train_seconds: the last row's elapsed time, over every attempt of the run.
        steps_per_second: `steps` over `train_seconds`.
        rows: the metrics rows.
        interrupted_at: the iteration a stop request ended the run at, else None.
        checkpoint_seconds: time spent writing checkpoints, over every attempt.
        checkpoints_written: checkpoints written, over every attempt.
        diverged_at: with --record_divergence, the iteration a non-finite loss was seen at (the
            end of a compiled call of steps_per_execution iterations), else None.
        final_train_set_loss: with --eval_train, the last row's loss over the whole training
            set in inference mode, else None.
        final_train_set_accuracy: the same row's training-set accuracy, else None.
    """

    run_dir: Path
    steps: int
    final_test_accuracy: float
    final_test_loss: float
    train_seconds: float
    steps_per_second: float
    rows: list[dict]
    interrupted_at: int | None = None
    checkpoint_seconds: float = 0.0
    checkpoints_written: int = 0
    diverged_at: int | None = None
    final_train_set_loss: float | None = None
    final_train_set_accuracy: float | None = None

    @classmethod
    def from_rows(cls, run_dir: Path, rows: list[dict], **counts) -> RunResult:
        """The result whose final numbers are those of the last of `rows` (not empty);
        `counts`: interrupted_at, checkpoint_seconds, checkpoints_written, diverged_at."""
        last = rows[-1]
        elapsed = last["elapsed_s"]
        return cls(
            run_dir=Path(run_dir),
            steps=int(last["step"]),
            final_test_accuracy=last["test_accuracy"],
            final_test_loss=last["test_loss"],
            train_seconds=elapsed,
            steps_per_second=last["step"] / elapsed if elapsed else math.nan,
            rows=rows,
            final_train_set_loss=last.get(TRAIN_SET_LOSS),
            final_train_set_accuracy=last.get(TRAIN_SET_ACCURACY),
            **counts,
        )


def result_record(result: RunResult) -> dict:
    """Everything result.json holds: the last evaluation, time trained, checkpointing's cost;
    the training set's final loss and accuracy only for a run under --eval_train, `diverged_at`
    only for a run that diverged under --record_divergence."""
    train_set = {
        "final_train_set_accuracy": result.final_train_set_accuracy,
        "final_train_set_loss": result.final_train_set_loss,
    }
    record = {
        "steps": result.steps,
        "final_test_accuracy": result.final_test_accuracy,
        "final_test_loss": result.final_test_loss,
        **{name: value for name, value in train_set.items() if value is not None},
        "train_seconds": round(result.train_seconds, 2),
        "steps_per_second": round(result.steps_per_second, 2),
        "checkpoint_seconds": round(result.checkpoint_seconds, 3),
        "checkpoints_written": result.checkpoints_written,
    }
    return record if result.diverged_at is None else record | {"diverged_at": result.diverged_at}


def write_result(result: RunResult) -> None:
    """Writes result.json into the run directory; written last, it marks the run finished."""
    write_json_atomic(result.run_dir / RESULT_FILE, result_record(result))
