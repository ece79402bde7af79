"""The checkpoint protocol both engines implement, and the state.json that names a run's last
checkpoint (no TensorFlow, no torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from bn_keras.common.atomic import write_json_atomic
from bn_keras.common.errors import CheckpointError

STATE_FILE = "state.json"


class Checkpoint(Protocol):
    """A run's training state in `directory`; each engine says how it writes and reads it.

    `save` writes the engine's files first and state.json (see `write_state`) last, keeping the
    previous checkpoint, so a crash at any moment leaves a complete state to resume from.
    """

    directory: Path

    def save(self, step: int, state: dict) -> None:
        """Writes the training state at iteration `step`, and `state` (the run's bookkeeping)
        into state.json.

        Raises:
            OSError: a failed write; state.json still names the previous checkpoint.
        """

    def restore(self) -> dict | None:
        """Restores the last saved training state; returns what state.json holds, or None when
        there is no checkpoint.

        Raises:
            CheckpointError: state.json or the checkpoint it names is unreadable or damaged.
        """


def damaged(directory: Path, err: BaseException) -> CheckpointError:
    """The one-line refusal of an unreadable checkpoint in `directory`."""
    return CheckpointError(
        f"the checkpoint in {directory} is unreadable ({type(err).__name__}): "
        "pass --overwrite to start the run afresh"
    )


def write_state(directory: Path, step: int, path: str | Path, state: dict) -> None:
    """Replaces state.json, atomically, by one naming the checkpoint at `path` (complete)."""
    write_json_atomic(Path(directory) / STATE_FILE, {"step": step, "path": str(path), **state})


def read_state(directory: Path) -> tuple[dict, Path] | None:
    """What state.json holds and the checkpoint it names, or None when there is no state.json.

    The checkpoint is found by name in `directory`: a run directory that was moved or copied
    resumes from its own checkpoint, not from the one at the path where it was written.

    Raises:
        CheckpointError: state.json is unreadable or lacks its step or path.
    """
    directory = Path(directory)
    state_path = directory / STATE_FILE
    if not state_path.is_file():
        return None
    try:
        state = json.loads(state_path.read_text())
        int(state["step"])
        return state, directory / Path(state["path"]).name
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise damaged(directory, err) from err
