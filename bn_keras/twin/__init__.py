"""The PyTorch twin: the six networks and the original recipe in PyTorch (imports no TensorFlow)."""
