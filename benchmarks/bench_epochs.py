"""Training throughput of the paper's architectures on random data of each data set's shape.

    python -m benchmarks.bench_epochs [--images 2048] [--repeat 2]

Runs the project's own training loop (device-resident batches, masks enforced, bf16 autocast
and channels_last on a GPU) for one epoch over ``--images`` random images, on the GPU when torch
sees one, else on the CPU. Prints images per second (median of --repeat epochs after a warm-up
epoch) and the time a 50,000-image epoch takes at that rate.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics

import numpy as np
import torch

from benchmarks.bench_topology import machine
from pipeline.config import TrainingConfig
from pipeline.data import DeviceData, get_dataset_info
from pipeline.data.sources import Split, Splits
from pipeline.models import build_model, example_input, prunable_weights
from pipeline.train import ModelMasks, train, training_device

MODELS = [("fcn", "mnist"), ("conv", "mnist"), ("resnet20", "cifar10"), ("vgg11", "cifar10")]


def random_splits(dataset: str, n: int) -> Splits:
    info = get_dataset_info(dataset)
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (n, *info.input_shape), dtype=np.uint8))
    labels = torch.from_numpy(rng.integers(0, info.num_classes, n))
    split = Split(images, labels)
    return Splits(dataset, split, Split(images[:256], labels[:256]))


def throughput(arch: str, dataset: str, images: int, repeat: int, threads: int) -> float:
    torch.manual_seed(0)
    device = training_device()
    model = build_model(arch, dataset)
    info = get_dataset_info(dataset)
    weights = prunable_weights(model, example_input(info.input_shape))
    model.to(device)
    masks = ModelMasks(model, {w.name: np.ones(w.shape, dtype=bool) for w in weights})
    data = DeviceData(random_splits(dataset, images), device)
    recipe = TrainingConfig(epochs=1, batch_size=128, track_np=False, threads=threads)
    seconds = []
    for epoch in range(repeat + 1):
        history = train(model, data, recipe, seed=epoch, masks=masks, progress=False).history
        if epoch:
            seconds.append(history[-1].seconds)
    return images / statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    device = training_device()
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"_{dt.date.today().isoformat()} — {machine()}, torch {torch.__version__}, device: {name}_\n")
    print(f"One epoch over {args.images} random images (includes each epoch's evaluation of 256 images).\n")
    print("| model | data shape | images / s | 50,000-image epoch at this rate |")
    print("|---|---|---|---|")
    for arch, dataset in MODELS:
        rate = throughput(arch, dataset, args.images, args.repeat, args.threads)
        shape = "x".join(str(s) for s in get_dataset_info(dataset).input_shape)
        print(f"| {arch} | {shape} | {rate:,.0f} | {50_000 / rate:.1f} s |")


if __name__ == "__main__":
    main()
