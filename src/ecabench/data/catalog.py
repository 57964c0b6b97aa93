"""Which datasets exist and their static facts, so arguments can be checked before anything is read."""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass
from pathlib import Path


class DatasetError(ValueError):
    """A dataset cannot be found, loaded or split as asked. The message says what to do."""


DATASETS: tuple[str, ...] = ("fashion-mnist", "digits", "cifar10", "cifar100", "imagefolder")

_ALIASES = {
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
    "cifar-100": "cifar100",
    "cifar_100": "cifar100",
    "image-folder": "imagefolder",
    "image_folder": "imagefolder",
}

FMNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# digits has no official test split: ours is a fixed stratified share, independent of the run seed,
# so every run of every seed is scored on the same images.
DIGITS_TOTAL = 1797
DIGITS_TEST_FRACTION = 0.2
DIGITS_TEST_SEED = 0
DIGITS_N_TEST = math.ceil(DIGITS_TEST_FRACTION * DIGITS_TOTAL)


@dataclass(frozen=True)
class DatasetMeta:
    """What is known about a dataset without reading it; ``n_train``/``n_test`` are the official split
    sizes (``None`` for ``imagefolder``, whose sizes depend on the folder)."""

    num_classes: int
    in_channels: int
    image_size: tuple[int, int]
    n_train: int | None
    n_test: int | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: str | None


META: dict[str, DatasetMeta] = {
    "fashion-mnist": DatasetMeta(10, 1, (28, 28), 60000, 10000, (0.2860,), (0.3530,), None),
    # digits: pixels scaled to 0..1; mean/std of all scaled images.
    "digits": DatasetMeta(10, 1, (8, 8), DIGITS_TOTAL - DIGITS_N_TEST, DIGITS_N_TEST,
                          (0.3053,), (0.3760,), None),
    "cifar10": DatasetMeta(10, 3, (32, 32), 50000, 10000,
                           (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "crop-flip"),
    "cifar100": DatasetMeta(100, 3, (32, 32), 50000, 10000,
                            (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), "crop-flip"),
    "imagefolder": DatasetMeta(0, 3, (224, 224), None, None, IMAGENET_MEAN, IMAGENET_STD, "imagenet"),
}


def normalise_name(name: str) -> str:
    """The canonical name of ``name`` (aliases accepted); a typo gets the nearest known name as a hint."""
    if not isinstance(name, str):
        raise DatasetError(f"dataset name must be a string, got {name!r}")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        pool = list(DATASETS) + list(_ALIASES)
        close = difflib.get_close_matches(key, pool, n=1, cutoff=0.5)
        hint = f" Did you mean {_ALIASES.get(close[0], close[0])!r}?" if close else ""
        raise DatasetError(
            f"unknown dataset {name!r}.{hint} Known datasets: {', '.join(DATASETS)}."
        )
    return key


def dataset_info(name: str) -> dict:
    """Static facts about a dataset (classes, channels, image size), without reading it."""
    key = normalise_name(name)
    meta = META[key]
    return {"name": key, "num_classes": meta.num_classes, "in_channels": meta.in_channels,
            "image_size": meta.image_size, "n_train": meta.n_train, "n_test": meta.n_test}


def imagefolder_num_classes(root: str | os.PathLike) -> int | None:
    """Classes of an ImageNet-layout folder (sub-folders of ``root/train``, as ImageFolder finds them),
    or None when the folder is not there (yet): planning does not need the data."""
    train = Path(root).expanduser() / "train"
    if not train.is_dir():
        return None
    return sum(1 for e in os.scandir(train) if e.is_dir()) or None
