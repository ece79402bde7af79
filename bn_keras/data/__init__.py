"""MNIST: the TFDS load, its offline build, integrity manifests and the tf.data pipelines."""
