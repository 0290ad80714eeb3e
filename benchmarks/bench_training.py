"""Training epoch time: device-resident batching vs standard DataLoader loops, same data.

    python -m benchmarks.bench_training [--dataset fashion-mnist] [--conv-samples 10000]

Baselines, each behind a shuffling DataLoader:
  torchvision  torchvision's MNIST ``__getitem__``: uint8 -> PIL image -> ToTensor -> Normalize
  tensor       the same without PIL: uint8 tensor -> float -> normalise, one sample at a time
The project holds the uint8 tensors on the device and normalises whole batches. Every loop
runs the same model, optimizer and samples; "data only" iterates the batches without the
model. Medians of --repeat epochs after a warm-up epoch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from benchmarks.bench_topology import machine
from pipeline.data import DeviceData, load_splits
from pipeline.data.sources import Split, Splits
from pipeline.models import build_model


class TorchvisionStyle(Dataset):
    """torchvision's MNIST/FashionMNIST item path: a PIL image, then ToTensor and Normalize."""

    def __init__(self, split: Split, mean: torch.Tensor, std: torch.Tensor) -> None:
        from torchvision import transforms

        self.images, self.labels = split.images, split.labels
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean.tolist(), std.tolist())])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i, 0].numpy(), mode="L")), self.labels[i]


class PerSample(Dataset):
    """One uint8 tensor at a time -> float in [0, 1] -> normalised (no PIL)."""

    def __init__(self, split: Split, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.images, self.labels = split.images, split.labels
        self.mean, self.std = mean.view(-1, 1, 1), std.view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.images[i].float() / 255 - self.mean) / self.std, self.labels[i]


def epoch(model: nn.Module, optimizer: torch.optim.Optimizer, batches: Iterable) -> float:
    start = time.perf_counter()
    model.train()
    for images, labels in batches:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return time.perf_counter() - start


def iterate(batches: Iterable) -> float:
    start = time.perf_counter()
    for _ in batches:
        pass
    return time.perf_counter() - start


LOOPS = ["device-resident", "torchvision, 0 workers", "torchvision, 2 workers", "tensor, 0 workers"]


def measure(arch: str, dataset: str, splits: Splits, batch_size: int, repeat: int) -> dict[str, tuple[float, float]]:
    """(epoch seconds, data-only seconds) for every loop."""
    torch.manual_seed(0)
    data = DeviceData(splits, "cpu", augment=False)
    model = build_model(arch, dataset)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    mean, std = data.mean.view(-1), data.std.view(-1)
    pil, tensor = TorchvisionStyle(splits.train, mean, std), PerSample(splits.train, mean, std)
    makers: dict[str, Callable[[int], Iterable]] = {
        LOOPS[0]: lambda e: data.train_batches(batch_size, torch.Generator().manual_seed(e)),
        LOOPS[1]: lambda e: DataLoader(pil, batch_size=batch_size, shuffle=True),
        LOOPS[2]: lambda e: DataLoader(pil, batch_size=batch_size, shuffle=True, num_workers=2),
        LOOPS[3]: lambda e: DataLoader(tensor, batch_size=batch_size, shuffle=True),
    }
    times = {}
    for name, make in makers.items():
        epoch(model, optimizer, make(0))
        full = statistics.median(epoch(model, optimizer, make(e)) for e in range(1, repeat + 1))
        data_only = statistics.median(iterate(make(e)) for e in range(1, repeat + 1))
        times[name] = (full, data_only)
    return times


def subset(splits: Splits, n: int) -> Splits:
    return Splits(splits.name, Split(splits.train.images[:n], splits.train.labels[:n]), splits.test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--conv-samples", type=int, default=10_000, help="training images for the CNN's epochs")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits = load_splits(args.dataset, "data")
    print(f"_{dt.date.today().isoformat()} — {machine()}, torch {torch.__version__}, {args.threads} threads_\n")
    print("Seconds per epoch, with the data-only time (no model) in brackets.\n")
    print("| model | images / epoch | " + " | ".join(LOOPS) + " | epoch speed-up | data-only speed-up |")
    print("|---|---|" + "---|" * (len(LOOPS) + 2))
    for arch, data in (("fcn", splits), ("conv", subset(splits, args.conv_samples))):
        t = measure(arch, args.dataset, data, args.batch_size, args.repeat)
        cells = " | ".join(f"{t[n][0]:.2f} ({t[n][1]:.2f})" for n in LOOPS)
        device = t[LOOPS[0]]
        epoch_ratio = ", ".join(f"{t[n][0] / device[0]:.1f}x vs {n}" for n in LOOPS[1:])
        data_ratio = ", ".join(f"{t[n][1] / device[1]:.0f}x vs {n}" for n in LOOPS[1:])
        print(f"| {arch} | {len(data.train.labels):,} | {cells} | {epoch_ratio} | {data_ratio} |")


if __name__ == "__main__":
    main()
