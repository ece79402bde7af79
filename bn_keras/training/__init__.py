"""The train loop and what it wires together: recipe, callbacks, evaluation, checkpoints, export."""
