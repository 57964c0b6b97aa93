"""Datasets, deterministic splits and fast loaders.

Every dataset is returned as a :class:`DataBundle` with three splits:

* ``train`` -- the training part of the official training set (after carving ``val``, optionally a
  stratified ``subset`` of it),
* ``val``   -- a stratified, seeded split carved from the official training set (used for tuning and
  model selection; ``None`` when ``val_size == 0``),
* ``test``  -- the official test set (only reported).

Small datasets (``fashion-mnist``, ``digits``, ``cifar10``, ``cifar100``) are held in memory as
normalised float tensors ``(N, C, H, W)`` -- on the training device when that is a CUDA device -- and
:func:`make_loader` slices batches from them with a seeded permutation; augmentation (CIFAR: random
32x32 crop with 4-pixel zero padding + horizontal flip) is done on whole batches with tensor ops.
The permutation and augmentation of an epoch depend only on ``(seed, epoch)``, so a resumed run
sees exactly the batches an uninterrupted one would.

``imagefolder`` (ImageNet / Imagenette layout: ``root/train/<class>/*`` and ``root/val/<class>/*``)
goes through torchvision's ``ImageFolder`` and a ``DataLoader`` with the standard transforms; its
``val`` folder is the reported *test* split, and the validation split is carved from ``train``.

Fashion-MNIST is looked up in ``root`` (torchvision's ``root/FashionMNIST/raw`` layout, or the IDX
files directly in ``root``), then in the Debian package ``dataset-fashion-mnist``
(:data:`FASHION_MNIST_SYSTEM_DIRS`), then downloaded through torchvision when ``download=True``.
Fashion-MNIST and digits get no augmentation (the usual protocol for these benchmarks).
"""

from __future__ import annotations

import difflib
import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

__all__ = [
    "DATASETS",
    "DEFAULT_ROOT",
    "FASHION_MNIST_SYSTEM_DIRS",
    "DataBundle",
    "DatasetError",
    "FolderSplit",
    "TensorSplit",
    "check_split_sizes",
    "dataset_info",
    "load_dataset",
    "make_loader",
    "random_crop_flip",
]

DATASETS: tuple[str, ...] = ("fashion-mnist", "digits", "cifar10", "cifar100", "imagefolder")

#: Where downloads go when ``download=True`` and no ``root`` is given (relative to the working dir).
DEFAULT_ROOT = "data"

#: System directories searched for the Fashion-MNIST IDX files (Debian package ``dataset-fashion-mnist``).
FASHION_MNIST_SYSTEM_DIRS: tuple[str, ...] = ("/usr/share/datasets/fashion-mnist",)

_FMNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

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

_FMNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

# Static facts used to validate arguments before any heavy work.
# n_train/n_test are the sizes of the official splits (digits: our fixed 80/20 split of 1797 images).
_DIGITS_TOTAL = 1797
_DIGITS_TEST_FRACTION = 0.2
_DIGITS_TEST_SEED = 0  # the digits test split is fixed, independent of the run seed
_DIGITS_N_TEST = math.ceil(_DIGITS_TEST_FRACTION * _DIGITS_TOTAL)


@dataclass(frozen=True)
class _Meta:
    num_classes: int
    in_channels: int
    image_size: tuple[int, int]
    n_train: int | None
    n_test: int | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: str | None


_META: dict[str, _Meta] = {
    "fashion-mnist": _Meta(10, 1, (28, 28), 60000, 10000, (0.2860,), (0.3530,), None),
    # digits: pixels 0..16 scaled to 0..1; mean/std of all 1797 scaled images.
    "digits": _Meta(10, 1, (8, 8), _DIGITS_TOTAL - _DIGITS_N_TEST, _DIGITS_N_TEST,
                    (0.3053,), (0.3760,), None),
    "cifar10": _Meta(10, 3, (32, 32), 50000, 10000,
                     (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), "crop-flip"),
    "cifar100": _Meta(100, 3, (32, 32), 50000, 10000,
                      (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), "crop-flip"),
    "imagefolder": _Meta(0, 3, (224, 224), None, None, _IMAGENET_MEAN, _IMAGENET_STD, "imagenet"),
}


class DatasetError(ValueError):
    """A dataset cannot be found, loaded or split as asked. The message says what to do."""


# --------------------------------------------------------------------------------------------------
# splits and bundle
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------------


def _normalise_name(name: str) -> str:
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


def _val_count(val_size: float | int, n: int, num_classes: int, name: str) -> int:
    """Number of validation samples carved from ``n`` training samples (sklearn's rounding)."""
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float, np.integer, np.floating)):
        raise DatasetError(f"val_size must be a fraction in [0, 1) or a count, got {val_size!r}")
    if isinstance(val_size, (float, np.floating)):
        if not math.isfinite(val_size) or not 0.0 <= val_size < 1.0:
            raise DatasetError(
                f"val_size={val_size!r} is out of range: a fraction must be in [0, 1) "
                "(or give a whole number of images)"
            )
        k = math.ceil(float(val_size) * n)
    else:
        k = int(val_size)
        if k < 0 or (n is not None and k >= n):
            raise DatasetError(
                f"val_size={val_size!r} is out of range: a count must be in [0, {n - 1}] "
                f"({name} has {n} training images)"
            )
    if k == 0:
        return 0
    if k < num_classes:
        raise DatasetError(
            f"val_size={val_size!r} gives {k} validation images, fewer than the {num_classes} classes "
            f"of {name}; a stratified split needs at least one per class"
        )
    if n - k < num_classes:
        raise DatasetError(
            f"val_size={val_size!r} leaves {n - k} training images, fewer than the {num_classes} "
            f"classes of {name}"
        )
    return k


def _check_subset(subset: int | None, available: int, num_classes: int, name: str) -> None:
    if subset is None:
        return
    if isinstance(subset, bool) or not isinstance(subset, (int, np.integer)):
        raise DatasetError(f"subset must be a whole number of training images, got {subset!r}")
    if subset > available:
        raise DatasetError(
            f"subset={subset} is larger than the {available} training images available in {name} "
            f"(after carving the validation split); use subset <= {available} or leave it unset"
        )
    if subset < num_classes:
        raise DatasetError(
            f"subset={subset} is smaller than the {num_classes} classes of {name}; "
            f"a stratified subset needs at least one image per class"
        )


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
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


# --------------------------------------------------------------------------------------------------
# split carving
# --------------------------------------------------------------------------------------------------


def _stratified_take(labels: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split positions 0..n-1 into (rest, taken), ``len(taken) == k``, stratified by label and seeded.

    Each class contributes its proportional share of ``k`` (largest-remainder rounding, so the
    shares add up to ``k`` exactly), drawn uniformly at random from that class with
    ``numpy.random.default_rng(seed)``. Same idea as sklearn's ``train_test_split(stratify=...)``,
    in plain numpy because importing sklearn.model_selection alone costs ~2 s.
    """
    n = len(labels)
    pos = np.arange(n)
    if k <= 0:
        return pos, pos[:0]
    if k >= n:
        return pos[:0], pos
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = counts * (k / n)
    share = np.floor(quota).astype(np.int64)
    short = k - int(share.sum())
    if short:
        order = np.argsort(-(quota - share), kind="stable")  # largest remainders first
        share[order[:short]] += 1
    rng = np.random.default_rng(seed)
    by_class = np.argsort(inverse, kind="stable")  # positions grouped by class, ascending
    bounds = np.concatenate(([0], np.cumsum(counts)))
    taken = np.concatenate([
        rng.permutation(by_class[bounds[c]:bounds[c + 1]])[: share[c]] for c in range(len(classes))
    ])
    mask = np.zeros(n, dtype=bool)
    mask[taken] = True
    return pos[~mask], pos[mask]


def _carve(labels: np.ndarray, n_val: int, subset: int | None, seed: int, num_classes: int,
           name: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions of (train, val) in the official training split."""
    train_pos, val_pos = _stratified_take(labels, n_val, seed)
    _check_subset(subset, len(train_pos), num_classes, name)
    if subset is not None and subset < len(train_pos):
        _, keep = _stratified_take(labels[train_pos], subset, seed)
        train_pos = train_pos[keep]
    return train_pos, val_pos


# --------------------------------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------------------------------

_IDX_DTYPES = {8: np.uint8, 9: np.int8, 11: np.dtype(">i2"), 12: np.dtype(">i4"),
               13: np.dtype(">f4"), 14: np.dtype(">f8")}


def _read_idx(path: Path) -> torch.Tensor:
    """Read an IDX ("SN3 Pascal Vincent") file, gzip-compressed or not, into a tensor.

    Same format as ``torchvision.datasets.mnist.read_sn3_pascalvincent_tensor``, which only accepts
    an uncompressed file on disk; this one decompresses in memory so nothing is written.
    """
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = zlib.decompress(raw, 16 + zlib.MAX_WBITS)
    except (OSError, zlib.error, gzip.BadGzipFile) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4).astype(np.int64)
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise DatasetError(f"{path} is truncated or corrupt: {len(raw) - offset} data bytes, "
                           f"expected {expected} for shape {tuple(dims.tolist())}")
    arr = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(dims.tolist())
    return torch.from_numpy(arr.astype(dtype.newbyteorder("="), copy=True))


def _find_idx_dir(directory: Path) -> dict[str, Path] | None:
    """The four Fashion-MNIST files in ``directory`` (plain or .gz), or None if any is missing."""
    found = {}
    for key, base in _FMNIST_FILES.items():
        for candidate in (directory / base, directory / f"{base}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return None
    return found


def _fashion_mnist_candidates(root: str | None) -> list[Path]:
    dirs: list[Path] = []
    if root is not None:
        r = Path(root).expanduser()
        dirs += [r / "FashionMNIST" / "raw", r / "fashion-mnist", r]
    dirs += [Path(d) for d in FASHION_MNIST_SYSTEM_DIRS]
    return dirs


def _load_fashion_mnist(root: str | None, download: bool):
    """Return (train_x uint8 (N,28,28), train_y, test_x, test_y, source)."""
    searched = _fashion_mnist_candidates(root)
    for d in searched:
        files = _find_idx_dir(d)
        if files is not None:
            tx, ty = _read_idx(files["train_images"]), _read_idx(files["train_labels"])
            vx, vy = _read_idx(files["test_images"]), _read_idx(files["test_labels"])
            for xs, ys, which in ((tx, ty, "train"), (vx, vy, "test")):
                if xs.ndim != 3 or xs.shape[1:] != (28, 28) or ys.ndim != 1 or len(xs) != len(ys):
                    raise DatasetError(f"Fashion-MNIST {which} files in {d} have unexpected shapes "
                                       f"{tuple(xs.shape)} / {tuple(ys.shape)}")
                if ys.numel() and int(ys.max()) > 9:
                    raise DatasetError(f"Fashion-MNIST {which} labels in {d} are not in 0..9")
            return tx, ty.long(), vx, vy.long(), str(d)
    if download:
        from torchvision.datasets import FashionMNIST

        droot = Path(root if root is not None else DEFAULT_ROOT).expanduser()
        try:
            tr = FashionMNIST(str(droot), train=True, download=True)
            te = FashionMNIST(str(droot), train=False, download=True)
        except Exception as exc:  # network errors, checksum failures, ...
            raise DatasetError(
                f"downloading Fashion-MNIST into {droot} failed ({type(exc).__name__}: {exc}). "
                "Install it offline with `apt-get install dataset-fashion-mnist` instead."
            ) from None
        return tr.data, tr.targets.long(), te.data, te.targets.long(), str(Path(tr.raw_folder))
    where = ", ".join(str(d) for d in searched)
    raise DatasetError(
        "Fashion-MNIST not found (looked for train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
        f"t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] in: {where}). "
        "Install it with `apt-get install dataset-fashion-mnist`, "
        "or allow downloading it with the `download: true` option (load_dataset(..., download=True)), "
        "or point `root` at a folder that holds those files."
    )


# --------------------------------------------------------------------------------------------------
# other sources
# --------------------------------------------------------------------------------------------------


def _load_digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    images = d.images.astype(np.float32) / 16.0  # (1797, 8, 8) in 0..1
    labels = d.target.astype(np.int64)
    pos = np.arange(len(labels))
    tr, te = train_test_split(pos, test_size=_DIGITS_N_TEST, stratify=labels,
                              random_state=_DIGITS_TEST_SEED)
    tr, te = np.sort(tr), np.sort(te)
    return (torch.from_numpy(images[tr]), torch.from_numpy(labels[tr]),
            torch.from_numpy(images[te]), torch.from_numpy(labels[te]), torch.from_numpy(te))


def _load_cifar(name: str, root: str | None, download: bool):
    from torchvision.datasets import CIFAR10, CIFAR100

    cls = CIFAR10 if name == "cifar10" else CIFAR100
    croot = Path(root if root is not None else DEFAULT_ROOT).expanduser()
    try:
        tr = cls(str(croot), train=True, download=download)
        te = cls(str(croot), train=False, download=download)
    except RuntimeError as exc:
        if download:
            raise DatasetError(f"loading {name} from {croot} failed after download: {exc}") from None
        raise DatasetError(
            f"{name} not found (or corrupt) in {croot / cls.base_folder} (torchvision layout). "
            f"Allow downloading it with the `download: true` option (load_dataset(..., download=True)), or point `root` at "
            f"a folder that holds {cls.base_folder}/."
        ) from None
    except Exception as exc:  # network errors while downloading
        raise DatasetError(f"downloading {name} into {croot} failed ({type(exc).__name__}: {exc})") from None

    def to_tensors(ds):
        x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)  # uint8 NCHW
        return x, torch.as_tensor(ds.targets, dtype=torch.long)

    tx, ty = to_tensors(tr)
    vx, vy = to_tensors(te)
    return tx, ty, vx, vy, tuple(tr.classes), str(croot / cls.base_folder)


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


# --------------------------------------------------------------------------------------------------
# public: load_dataset
# --------------------------------------------------------------------------------------------------


def dataset_info(name: str) -> dict:
    """Static facts about a dataset (classes, channels, image size), without reading it."""
    key = _normalise_name(name)
    meta = _META[key]
    return {"name": key, "num_classes": meta.num_classes, "in_channels": meta.in_channels,
            "image_size": meta.image_size, "n_train": meta.n_train}


def check_split_sizes(name: str, *, val_size, subset) -> None:
    """Reject a validation size or training subset the dataset cannot give, before reading it."""
    info = dataset_info(name)
    if info["n_train"] is None:  # imagefolder: sizes are known once the folder is read
        return
    n_val = _val_count(val_size, info["n_train"], info["num_classes"], info["name"])
    _check_subset(subset, info["n_train"] - n_val, info["num_classes"], info["name"])



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
) -> DataBundle:
    """Load ``name`` and carve a stratified, seeded validation split (and optional training subset).

    ``val_size``: a fraction in [0, 1) or a whole number of images, carved from the official training
    split (0 = no validation split, ``bundle.val is None``). ``subset``: keep only this many training
    images (stratified, seeded), chosen after the validation split is carved. ``seed`` fixes both.
    ``root``: where to look first (and, with ``download=True``, where downloads go; default
    :data:`DEFAULT_ROOT` = ``./data``). ``device``: where the in-memory tensors live ("cpu", "cuda",
    "cuda:N" or "auto").
    ``image_size`` and ``num_workers`` apply to ``imagefolder`` only (defaults 224 and
    ``min(8, cpu_count)``).
    """
    key = _normalise_name(name)
    seed = _check_seed(seed)
    meta = _META[key]
    root = None if root is None else os.fspath(root)
    dev = _as_device(device)
    if isinstance(subset, bool) or (subset is not None and not isinstance(subset, (int, np.integer))):
        raise DatasetError(f"subset must be a whole number of training images, got {subset!r}")
    # fail fast on arguments that cannot work, before reading anything
    if meta.n_train is not None:
        n_val = _val_count(val_size, meta.n_train, meta.num_classes, key)
        _check_subset(subset, meta.n_train - n_val, meta.num_classes, key)
    else:
        _val_count(val_size, 2**62, 1, key)  # range check only

    if key == "imagefolder":
        return _load_imagefolder(root, val_size, subset, seed, image_size, num_workers)

    classes: tuple[str, ...] = ()
    if key == "fashion-mnist":
        tx, ty, vx, vy, source = _load_fashion_mnist(root, download)
        tx, vx, scale = tx.unsqueeze(1), vx.unsqueeze(1), 255.0
        test_idx = torch.arange(len(vy))
        classes = _FMNIST_CLASSES
    elif key == "digits":
        tx, ty, vx, vy, test_idx = _load_digits()
        tx, vx, scale, source = tx.unsqueeze(1), vx.unsqueeze(1), 1.0, "sklearn.datasets.load_digits"
        classes = tuple(str(i) for i in range(10))
    else:
        tx, ty, vx, vy, classes, source = _load_cifar(key, root, download)
        scale = 255.0
        test_idx = torch.arange(len(vy))

    labels = ty.numpy()
    n_val = _val_count(val_size, len(labels), meta.num_classes, key)
    train_pos, val_pos = _carve(labels, n_val, subset, seed, meta.num_classes, key)

    pad_value = tuple(-m / s for m, s in zip(meta.mean, meta.std))

    def split(x_u8, y, pos) -> TensorSplit:
        pos_t = torch.as_tensor(pos, dtype=torch.long) if not torch.is_tensor(pos) else pos
        x = x_u8 if len(pos_t) == len(x_u8) else x_u8[pos_t]
        yy = y if len(pos_t) == len(y) else y[pos_t]
        return TensorSplit(
            x=_normalise(x, scale, meta.mean, meta.std, dev if dev.type == "cuda" else torch.device("cpu")),
            y=yy.to(torch.long).to(dev if dev.type == "cuda" else "cpu"),
            num_classes=meta.num_classes,
            indices=pos_t,
            augment=meta.augment,
            pad_value=pad_value,
        )

    train = split(tx, ty, train_pos)
    val = split(tx, ty, val_pos) if n_val else None
    test = split(vx, vy, test_idx)
    return DataBundle(
        name=key, num_classes=meta.num_classes, in_channels=meta.in_channels,
        image_size=meta.image_size, train=train, val=val, test=test, mean=meta.mean, std=meta.std,
        n_train=len(train), n_val=0 if val is None else len(val), n_test=len(test),
        classes=classes, source=source, augment=meta.augment,
    )


def imagefolder_num_classes(root: str | os.PathLike) -> int | None:
    """Classes of an ImageNet-layout folder (sub-folders of ``root/train``, as ImageFolder finds them),
    or None when the folder is not there (yet): planning does not need the data."""
    train = Path(root).expanduser() / "train"
    if not train.is_dir():
        return None
    return sum(1 for e in os.scandir(train) if e.is_dir()) or None


def _load_imagefolder(root, val_size, subset, seed, image_size, num_workers) -> DataBundle:
    from torchvision import transforms as T
    from torchvision.datasets import ImageFolder

    if root is None:
        raise DatasetError("imagefolder needs `root`: a folder with train/<class>/* and val/<class>/* "
                           "(ImageNet / Imagenette layout)")
    r = Path(root).expanduser()
    missing = [p for p in (r / "train", r / "val") if not p.is_dir()]
    if missing:
        raise DatasetError(f"imagefolder root {r} must hold train/ and val/ class folders; missing: "
                           + ", ".join(str(m) for m in missing))
    size = 224 if image_size is None else int(image_size)
    if size < 1:
        raise DatasetError(f"image_size must be >= 1, got {image_size!r}")
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
    num_classes = len(train_ds.classes)
    labels = np.asarray(train_ds.targets, dtype=np.int64)
    n_val = _val_count(val_size, len(labels), num_classes, "imagefolder")
    train_pos, val_pos = _carve(labels, n_val, subset, seed, num_classes, "imagefolder")

    norm = T.Normalize(_IMAGENET_MEAN, _IMAGENET_STD)
    train_tf = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor(), norm])
    eval_tf = T.Compose([T.Resize(int(round(size * 256 / 224))), T.CenterCrop(size), T.ToTensor(), norm])
    workers = min(8, os.cpu_count() or 1) if num_workers is None else int(num_workers)

    def split(ds, pos) -> FolderSplit:
        return FolderSplit(ds, torch.as_tensor(pos, dtype=torch.long), num_classes, train_tf, eval_tf,
                           workers)

    train = split(train_ds, train_pos)
    val = split(train_ds, val_pos) if n_val else None
    test = split(test_ds, np.arange(len(test_ds)))
    return DataBundle(
        name="imagefolder", num_classes=num_classes, in_channels=3, image_size=(size, size),
        train=train, val=val, test=test, mean=_IMAGENET_MEAN, std=_IMAGENET_STD,
        n_train=len(train), n_val=0 if val is None else len(val), n_test=len(test),
        classes=tuple(train_ds.classes), source=str(r), augment="imagenet",
    )


# --------------------------------------------------------------------------------------------------
# loaders
# --------------------------------------------------------------------------------------------------


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A well-mixed 63-bit seed derived from (seed, epoch, stream)."""
    state = np.random.SeedSequence([int(seed), int(epoch), int(stream)]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, *, padding: int = 4,
                     flip: bool = True, crop: bool = True,
                     pad_value: Sequence[float] | None = None) -> torch.Tensor:
    """Batched random crop (same size, ``padding`` px constant padding) and horizontal flip.

    Equivalent per image to torchvision's ``RandomCrop(H, padding)`` + ``RandomHorizontalFlip()``;
    the random numbers come from ``generator`` (a CPU generator), so the result is seeded and the
    same on every device.
    """
    b, c, h, w = x.shape
    dev = x.device
    p = padding if crop else 0
    if crop:
        oy = torch.randint(0, 2 * p + 1, (b,), generator=generator)
        ox = torch.randint(0, 2 * p + 1, (b,), generator=generator)
    else:
        oy = ox = torch.zeros(b, dtype=torch.long)
    do_flip = (torch.rand(b, generator=generator) < 0.5) if flip else torch.zeros(b, dtype=torch.bool)
    if p:
        xp = x.new_empty((b, c, h + 2 * p, w + 2 * p))
        fill = torch.as_tensor(pad_value if pad_value is not None else (0.0,) * c,
                               dtype=x.dtype, device=dev).view(1, -1, 1, 1)
        xp.copy_(fill.expand_as(xp))
        xp[:, :, p:p + h, p:p + w] = x
    else:
        xp = x
    rows = oy.view(b, 1) + torch.arange(h).view(1, h)  # (B, H)
    cols = ox.view(b, 1) + torch.arange(w).view(1, w)  # (B, W)
    cols = torch.where(do_flip.view(b, 1), cols.flip(1), cols)
    bi = torch.arange(b).view(b, 1, 1)
    out = xp[bi.to(dev), :, rows.view(b, h, 1).to(dev), cols.view(b, 1, w).to(dev)]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


class TensorLoader:
    """Batches ``(x, y)`` sliced from a :class:`TensorSplit`.

    The order and the augmentation of an epoch depend only on ``(seed, epoch)``; call
    :meth:`set_epoch` before iterating (each iteration otherwise advances the epoch by one).
    """

    def __init__(self, split: TensorSplit, *, batch_size: int, shuffle: bool, seed: int,
                 augment: bool, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.split = split
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.augment = split.augment if augment else None
        self.drop_last = bool(drop_last)
        self.epoch = 0
        self._generator: torch.Generator | None = None

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"seed": self.seed, "epoch": self.epoch}
        if self._generator is not None:
            state["generator"] = self._generator.get_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        g = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        self._generator = g
        return self._batches(g)

    def _batches(self, g: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self.split.x, self.split.y
        n, bs = len(self.split), self.batch_size
        perm = torch.randperm(n, generator=g).to(x.device) if self.shuffle else None
        stop = n - n % bs if self.drop_last else n
        for start in range(0, stop, bs):
            if perm is None:
                xb, yb = x[start:start + bs], y[start:start + bs]
            else:
                idx = perm[start:start + bs]
                xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            if self.augment == "crop-flip":
                xb = random_crop_flip(xb, g, padding=4, pad_value=self.split.pad_value)
            elif self.augment == "flip":
                xb = random_crop_flip(xb, g, crop=False)
            yield xb, yb


class _TransformSubset(torch.utils.data.Dataset):
    def __init__(self, dataset, indices: torch.Tensor, transform):
        self.dataset, self.indices, self.transform = dataset, indices.tolist(), transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):
        img, target = self.dataset[self.indices[i]]
        return self.transform(img), target


class FolderLoader:
    """A ``DataLoader`` over a :class:`FolderSplit`, shuffled by a generator seeded from (seed, epoch)."""

    def __init__(self, split: FolderSplit, *, batch_size: int, shuffle: bool, seed: int,
                 augment: bool, drop_last: bool = False):
        self.split = split
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        tf = split.train_transform if augment else split.eval_transform
        self._dataset = _TransformSubset(split.dataset, split.indices, tf)

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        g = torch.Generator().manual_seed(epoch_seed(self.seed, epoch))
        workers = self.split.num_workers
        loader = torch.utils.data.DataLoader(
            self._dataset, batch_size=self.batch_size, shuffle=self.shuffle, generator=g,
            num_workers=workers, pin_memory=torch.cuda.is_available(), drop_last=self.drop_last,
            persistent_workers=False, prefetch_factor=4 if workers > 0 else None,
        )
        return iter(loader)


def make_loader(split: Split, *, batch_size: int, shuffle: bool, seed: int, augment: bool,
                drop_last: bool = False) -> TensorLoader | FolderLoader:
    """An iterable of ``(x, y)`` batches with ``__len__``, ``set_epoch`` and ``state_dict``."""
    if isinstance(split, TensorSplit):
        return TensorLoader(split, batch_size=batch_size, shuffle=shuffle, seed=seed, augment=augment,
                            drop_last=drop_last)
    if isinstance(split, FolderSplit):
        return FolderLoader(split, batch_size=batch_size, shuffle=shuffle, seed=seed, augment=augment,
                            drop_last=drop_last)
    raise TypeError(f"make_loader expects a TensorSplit or FolderSplit, got {type(split).__name__}")
