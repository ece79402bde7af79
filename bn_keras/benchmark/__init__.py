"""The training-speed benchmark: workers, their protocol, and its report."""
