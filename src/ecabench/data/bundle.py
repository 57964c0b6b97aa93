"""The shapes data is handed to training in: splits (in memory or on disk) and the bundle of three.

Keeping the split types small and explicit lets the loaders and the training loop treat an
in-memory tensor dataset and an on-disk image folder alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(eq=False)
class TensorSplit:
    """An in-memory split: normalised images ``x`` (N, C, H, W) float32 and labels ``y`` (N,) int64.

    ``indices`` are the positions of these samples in the official split they came from (train or
    test), for provenance and disjointness checks. ``augment`` names the batch augmentation policy
    applied when a loader is made with ``augment=True`` (``None``, ``"flip"`` or ``"crop-flip"``);
    ``pad_value`` is the normalised value of a black pixel per channel (the crop padding).
    """

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    indices: torch.Tensor
    augment: str | None = None
    pad_value: tuple[float, ...] = (0.0,)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def device(self) -> torch.device:
        return self.x.device

    def class_counts(self) -> list[int]:
        return torch.bincount(self.y.cpu(), minlength=self.num_classes).tolist()


@dataclass(eq=False)
class FolderSplit:
    """A split of an on-disk ``ImageFolder``: ``indices`` into ``dataset``, decoded on the fly."""

    dataset: Any  # torchvision.datasets.ImageFolder (transform=None; the loader applies one)
    indices: torch.Tensor
    num_classes: int
    train_transform: Any
    eval_transform: Any
    num_workers: int = 0
    augment: str | None = "imagenet"

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    @property
    def targets(self) -> torch.Tensor:
        return torch.as_tensor(self.dataset.targets, dtype=torch.long)[self.indices]

    def class_counts(self) -> list[int]:
        return torch.bincount(self.targets, minlength=self.num_classes).tolist()


Split = TensorSplit | FolderSplit


@dataclass(eq=False)
class DataBundle:
    """A dataset ready to train on: ``train``, ``val`` (``None`` without a validation split) and the
    reported ``test`` split, with the facts a run record needs to say what was trained on."""

    name: str
    num_classes: int
    in_channels: int
    image_size: tuple[int, int]
    train: Split
    val: Split | None
    test: Split
    mean: tuple[float, ...]
    std: tuple[float, ...]
    n_train: int
    n_val: int
    n_test: int
    classes: tuple[str, ...] = ()
    source: str = ""  # where the data was read from (a path or "sklearn")
    augment: str | None = None  # the train augmentation policy (see TensorSplit.augment)

    @classmethod
    def of(cls, name: str, *, train: Split, val: Split | None, test: Split, **facts: Any) -> "DataBundle":
        """A bundle whose sizes are counted from its splits, so they cannot disagree."""
        return cls(name=name, train=train, val=val, test=test, n_train=len(train),
                   n_val=0 if val is None else len(val), n_test=len(test), **facts)

    def summary(self) -> dict[str, Any]:
        """Plain-typed description for run records."""
        return {
            "dataset": self.name,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "image_size": list(self.image_size),
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_test": self.n_test,
            "mean": list(self.mean),
            "std": list(self.std),
            "augment": self.augment,
            "source": self.source,
        }
