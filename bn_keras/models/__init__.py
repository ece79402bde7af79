"""The networks, built with the Keras functional API."""
