"""Run directories: their files, lock, metrics rows (no TensorFlow)."""
