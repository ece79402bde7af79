"""The PyTorch reference of `python -m bn_keras.bench`: the six networks and the recipe, eager.

The original code's framework, timed the way the TensorFlow worker times bn_keras: PyTorch's
default init, cross-entropy, and Adadelta, the batch size and BatchNorm's momentum and epsilon
as Config's defaults say (the original recipe). Imports only torch, the standard library and
bn_keras.config, so it can run under an interpreter without TensorFlow (`--torch_python`).
Variants:
    torch_memory: the TensorFlow worker's synthetic batches (the first 50 training batches,
        normalized once), cycled from a list.
    torch_loader: a `DataLoader` shuffling the normalized training set held in memory in the
        recipe's batches, the last batch of each epoch partial (the original reads its data through
        a DataLoader too, and also decodes and normalizes each image on the fly, which this
        leaves out).
    torch_ensemble: S models (`prepare`'s `seeds`) trained as one by `torch.func`, as in
        PyTorch's "Model ensembling" tutorial (`Ensemble`), model i on the synthetic batches
        shifted by i.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from bn_keras.benchmark.protocol import reserve_stdout, serve
from bn_keras.config import datasets
from bn_keras.config.settings import Config
from bn_keras.twin.recipe import build_network, make_optimizer

VARIANTS = ("torch_memory", "torch_loader", "torch_ensemble")
RECIPE = Config()  # the original recipe: Config's defaults
BATCH = RECIPE.batch_size
SYNTHETIC_BATCHES = 50


class TorchWorker:
    """Holds the normalized training set and the prepared variants of the current network."""

    def __init__(self):
        self._runners: dict[str, Callable[[int], dict]] = {}

    def handle(self, command: dict) -> dict:
        cmd = command["cmd"]
        if cmd == "load_data":
            return self._load(Path(command["dir"]), datasets.get(command["dataset"]))
        if cmd == "prepare":
            return self._prepare(
                command["network"],
                command["variants"],
                command["eval_every"],
                command.get("max_seconds") or math.inf,
                command.get("seeds", 1),
            )
        if cmd == "time":
            start = time.perf_counter()
            run = self._runners[command["variant"]]
            extra = run(command["steps"], command.get("max_seconds") or math.inf)
            return {"seconds": time.perf_counter() - start, **extra}
        if cmd == "release":
            self._runners.clear()
            return {}
        raise ValueError(f"unknown command {cmd!r}")

    def _load(self, directory: Path, dataset: datasets.Dataset) -> dict:
        pixels = torch.frombuffer(
            bytearray((directory / "images.u8").read_bytes()), dtype=torch.uint8
        )
        shape = (-1, dataset.image_shape[2], *dataset.image_shape[:2])
        images = (pixels.float().reshape(shape) / 255.0 - dataset.mean) / dataset.std
        labels = torch.frombuffer(
            bytearray((directory / "labels.u8").read_bytes()), dtype=torch.uint8
        )
        self.images, self.labels = images, labels.long()
        return {"examples": len(self.labels)}

    def _batches(self, variant: str, seeds: int = 1) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if variant in ("torch_memory", "torch_ensemble"):
            n = min(len(self.labels) // BATCH, SYNTHETIC_BATCHES) * BATCH
            batches = list(zip(self.images[:n].split(BATCH), self.labels[:n].split(BATCH)))
            if variant == "torch_ensemble":
                batches = stacked_batches(batches, seeds)
            return itertools.cycle(batches)
        dataset = torch.utils.data.TensorDataset(self.images, self.labels)
        loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, shuffle=True)
        return itertools.chain.from_iterable(itertools.repeat(loader))

    def _prepare(
        self, network: str, variants: list[str], eval_every: int, max_seconds: float, seeds: int
    ) -> dict:
        self._runners.clear()
        rates = {}
        for variant in variants:
            torch.manual_seed(0)
            if variant == "torch_ensemble":
                step = Ensemble([build_network(network, RECIPE) for _ in range(seeds)]).step
            else:
                step = single_step(build_network(network, RECIPE))
            runner = _runner(step, self._batches(variant, seeds))
            runner(eval_every, max_seconds)
            start = time.perf_counter()
            steps = runner(eval_every, max_seconds)["steps"]
            rates[variant] = steps / (time.perf_counter() - start)
            self._runners[variant] = runner
        return {"warm_steps_per_s": rates}


Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def single_step(model: nn.Module) -> Step:
    """One training step of `model` on a batch; returns the loss."""
    model.train()
    optimizer, loss_fn = make_optimizer(model.parameters(), RECIPE), nn.CrossEntropyLoss()

    def step(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    return step


class Ensemble:
    """Models of one network trained together with `torch.func` (PyTorch's "Model ensembling"
    tutorial): parameters and BatchNorm buffers stacked on a leading model axis
    (`stack_module_state`), the forward pass `vmap`ped over it through `functional_call`, the
    sum of the models' losses backpropagated, and one Adadelta over the stacked parameters.

    Each model stays its own run: Adadelta is element-wise, no gradient crosses models, and
    BatchNorm updates each model's running statistics in its own slice of the stacked buffers
    (vmap batches the in-place update, since the buffers are mapped too).
    """

    def __init__(self, models: list[nn.Module]):
        for model in models:
            model.train()
        self.params, self.buffers = stack_module_state(models)
        base = copy.deepcopy(models[0]).to("meta")
        loss_fn = nn.CrossEntropyLoss()

        def loss(params, buffers, images, labels):
            return loss_fn(functional_call(base, (params, buffers), (images,)), labels)

        self._losses = vmap(loss)
        self._optimizer = make_optimizer(self.params.values(), RECIPE)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """One step of every model, model i on images[i] [B, ...] and labels[i]; their losses."""
        self._optimizer.zero_grad()
        losses = self._losses(self.params, self.buffers, images, labels)
        losses.sum().backward()
        self._optimizer.step()
        return losses.detach()

    def state(self, index: int) -> dict[str, torch.Tensor]:
        """Model `index`'s parameters and buffers, by the names of its `state_dict`."""
        return {name: value[index] for name, value in {**self.params, **self.buffers}.items()}


def stacked_batches(batches: list[tuple], seeds: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The ensemble's batches: at position t, model i gets batches[(t + i) % len(batches)]."""
    n = len(batches)
    return [
        tuple(torch.stack([batches[(t + i) % n][part] for i in range(seeds)]) for part in (0, 1))
        for t in range(n)
    ]


def _runner(step: Step, batches: Iterator) -> Callable[..., dict]:
    def run(steps: int, max_seconds: float = math.inf) -> dict:
        """Trains `steps` steps, or fewer once `max_seconds` have passed; returns how many."""
        deadline = time.perf_counter() + max_seconds
        done = 0
        for images, labels in itertools.islice(batches, steps):
            loss = step(images, labels)
            done += 1
            if time.perf_counter() > deadline:
                break
        return {"steps": done, "loss": loss.sum().item()}

    return run


def main() -> None:
    """`python -m bn_keras.benchmark.torch_worker '{"threads": 2}'`."""
    replies = reserve_stdout()
    settings = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    if settings.get("threads"):
        torch.set_num_threads(settings["threads"])
        torch.set_num_interop_threads(settings["threads"])
    ready = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    serve(TorchWorker().handle, ready, replies)


if __name__ == "__main__":
    main()
