"""Step for step: the Keras port and the PyTorch twin from the same weights on the same batches.

    python scripts/twin_step_check.py --network=lenetr_bn --steps=100

This process (TensorFlow) takes the first `steps` training batches of seed 0 from the Keras
pipeline, plus one batch of 32 (an epoch's partial last batch), and 1,000 test images. A child
process (torch only: the two crash in one process) builds the twin's network with seed 0, saves
its initial weights, and trains it with Adadelta(lr 1, rho 0.9, eps 1e-6) and cross-entropy. This
process then loads those initial weights into the Keras network and trains it with the port's
recipe (bn_keras.training.recipe, constant learning rate) on the same batches. Printed: the
largest difference of the per-step training losses, of the final weights (relative), of BN's
moving statistics, and of the eval-mode test logits, and how many test predictions agree.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile

import numpy as np

PARTIAL_BATCH = 32


def _torch_child(data_path: str, out_path: str, network: str, float64: bool) -> None:
    import torch

    from bn_keras.twin.networks import build

    torch.set_num_threads(1)
    if float64:
        torch.set_default_dtype(torch.float64)
    data = np.load(data_path)
    torch.manual_seed(0)
    model = build(network)
    initial = {f"init/{k}": v.numpy().copy() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.9, eps=1e-6)
    loss_fn = torch.nn.CrossEntropyLoss()
    losses = []
    sizes = data["sizes"]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    for start, end in zip(offsets[:-1], offsets[1:]):
        x = torch.from_numpy(data["train_x"][start:end]).permute(0, 3, 1, 2).contiguous()
        y = torch.from_numpy(data["train_y"][start:end])
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(data["test_x"]).permute(0, 3, 1, 2).contiguous())
    final = {f"final/{k}": v.numpy() for k, v in model.state_dict().items()}
    np.savez(out_path, losses=np.array(losses), logits=logits.numpy(), **initial, **final)


def _torch_params(arrays: dict, prefix: str) -> list[list[np.ndarray]]:
    """The twin's weights, grouped per layer in module order (affine: weight[, bias]; BN: four)."""
    names = [n[len(prefix) :] for n in arrays if n.startswith(prefix)]
    layers: dict[str, dict[str, np.ndarray]] = {}
    for name in names:
        module, _, kind = name.rpartition(".")
        if kind != "num_batches_tracked":
            layers.setdefault(module, {})[kind] = arrays[prefix + name]
    ordered = []
    for module in sorted(layers, key=int):
        p = layers[module]
        if "running_mean" in p:
            ordered.append([p["weight"], p["bias"], p["running_mean"], p["running_var"]])
        else:
            ordered.append([p["weight"], *([p["bias"]] if "bias" in p else [])])
    return ordered


def _to_keras(layer, weights: list[np.ndarray], after_flatten_of: tuple | None) -> list:
    kind = type(layer).__name__
    if kind == "Conv2D":
        return [weights[0].transpose(2, 3, 1, 0), *weights[1:]]
    if kind == "Dense":
        kernel = weights[0]
        if after_flatten_of is not None:  # torch flattens (C, H, W), Keras (H, W, C)
            c, h, w = after_flatten_of
            kernel = kernel.reshape(-1, c, h, w).transpose(0, 2, 3, 1).reshape(kernel.shape[0], -1)
        return [kernel.T, *weights[1:]]
    return weights  # BatchNormalization: gamma, beta, moving mean, moving variance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="lenetr_bn")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument(
        "--float64", action="store_true", help="both in float64: round-off or a real difference?"
    )
    parser.add_argument("--torch_child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_child:
        _torch_child(*args.torch_child, args.network, args.float64)
        return

    import keras
    import tensorflow as tf

    from bn_keras.config.settings import Config
    from bn_keras.data import input_pipeline
    from bn_keras.models.networks import build_model
    from bn_keras.training import recipe

    mnist = input_pipeline.load_mnist(None)
    batches = list(
        input_pipeline.train_dataset(mnist.train_images, mnist.train_labels, 64, seed=0)
        .take(args.steps)
        .as_numpy_iterator()
    )
    tail = input_pipeline.normalize(mnist.train_images[:PARTIAL_BATCH]).numpy()
    batches.append((tail, mnist.train_labels[:PARTIAL_BATCH].astype(np.int64)))
    test_x = input_pipeline.normalize(mnist.test_images[:1000]).numpy()
    dtype = np.float64 if args.float64 else np.float32
    batches = [(x.astype(dtype), y) for x, y in batches]
    test_x = test_x.astype(dtype)
    with tempfile.TemporaryDirectory() as tmp:
        data_path, out_path = f"{tmp}/data.npz", f"{tmp}/torch.npz"
        np.savez(
            data_path,
            train_x=np.concatenate([b[0] for b in batches]),
            train_y=np.concatenate([b[1] for b in batches]),
            sizes=np.array([len(b[1]) for b in batches]),
            test_x=test_x,
        )
        child = [sys.executable, __file__, f"--network={args.network}"]
        child += ["--float64"] if args.float64 else []
        subprocess.run([*child, "--torch_child", data_path, out_path], check=True, timeout=1800)
        twin = dict(np.load(out_path))
    name, _, suffix = args.network.partition("_")
    if args.float64:
        keras.config.set_floatx("float64")
    model = build_model(name, bn=suffix == "bn")
    with_weights = [layer for layer in model.layers if layer.weights]
    flatten_input = None
    if name != "mlp":
        flatten_input = tuple(np.roll(model.get_layer("pool2").output.shape[1:], 1))
    for layer, weights in zip(with_weights, _torch_params(twin, "init/"), strict=True):
        is_fc1 = layer.name == "fc1" and flatten_input is not None
        layer.set_weights(_to_keras(layer, weights, flatten_input if is_fc1 else None))

    optimizer = recipe.make_optimizer(Config(lr_schedule="constant"), 938)
    loss_fn = recipe.make_loss()
    losses = []
    for x, y in batches:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        losses.append(float(loss))
    logits = model(test_x, training=False).numpy()

    loss_diff = np.abs(np.array(losses) - twin["losses"])
    print(f"{args.network}: {len(batches)} steps (the last of {PARTIAL_BATCH} images)")
    print(
        f"  training loss: step 1 {losses[0]:.6f} (torch {twin['losses'][0]:.6f}), "
        f"last {losses[-1]:.6f} (torch {twin['losses'][-1]:.6f}), "
        f"largest |difference| {loss_diff.max():.2e} at step {loss_diff.argmax() + 1}"
    )
    checkpoints = [s for s in (1, 2, 3, 5, 10, 20, 50, 100, 200, 500) if s <= len(losses)]
    print(
        "  |loss difference| by step: "
        + ", ".join(f"{s}: {loss_diff[s - 1]:.1e}" for s in checkpoints)
    )
    for layer, weights in zip(with_weights, _torch_params(twin, "final/"), strict=True):
        is_fc1 = layer.name == "fc1" and flatten_input is not None
        expected = _to_keras(layer, weights, flatten_input if is_fc1 else None)
        diffs = []
        for ours, theirs in zip(layer.get_weights(), expected, strict=True):
            diffs.append(np.abs(ours - theirs).max() / (np.abs(theirs).max() + 1e-12))
        label = "gamma, beta, moving mean, moving var" if len(diffs) == 4 else "weights"
        print(
            f"  {layer.name:10s} final {label}: largest relative difference "
            + ", ".join(f"{d:.2e}" for d in diffs)
        )
        if len(diffs) == 4:
            ratio = layer.get_weights()[3] / expected[3]
            print(f"  {'':10s} moving variance Keras / torch: median {np.median(ratio):.4f}")
    agree = (logits.argmax(1) == twin["logits"].argmax(1)).mean()
    print(
        f"  test logits (1,000 images, eval mode): largest |difference| "
        f"{np.abs(logits - twin['logits']).max():.2e}; predictions agree on {agree:.1%}"
    )


if __name__ == "__main__":
    main()
