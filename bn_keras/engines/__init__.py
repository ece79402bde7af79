"""The engine choice: what `python -m bn_keras.main` does once its flags are parsed, training with
Keras (`bn_keras.training`) or the PyTorch twin (`bn_keras.twin`); imports neither until the input
is accepted."""
