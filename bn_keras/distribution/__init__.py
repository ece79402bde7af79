"""tf.distribute: strategies, the cluster definition, upstream workarounds."""
