"""The twin's data: the dataset as normalized tensors, and the shuffled training batches of the
original's DataLoader, whose position a checkpoint saves and restores exactly."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from bn_keras.config.datasets import Dataset


def to_tensors(
    images: np.ndarray, labels: np.ndarray, dataset: Dataset
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images [N, H, W, 1] and labels [N] as normalized float32 [N, 1, H, W] and int64,
    with the Keras pipeline's arithmetic: pixels / 255, minus the dataset's mean, over its std."""
    pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    normalized = (pixels.to(torch.float32) / 255.0 - dataset.mean) / dataset.std
    return normalized.contiguous(), torch.from_numpy(np.asarray(labels, dtype=np.int64))


class TrainingBatches:
    """Endless epochs of shuffled batches, drawn from torch's global generator.

    The batches are those of `DataLoader(dataset, batch_size, shuffle=True)` (a RandomSampler in a
    BatchSampler, drop_last=False): the same sampler, with each batch gathered by one index
    operation instead of batch_size single-example reads and a collate. An epoch's order is drawn
    from the global generator when the epoch begins, so the position is the generator's state at
    that moment plus the number of batches taken since.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int):
        dataset = torch.utils.data.TensorDataset(images, labels)
        sampler = torch.utils.data.BatchSampler(
            torch.utils.data.RandomSampler(dataset), batch_size, drop_last=False
        )
        self._loader = torch.utils.data.DataLoader(dataset, sampler=sampler, batch_size=None)
        self._epoch: Iterator | None = None
        self._epoch_rng: torch.Tensor | None = None
        self._taken = 0

    def __iter__(self) -> TrainingBatches:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._epoch is None:
            self._begin_epoch()
        try:
            batch = next(self._epoch)
        except StopIteration:
            self._epoch = None
            return next(self)
        self._taken += 1
        return batch

    def _begin_epoch(self) -> None:
        self._epoch_rng, self._taken = torch.get_rng_state(), 0
        self._epoch = iter(self._loader)

    def position(self) -> dict:
        """Where the batches stand: the generator's state when the current epoch began (None
        before the first batch) and the batches taken in that epoch."""
        return {"epoch_rng": self._epoch_rng, "taken": self._taken}

    def seek(self, position: dict) -> None:
        """Goes back to `position`: the current epoch's order drawn again, its batches taken
        skipped. Leaves torch's global generator as the epoch's start left it; restore the
        generator's current state afterwards."""
        self._epoch = None
        if position["epoch_rng"] is None:
            return
        torch.set_rng_state(position["epoch_rng"])
        self._begin_epoch()
        for _ in range(position["taken"]):
            next(self._epoch)
        self._taken = position["taken"]
