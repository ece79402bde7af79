"""The errors bn_keras reports to users as one line (no traceback)."""


class ConfigError(ValueError):
    """A setting is invalid; the message names the flag and how to fix it."""


class DataError(RuntimeError):
    """A dataset's source is unavailable, fails verification or cannot be prepared."""


class TrainingDiverged(RuntimeError):
    """The training loss stopped being finite; nothing was exported."""


class CheckpointError(RuntimeError):
    """A run directory's checkpoint cannot be read; the message says how to start afresh."""


class WriteError(RuntimeError):
    """A file could not be written (full disk, quota, size limit, no permission, read-only)."""


class RecordError(RuntimeError):
    """A run directory's record (config.json, metrics.csv, result.json) is missing or damaged where
    a finished run is read; the message names the file and what to do."""


class Interrupted(RuntimeError):
    """A signal stopped a run after a checkpoint; the same command resumes it."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
