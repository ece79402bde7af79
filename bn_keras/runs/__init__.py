"""The run skeleton, either engine's (no TensorFlow, no torch): run directories, their files and
lock, config.json's record, the metrics rows, checkpoints' protocol, start or resume, the result."""
