"""Data held whole on the training device and batched there: no DataLoader, no workers.

For MNIST- and CIFAR-sized data this is the main speed lever: an epoch is a permutation and
a sequence of index gathers on the device. Normalisation (per-channel mean and std of the
training split, computed at load) and augmentation (random crop after zero padding, random
horizontal flip) run batched on the device, driven by a seeded CPU generator, so the batch
sequence of an epoch depends only on (seed, epoch): a resumed run sees the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from pipeline.data.registry import DatasetInfo, get_dataset_info
from pipeline.data.sources import Splits


class DeviceData:
    def __init__(self, splits: Splits, device: torch.device | str = "cpu", augment: bool = True) -> None:
        self.info: DatasetInfo = get_dataset_info(splits.name)
        self.device = torch.device(device)
        self.train_images = splits.train.images.to(self.device)
        self.train_labels = splits.train.labels.to(self.device)
        self.test_images = splits.test.images.to(self.device)
        self.test_labels = splits.test.labels.to(self.device)
        pixels = splits.train.images.to(torch.float64).div_(255).transpose(0, 1).reshape(self.info.channels, -1)
        self.mean = pixels.mean(dim=1).to(self.device, torch.float32).view(1, -1, 1, 1)
        self.std = pixels.std(dim=1).clamp_min(1e-6).to(self.device, torch.float32).view(1, -1, 1, 1)
        self.padding = self.info.crop_padding if augment else 0
        self.flip = self.info.flip and augment

    @property
    def n_train(self) -> int:
        return int(self.train_labels.numel())

    def _normalise(self, images: torch.Tensor) -> torch.Tensor:
        return (images.to(torch.float32) / 255 - self.mean) / self.std

    def _augment(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, h, w = images.shape
        if self.padding:
            p = self.padding
            padded = torch.nn.functional.pad(images, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(self.device)
            dx = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(self.device)
            rows = (dy[:, None] + torch.arange(h, device=self.device))[:, None, :, None]
            cols = (dx[:, None] + torch.arange(w, device=self.device))[:, None, None, :]
            batch = torch.arange(n, device=self.device)[:, None, None, None]
            channels = torch.arange(images.shape[1], device=self.device)[None, :, None, None]
            images = padded[batch, channels, rows, cols]
        if self.flip:
            flip = (torch.rand(n, generator=generator) < 0.5).to(self.device)
            images = torch.where(flip[:, None, None, None], images.flip(-1), images)
        return images

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of shuffled, augmented, normalised batches (the last one may be smaller)."""
        order = torch.randperm(self.n_train, generator=generator).to(self.device)
        for start in range(0, self.n_train, batch_size):
            index = order[start : start + batch_size]
            images = self.train_images[index]
            if self.padding or self.flip:
                images = self._augment(images, generator)
            yield self._normalise(images), self.train_labels[index]

    def test_batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, int(self.test_labels.numel()), batch_size):
            end = start + batch_size
            yield self._normalise(self.test_images[start:end]), self.test_labels[start:end]
