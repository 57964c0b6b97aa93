"""``load_dataset``: check the arguments, read the images, carve the splits, normalise onto the device.

Arguments are checked against the static dataset sizes before anything is read, so a bad request
fails in milliseconds with a message that says what would work.
"""

from __future__ import annotations

import os
from typing import Sequence

import torch

from ecabench.data import sources
from ecabench.data.bundle import DataBundle, TensorSplit
from ecabench.data.catalog import META, DatasetError, DatasetMeta, normalise_name
from ecabench.data.imagefolder import load_imagefolder
from ecabench.data.splits import carve, check_sizes, check_subset_type, check_test_subset, stratified_take, val_count
from ecabench.util import is_int


def _check_seed(seed: int) -> int:
    if not is_int(seed) or not 0 <= seed < 2**32:
        raise DatasetError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)


def _as_device(device: str | torch.device) -> torch.device:
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DatasetError(f"invalid device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DatasetError(f"device {str(device)!r} was requested but no CUDA GPU is available; "
                           "use device 'auto' or 'cpu'")
    return dev


def _normalise(x: torch.Tensor, scale: float, mean: Sequence[float], std: Sequence[float],
               device: torch.device) -> torch.Tensor:
    """uint8/float (N,C,H,W) -> normalised float32 on ``device`` (converted on the device)."""
    x = x.to(device)
    out = x.to(torch.float32, copy=True)
    if scale != 1.0:
        out.mul_(1.0 / scale)
    m = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return out.sub_(m).div_(s).contiguous()


def _tensor_split(x_u8: torch.Tensor, y: torch.Tensor, pos, scale: float, meta: DatasetMeta,
                  dev: torch.device) -> TensorSplit:
    """The samples at ``pos``, normalised; held on ``dev`` when it is a GPU, else on the CPU."""
    pos_t = torch.as_tensor(pos, dtype=torch.long) if not torch.is_tensor(pos) else pos
    x = x_u8 if len(pos_t) == len(x_u8) else x_u8[pos_t]
    yy = y if len(pos_t) == len(y) else y[pos_t]
    return TensorSplit(
        x=_normalise(x, scale, meta.mean, meta.std, dev if dev.type == "cuda" else torch.device("cpu")),
        y=yy.to(torch.long).to(dev if dev.type == "cuda" else "cpu"),
        num_classes=meta.num_classes,
        indices=pos_t,
        augment=meta.augment,
        pad_value=tuple(-m / s for m, s in zip(meta.mean, meta.std)),  # a black pixel, normalised
    )


def _load_in_memory(key: str, root: str | None, download: bool, val_size: float | int, subset: int | None,
                    seed: int, dev: torch.device, test_subset: int | None = None) -> DataBundle:
    meta = META[key]
    raw = sources.read_source(key, root, download)
    labels = raw.train_y.numpy()
    n_val = val_count(val_size, len(labels), meta.num_classes, key)
    train_pos, val_pos = carve(labels, n_val, subset, seed, meta.num_classes, key)
    test_x, test_y, test_pos = raw.test_x, raw.test_y, raw.test_indices
    if test_subset is not None and test_subset < len(test_y):
        # seeded like the training subset: the same test images for every variant of a seed, and a
        # fresh draw per seed, so the spread over seeds includes the test-sampling noise
        _, keep = stratified_take(test_y.numpy(), test_subset, seed)
        keep = torch.as_tensor(keep, dtype=torch.long)
        test_x, test_y, test_pos = test_x[keep], test_y[keep], torch.as_tensor(test_pos)[keep]

    def split(x, y, pos) -> TensorSplit:
        return _tensor_split(x, y, pos, raw.scale, meta, dev)

    return DataBundle.of(
        key, train=split(raw.train_x, raw.train_y, train_pos),
        val=split(raw.train_x, raw.train_y, val_pos) if n_val else None,
        test=split(test_x, test_y, test_pos),
        num_classes=meta.num_classes, in_channels=meta.in_channels, image_size=meta.image_size,
        mean=meta.mean, std=meta.std, classes=raw.classes, source=raw.source, augment=meta.augment,
    )


def load_dataset(
    name: str = "fashion-mnist",
    *,
    root: str | os.PathLike | None = None,
    download: bool = False,
    val_size: float | int = 0.1,
    subset: int | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    image_size: int | None = None,
    num_workers: int | None = None,
    test_subset: int | None = None,
) -> DataBundle:
    """Load ``name`` and carve a stratified, seeded validation split (and optional training subset).

    ``val_size``: a fraction in [0, 1) or a whole number of images, carved from the official training
    split (0 = no validation split, ``bundle.val is None``). ``subset``: keep only this many training
    images (stratified, seeded), chosen after the validation split is carved. ``seed`` fixes both.
    ``root``: where to look first (and, with ``download=True``, where downloads go; default
    ``sources.DEFAULT_ROOT``). ``device``: where the in-memory tensors live ("cpu", "cuda",
    "cuda:N" or "auto").
    ``test_subset``: score only this many test images (stratified, seeded like the training subset);
    ``None`` scores the whole test split. ``image_size`` and ``num_workers`` apply to ``imagefolder`` only.
    """
    key = normalise_name(name)
    seed = _check_seed(seed)
    meta = META[key]
    root = None if root is None else os.fspath(root)
    dev = _as_device(device)
    check_subset_type(subset)
    # fail fast on arguments that cannot work, before reading anything
    check_test_subset(test_subset, meta.n_test if meta.n_train is not None else None, meta.num_classes, key)
    if meta.n_train is not None:
        check_sizes(val_size, subset, meta.n_train, meta.num_classes, key)
    else:
        val_count(val_size, 2**62, 1, key)  # range check only
    if key == "imagefolder":
        return load_imagefolder(root, val_size, subset, seed, image_size, num_workers)
    return _load_in_memory(key, root, download, val_size, subset, seed, dev, test_subset)
