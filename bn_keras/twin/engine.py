"""The twin's engine: the original recipe in PyTorch (network, Adadelta, StepLR stepped at decay
intervals, cross-entropy) stepped one batch at a time, and its checkpoint."""

from __future__ import annotations

import io
import re
from pathlib import Path

import torch
from torch import nn

from bn_keras.common.atomic import write_bytes_atomic
from bn_keras.config.names import experiment_name
from bn_keras.config.settings import Config
from bn_keras.data.facts import decay_interval
from bn_keras.runs.checkpoint import damaged, read_state, write_state
from bn_keras.twin.batches import TrainingBatches
from bn_keras.twin.recipe import build_network, make_optimizer

KEEP_CHECKPOINTS = 2  # the last and the one before, as the Keras checkpoints
_CHECKPOINT_NAME = re.compile(r"ckpt-(\d+)\.pt")


@torch.no_grad()
def evaluate(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over all of a set, in eval mode (BN's moving statistics).

    Leaves the model in train mode.
    """
    model.eval()
    loss_sum, correct = 0.0, 0
    for x, y in zip(images.split(batch_size), labels.split(batch_size)):
        logits = model(x)
        loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").double().item()
        correct += int((logits.argmax(dim=1) == y).sum())
    model.train()
    return loss_sum / len(labels), correct / len(labels)


class TwinEngine:
    """What trains a twin run (runs.controller.Engine): built in the original's order after
    `torch.manual_seed`, the model, then the optimizer, scheduler and loader."""

    def __init__(self, config: Config, train: tuple, test: tuple, per_epoch: int):
        self.model = build_network(experiment_name(config.model, config.bn), config)
        self.optimizer = make_optimizer(self.model.parameters(), config)
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=1, gamma=config.lr_decay
        )
        self.batches = TrainingBatches(*train, config.batch_size)
        self._decay_every = decay_interval(config, per_epoch)
        self._loss_fn = nn.CrossEntropyLoss()
        self._test, self._test_batch_size = test, config.test_batch_size
        self._loss_sum, self._examples = 0.0, 0  # the training loss of the interval, per example
        self.model.train()

    def train_step(self, step: int) -> float:
        """Trains iteration `step` on the next batch; returns its mean loss."""
        images, labels = next(self.batches)
        self.optimizer.zero_grad()
        loss = self._loss_fn(self.model(images), labels)
        loss.backward()
        self.optimizer.step()
        value = loss.item()
        self._loss_sum += value * len(labels)
        self._examples += len(labels)
        if self._decay_every and step % self._decay_every == 0:
            self.scheduler.step()
        return value

    def evaluate(self) -> tuple[float, float]:
        return evaluate(self.model, *self._test, self._test_batch_size)

    def learning_rate(self, step: int) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def interval_loss(self) -> tuple[float, float]:
        return self._loss_sum, self._examples

    def reset_interval_loss(self) -> None:
        self._loss_sum, self._examples = 0.0, 0

    def before_checkpoint(self) -> None:
        pass

    def state_dict(self) -> dict:
        """Everything an exact resume needs: weights and BN statistics, Adadelta's and StepLR's
        state, the batches' position and torch's global generator."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "batches": self.batches.position(),
            "rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.batches.seek(state["batches"])
        torch.set_rng_state(state["rng"])


class TorchCheckpoint:
    """A twin run's training state in `directory` (runs.checkpoint.Checkpoint): `ckpt-N.pt`
    files written atomically, and state.json naming the last."""

    def __init__(self, directory: Path, engine: TwinEngine):
        self.directory = Path(directory)
        self._engine = engine

    def save(self, step: int, state: dict) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"ckpt-{step}.pt"
        buffer = io.BytesIO()
        torch.save(self._engine.state_dict(), buffer)
        write_bytes_atomic(path, buffer.getvalue())
        write_state(self.directory, step, path, state)
        saved = sorted(
            (int(m.group(1)), p)
            for p in self.directory.iterdir()
            if (m := _CHECKPOINT_NAME.fullmatch(p.name))
        )
        for _, old in saved[:-KEEP_CHECKPOINTS]:
            old.unlink(missing_ok=True)

    def restore(self) -> dict | None:
        saved = read_state(self.directory)
        if saved is None:
            return None
        state, path = saved
        try:
            self._engine.load_state_dict(torch.load(path, weights_only=True))
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:
            raise damaged(self.directory, err) from err
        return state
