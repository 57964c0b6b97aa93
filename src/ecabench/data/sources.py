"""Reading the official train/test images of each in-memory dataset from wherever they are.

Fashion-MNIST is looked up in ``root`` (torchvision's ``root/FashionMNIST/raw`` layout, or the IDX
files directly in ``root``), then in the Debian package ``dataset-fashion-mnist``
(:data:`FASHION_MNIST_SYSTEM_DIRS`), then downloaded through torchvision when ``download=True``, so
an offline machine with the package needs no network. CIFAR goes through torchvision; digits through
sklearn. Heavy libraries are imported only for the dataset that needs them.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ecabench.data.catalog import DIGITS_N_TEST, DIGITS_TEST_SEED, FMNIST_CLASSES, DatasetError

#: Where downloads go when ``download=True`` and no ``root`` is given (relative to the working dir).
DEFAULT_ROOT = "data"

#: System directories searched for the Fashion-MNIST IDX files (Debian package ``dataset-fashion-mnist``).
FASHION_MNIST_SYSTEM_DIRS: tuple[str, ...] = ("/usr/share/datasets/fashion-mnist",)

#: Tests only: "1" makes the CIFAR loader accept files whose md5 sums are not torchvision's (it still
#: needs every file). For test data written on the fly (benchmarks/paper_miniature.py), which cannot
#: have the real files' sums; an environment variable, not a config key, so that no workflow config
#: can turn the check off, and it reaches Snakemake's job processes. A record's ``source`` says so.
SKIP_CIFAR_MD5_ENV = "ECABENCH_TEST_SKIP_CIFAR_MD5"

_FMNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_IDX_DTYPES = {8: np.uint8, 9: np.int8, 11: np.dtype(">i2"), 12: np.dtype(">i4"),
               13: np.dtype(">f4"), 14: np.dtype(">f8")}


@dataclass
class RawData:
    """An official train/test pair as read, before normalisation and splitting.

    Images are (N, C, H, W) with pixel values in ``[0, scale]``; ``test_indices`` are the positions of
    the test images in the source they came from (for provenance).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    test_indices: torch.Tensor
    scale: float
    classes: tuple[str, ...]
    source: str


def read_source(key: str, root: str | None, download: bool) -> RawData:
    """The images of in-memory dataset ``key`` (a canonical name, not ``imagefolder``)."""
    if key == "fashion-mnist":
        return _load_fashion_mnist(root, download)
    if key == "digits":
        return _load_digits()
    return _load_cifar(key, root, download)


# --------------------------------------------------------------------------------------------------
# Fashion-MNIST
# --------------------------------------------------------------------------------------------------


def read_idx(path: Path) -> torch.Tensor:
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


def _fashion_mnist_data(tx, ty, vx, vy, source: str) -> RawData:
    return RawData(tx.unsqueeze(1), ty.long(), vx.unsqueeze(1), vy.long(), torch.arange(len(vy)), 255.0,
                   FMNIST_CLASSES, source)


def _read_fashion_mnist_dir(directory: Path, files: dict[str, Path]) -> RawData:
    tx, ty = read_idx(files["train_images"]), read_idx(files["train_labels"])
    vx, vy = read_idx(files["test_images"]), read_idx(files["test_labels"])
    for xs, ys, which in ((tx, ty, "train"), (vx, vy, "test")):
        if xs.ndim != 3 or xs.shape[1:] != (28, 28) or ys.ndim != 1 or len(xs) != len(ys):
            raise DatasetError(f"Fashion-MNIST {which} files in {directory} have unexpected shapes "
                               f"{tuple(xs.shape)} / {tuple(ys.shape)}")
        if ys.numel() and int(ys.max()) > 9:
            raise DatasetError(f"Fashion-MNIST {which} labels in {directory} are not in 0..9")
    return _fashion_mnist_data(tx, ty, vx, vy, str(directory))


def _download_fashion_mnist(root: str | None) -> RawData:
    from torchvision.datasets import FashionMNIST  # torchvision: downloads only (the Debian files need none)

    droot = Path(root if root is not None else DEFAULT_ROOT).expanduser()
    try:
        tr = FashionMNIST(str(droot), train=True, download=True)
        te = FashionMNIST(str(droot), train=False, download=True)
    except Exception as exc:  # network errors, checksum failures, ...
        raise DatasetError(
            f"downloading Fashion-MNIST into {droot} failed ({type(exc).__name__}: {exc}). "
            "Install it offline with `apt-get install dataset-fashion-mnist` instead."
        ) from None
    return _fashion_mnist_data(tr.data, tr.targets, te.data, te.targets, str(Path(tr.raw_folder)))


def _fashion_mnist_unreadable(directory: Path, exc: DatasetError, download: bool) -> DatasetError:
    """Files found but unreadable: say where, why, and that nothing was (or will be) downloaded over them."""
    if download:
        advice = ("Nothing was downloaded: files that exist are never replaced. Remove or replace them, "
                  "or point `root` at a folder with readable files.")
    else:
        advice = ("Downloading is off, so nothing was downloaded: replace the files (for the system copy: "
                  "`apt-get install --reinstall dataset-fashion-mnist`), or point `root` at a folder with readable "
                  "files, or allow downloading with the `download: true` option (load_dataset(..., download=True)) "
                  "and a `root` without these files.")
    return DatasetError(f"Fashion-MNIST files were found in {directory} but could not be read: {exc}. {advice}")


def _load_fashion_mnist(root: str | None, download: bool) -> RawData:
    searched = _fashion_mnist_candidates(root)
    for d in searched:
        files = _find_idx_dir(d)
        if files is not None:
            try:
                return _read_fashion_mnist_dir(d, files)
            except DatasetError as exc:
                raise _fashion_mnist_unreadable(d, exc, download) from None
    if download:
        return _download_fashion_mnist(root)
    where = ", ".join(str(d) for d in searched)
    raise DatasetError(
        "Fashion-MNIST not found (looked for train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
        f"t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] in: {where}). "
        "Install it with `apt-get install dataset-fashion-mnist`, "
        "or allow downloading it with the `download: true` option (load_dataset(..., download=True)), "
        "or point `root` at a folder that holds those files."
    )


# --------------------------------------------------------------------------------------------------
# digits, CIFAR
# --------------------------------------------------------------------------------------------------


def _load_digits() -> RawData:
    from sklearn.datasets import load_digits  # scikit-learn (~1 s to import): the digits dataset only
    from sklearn.model_selection import train_test_split  # scikit-learn, as above

    d = load_digits()
    images = d.images.astype(np.float32) / 16.0  # pixels 0..16 -> 0..1
    labels = d.target.astype(np.int64)
    pos = np.arange(len(labels))
    tr, te = train_test_split(pos, test_size=DIGITS_N_TEST, stratify=labels,
                              random_state=DIGITS_TEST_SEED)
    tr, te = np.sort(tr), np.sort(te)
    return RawData(torch.from_numpy(images[tr]).unsqueeze(1), torch.from_numpy(labels[tr]),
                   torch.from_numpy(images[te]).unsqueeze(1), torch.from_numpy(labels[te]), torch.from_numpy(te),
                   1.0, tuple(str(i) for i in range(10)), "sklearn.datasets.load_digits")


def _cifar_files(cls) -> list[tuple[str, str]]:
    """(file name, md5) of every file torchvision reads for ``cls`` (train and test batches, meta)."""
    return [*cls.train_list, *cls.test_list, (cls.meta["filename"], cls.meta["md5"])]


def _cifar_file_problems(cls, folder: Path) -> list[str]:
    """What is wrong with the CIFAR files in ``folder``: one line per missing or altered file."""
    from torchvision.datasets import cifar as tv_cifar  # torchvision: CIFAR only

    problems = []
    for name, md5 in _cifar_files(cls):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif not tv_cifar.check_integrity(str(path), md5):
            problems.append(f"{name}: checksum mismatch ({path.stat().st_size} bytes; not the official file)")
    return problems


def _cifar_unreadable(name: str, folder: Path, reason: str, download: bool, base_folder: str) -> DatasetError:
    found = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    shown = ", ".join(found[:8]) + (", ..." if len(found) > 8 else "")
    if download:
        advice = ("Nothing was downloaded: torchvision accepted the files there as complete. Remove that "
                  "folder to download it afresh, or point `root` at a folder with a readable "
                  f"{base_folder}/.")
    else:
        advice = ("Downloading is off, so nothing was downloaded: allow it with the `download: true` option "
                  "(load_dataset(..., download=True)), or replace the files, or point `root` at a folder "
                  f"with a readable {base_folder}/.")
    return DatasetError(f"{name} files were found in {folder} ({shown}) but could not be read: {reason}. "
                        f"{advice}")


def _without_md5(cls):
    """``cls`` (torchvision's CIFAR10/CIFAR100) checking that its files exist but not their md5 sums."""
    return type(cls.__name__, (cls,), {
        "train_list": [[f, None] for f, _ in cls.train_list],
        "test_list": [[f, None] for f, _ in cls.test_list],
        "meta": {**cls.meta, "md5": None},
    })


def _cifar_class(name: str):
    from torchvision.datasets import CIFAR10, CIFAR100  # torchvision: CIFAR only

    cls = CIFAR10 if name == "cifar10" else CIFAR100
    return _without_md5(cls) if os.environ.get(SKIP_CIFAR_MD5_ENV) == "1" else cls


def _load_cifar(name: str, root: str | None, download: bool) -> RawData:
    cls = _cifar_class(name)
    skip_md5 = cls.train_list[0][1] is None
    croot = Path(root if root is not None else DEFAULT_ROOT).expanduser()
    folder = croot / cls.base_folder
    present = folder.is_dir() and any(folder.iterdir())
    # torchvision downloads only when its integrity check fails: otherwise any error is a reading error
    will_download = download and bool(_cifar_file_problems(cls, folder))
    try:
        tr = cls(str(croot), train=True, download=download)
        te = cls(str(croot), train=False, download=download)
    except Exception as exc:  # network, checksum, unpickling and format errors alike
        if will_download:
            raise DatasetError(f"downloading {name} into {croot} failed ({type(exc).__name__}: {exc})") from None
        if present:
            problems = _cifar_file_problems(cls, folder)
            reason = ("; ".join(problems) if problems else f"{type(exc).__name__}: {exc}")
            raise _cifar_unreadable(name, folder, reason, download, cls.base_folder) from None
        raise DatasetError(
            f"{name} not found in {folder} (torchvision layout). "
            "Allow downloading it with the `download: true` option (load_dataset(..., download=True)), "
            f"or point `root` at a folder that holds {cls.base_folder}/."
        ) from None

    def to_tensors(ds):
        x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2)  # uint8 NCHW
        return x, torch.as_tensor(ds.targets, dtype=torch.long)

    tx, ty = to_tensors(tr)
    vx, vy = to_tensors(te)
    source = str(croot / cls.base_folder) + (f" (md5 not checked: {SKIP_CIFAR_MD5_ENV}=1)" if skip_md5 else "")
    return RawData(tx, ty, vx, vy, torch.arange(len(vy)), 255.0, tuple(tr.classes), source)
