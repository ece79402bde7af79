"""MNIST's constants, for the rooms with TensorFlow and without (the twin, the benchmark)."""

# The training split (TFDS `mnist`, as the original's torchvision MNIST): no batch is larger.
MNIST_TRAIN_EXAMPLES = 60_000
MNIST_TEST_EXAMPLES = 10_000
# The pixel normalization of the original code: (pixel / 255 - mean) / std.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
