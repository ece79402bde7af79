"""A run's settings: the frozen Config and its validation (no TensorFlow)."""
