"""Times the twin's training loop: `python scripts/twin_threads.py THREADS STEPS NETWORK`.

Random data of MNIST's shape (so no TensorFlow and no dataset load), STEPS iterations at batch 64
and one evaluation of 10,000 images; prints the network, threads, steps and seconds. Start two
one-thread copies at once and compare with two-thread copies one after the other.
"""

import sys
import time

import torch

from bn_keras.twin.batches import TrainingBatches
from bn_keras.twin.engine import evaluate
from bn_keras.twin.networks import build

threads, steps, network = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(threads)
torch.manual_seed(0)
images, labels = torch.randn(60_000, 1, 28, 28), torch.randint(0, 10, (60_000,))
model = build(network)
optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.9, eps=1e-6)
batches = TrainingBatches(images, labels, 64)
loss_fn = torch.nn.CrossEntropyLoss()
start = time.perf_counter()
for _ in range(steps):
    x, y = next(batches)
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    loss.item()
evaluate(model, images[:10_000], labels[:10_000], 1000)
print(network, threads, steps, round(time.perf_counter() - start, 2), flush=True)
