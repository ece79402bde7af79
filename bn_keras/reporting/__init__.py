"""Summaries, verdicts, tables and figures, read from run directories only (no TensorFlow)."""
