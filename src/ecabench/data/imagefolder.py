"""ImageNet-layout folders (``root/train/<class>/*``, ``root/val/<class>/*``), decoded on the fly.

Such datasets do not fit in memory, so they go through torchvision's ``ImageFolder`` with the
standard ImageNet transforms. The ``val`` folder is the reported *test* split, and the validation
split is carved from ``train`` like for every other dataset.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ecabench.data.bundle import DataBundle, FolderSplit
from ecabench.data.catalog import IMAGENET_MEAN, IMAGENET_STD, DatasetError
from ecabench.data.splits import carve, val_count


def _check_root(root: str | None) -> Path:
    if root is None:
        raise DatasetError("imagefolder needs `root`: a folder with train/<class>/* and val/<class>/* "
                           "(ImageNet / Imagenette layout)")
    r = Path(root).expanduser()
    missing = [p for p in (r / "train", r / "val") if not p.is_dir()]
    if missing:
        raise DatasetError(f"imagefolder root {r} must hold train/ and val/ class folders; missing: "
                           + ", ".join(str(m) for m in missing))
    return r


def _read_folders(r: Path):
    """``ImageFolder``s of ``r/train`` and ``r/val``, checked to hold the same classes."""
    from torchvision.datasets import ImageFolder  # torchvision: only image-folder datasets need it

    try:
        train_ds = ImageFolder(str(r / "train"))
        test_ds = ImageFolder(str(r / "val"))
    except (FileNotFoundError, OSError) as exc:
        raise DatasetError(f"cannot read image folders under {r}: {exc}") from None
    if train_ds.classes != test_ds.classes:
        only_train = sorted(set(train_ds.classes) - set(test_ds.classes))
        only_val = sorted(set(test_ds.classes) - set(train_ds.classes))
        raise DatasetError(f"train/ and val/ under {r} have different classes "
                           f"(only in train: {only_train[:5]}, only in val: {only_val[:5]})")
    return train_ds, test_ds


def _transforms(size: int):
    """(train, eval) transforms: random resized crop + flip for training, resize + centre crop to score."""
    from torchvision import transforms as T  # torchvision: only image-folder datasets need it

    norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    train_tf = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor(), norm])
    eval_tf = T.Compose([T.Resize(int(round(size * 256 / 224))), T.CenterCrop(size), T.ToTensor(), norm])
    return train_tf, eval_tf


def load_imagefolder(root, val_size, subset, seed, image_size, num_workers) -> DataBundle:
    """The bundle of an image folder; ``image_size`` defaults to 224, ``num_workers`` to min(8, CPUs)."""
    r = _check_root(root)
    size = 224 if image_size is None else int(image_size)
    if size < 1:
        raise DatasetError(f"image_size must be >= 1, got {image_size!r}")
    train_ds, test_ds = _read_folders(r)
    num_classes = len(train_ds.classes)
    labels = np.asarray(train_ds.targets, dtype=np.int64)
    n_val = val_count(val_size, len(labels), num_classes, "imagefolder")
    train_pos, val_pos = carve(labels, n_val, subset, seed, num_classes, "imagefolder")
    train_tf, eval_tf = _transforms(size)
    workers = min(8, os.cpu_count() or 1) if num_workers is None else int(num_workers)

    def split(ds, pos) -> FolderSplit:
        return FolderSplit(ds, torch.as_tensor(pos, dtype=torch.long), num_classes, train_tf, eval_tf,
                           workers)

    return DataBundle.of(
        "imagefolder", train=split(train_ds, train_pos), val=split(train_ds, val_pos) if n_val else None,
        test=split(test_ds, np.arange(len(test_ds))), num_classes=num_classes, in_channels=3,
        image_size=(size, size), mean=IMAGENET_MEAN, std=IMAGENET_STD, classes=tuple(train_ds.classes),
        source=str(r), augment="imagenet",
    )
