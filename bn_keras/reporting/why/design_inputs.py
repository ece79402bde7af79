"""What a design's power analysis reads from runs: each arm's final accuracies, each run's
prediction for every test image, and from those the two variances of a contrast of arm means.

The seed variance is Welch's: sum_a w_a^2 s_a^2 / n_a over the arms' final accuracies. The
image-sampling variance treats the test set as a sample of the task: with p_ai the share of arm
a's runs right on image i, the per-image contrast c_i = sum_a w_a p_ai varies over images both
because images differ (what a new test set would resample) and because each p_ai is a mean over
a few seeds. The second part, sum_a w_a^2 var_s(correct_asi) / n_a averaged over images, is
removed (method of moments, floored at 0), and the rest divided by the number of images.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

PREDICTIONS_FILE = "test_predictions.npy"
EXPORTED_MODEL = "model.keras"


def predictions_from_export(run_dir: Path, images: np.ndarray, dataset) -> np.ndarray:
    """The predicted class (uint8) of every image by the run's exported Keras model.

    Args:
        run_dir: a run directory holding model.keras.
        images: uint8 test images [N, height, width, channels], in the test set's order.
        dataset: the bn_keras.config.datasets.Dataset the run trained on (its normalization).
    """
    import keras

    from bn_keras.data import input_pipeline

    model = keras.models.load_model(run_dir / EXPORTED_MODEL)
    labels = np.zeros(len(images), np.int64)
    batches = input_pipeline.test_dataset(images, labels, 1000, dataset=dataset)
    logits = np.concatenate([model(x, training=False).numpy() for x, _ in batches])
    return logits.argmax(axis=-1).astype(np.uint8)


def correct(predictions: np.ndarray | None, labels: np.ndarray, fallback: int) -> np.ndarray:
    """Per image, whether the run was right; a run without predictions (it diverged) counts as
    predicting `fallback` (the training set's most frequent class) for every image."""
    if predictions is None:
        return labels == fallback
    if predictions.shape != labels.shape:
        raise ValueError(f"{predictions.shape[0]} predictions for {labels.shape[0]} test labels")
    return predictions == labels


def seed_variance(
    accuracies: Sequence[Sequence[float]], weights: Sequence[float], seeds: int | None = None
) -> float:
    """Welch's variance of the contrast sum_a w_a mean(accuracies[a]); with `seeds`, as if every
    arm had that many seeds with the same spread."""
    return float(
        sum(
            w**2 * np.var(a, ddof=1) / (seeds or len(a))
            for a, w in zip(accuracies, weights, strict=True)
        )
    )


def image_variance(correct_by_arm: Sequence[np.ndarray], weights: Sequence[float]) -> float:
    """The test-image sampling variance of the contrast (module docstring).

    Args:
        correct_by_arm: per arm, a boolean [runs, images] array (at least 2 runs each).
        weights: each arm's weight in the contrast.
    """
    per_image = sum(w * c.mean(axis=0) for c, w in zip(correct_by_arm, weights, strict=True))
    seed_part = sum(
        w**2 * c.var(axis=0, ddof=1) / c.shape[0]
        for c, w in zip(correct_by_arm, weights, strict=True)
    )
    images = per_image.shape[0]
    return max(0.0, float(np.var(per_image, ddof=1) - np.mean(seed_part))) / images
