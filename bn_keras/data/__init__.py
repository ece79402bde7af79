"""The datasets declared in bn_keras.config.datasets: read with TFDS, built offline from their
original files, checked against their manifests, and the tf.data pipelines."""
