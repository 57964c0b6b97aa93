"""Datasets, splits and loaders (ecabench.data)."""

from __future__ import annotations

import gzip
import pickle
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ecabench import data as D
from ecabench.data import (
    DatasetError,
    TensorSplit,
    catalog,
    load_dataset,
    make_loader,
    random_crop_flip,
    sources,
    splits,
)

DEBIAN_FMNIST = Path("/usr/share/datasets/fashion-mnist")
needs_fmnist = pytest.mark.skipif(
    not (DEBIAN_FMNIST / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)",
)


# ---------------------------------------------------------------------------------------------- helpers


def write_idx(path: Path, arr: np.ndarray, compress: bool = True) -> None:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    payload = bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape) + arr.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload, compresslevel=1))
    else:
        path.write_bytes(payload)


def fake_fmnist(folder: Path, n_train: int = 200, n_test: int = 50, compress: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, compress)


def fake_cifar10(root: Path, per_batch: int = 40, n_test: int = 30) -> None:
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def dump(name, n, offset):
        entry = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "labels": [(offset + i) % 10 for i in range(n)]}
        with open(base / name, "wb") as f:
            pickle.dump(entry, f)

    for i in range(1, 6):
        dump(f"data_batch_{i}", per_batch, i)
    dump("test_batch", n_test, 0)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)


def index_split(n: int = 100, c: int = 3, hw: int = 32, classes: int = 10, augment=None) -> TensorSplit:
    """A split whose image i is filled with the value i (so batches reveal their indices)."""
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, c, hw, hw).contiguous()
    y = torch.arange(n) % classes
    return TensorSplit(x=x, y=y, num_classes=classes, indices=torch.arange(n), augment=augment,
                       pad_value=(-1.0,) * c)


# ---------------------------------------------------------------------------------------- fashion-mnist


@needs_fmnist
def test_fashion_mnist_debian_full_sizes_and_speed():
    t = time.perf_counter()
    b = load_dataset("fashion-mnist", val_size=0)
    elapsed = time.perf_counter() - t
    assert b.name == "fashion-mnist"
    assert (b.num_classes, b.in_channels, b.image_size) == (10, 1, (28, 28))
    assert (b.n_train, b.n_val, b.n_test) == (60000, 0, 10000)
    assert b.val is None
    assert b.train.x.shape == (60000, 1, 28, 28) and b.train.x.dtype == torch.float32
    assert b.test.x.shape == (10000, 1, 28, 28)
    assert b.train.y.dtype == torch.long and set(b.train.y.unique().tolist()) == set(range(10))
    assert b.source == str(DEBIAN_FMNIST)
    # normalised with the published constants: mean ~0, std ~1 on the training set
    assert abs(b.train.x.mean().item()) < 0.01 and abs(b.train.x.std().item() - 1) < 0.01
    assert b.train.class_counts() == [6000] * 10
    assert elapsed < 4.0, f"loading Fashion-MNIST took {elapsed:.2f}s"


@needs_fmnist
def test_fashion_mnist_val_split_stratified_seeded_disjoint():
    a = load_dataset("fashion-mnist", seed=0, subset=5000)
    b = load_dataset("fashion-mnist", seed=0, subset=5000)
    c = load_dataset("fashion-mnist", seed=1, subset=5000)
    assert (a.n_train, a.n_val, a.n_test) == (5000, 6000, 10000)
    assert a.val.class_counts() == [600] * 10  # stratified
    assert a.train.class_counts() == [500] * 10  # stratified subset
    assert torch.equal(a.val.indices, b.val.indices) and torch.equal(a.train.indices, b.train.indices)
    assert torch.equal(a.train.x, b.train.x)
    assert not torch.equal(a.val.indices, c.val.indices)
    assert not torch.equal(a.train.indices, c.train.indices)
    assert not set(a.train.indices.tolist()) & set(a.val.indices.tolist())


@needs_fmnist
def test_idx_reader_matches_torchvision(tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    for name, reader in (("t10k-images-idx3-ubyte", read_image_file),
                         ("t10k-labels-idx1-ubyte", read_label_file)):
        plain = tmp_path / name
        plain.write_bytes(gzip.decompress((DEBIAN_FMNIST / f"{name}.gz").read_bytes()))
        ours = sources.read_idx(DEBIAN_FMNIST / f"{name}.gz")
        assert torch.equal(ours, reader(str(plain)))
        assert torch.equal(sources.read_idx(plain), ours)


@pytest.mark.parametrize("layout", ["torchvision", "flat", "uncompressed"])
def test_fashion_mnist_from_root_takes_precedence(tmp_path, monkeypatch, layout):
    monkeypatch.setattr(sources, "FASHION_MNIST_SYSTEM_DIRS", (str(tmp_path / "nowhere"),))
    folder = tmp_path / "FashionMNIST" / "raw" if layout == "torchvision" else tmp_path
    fake_fmnist(folder, compress=layout != "uncompressed")
    b = load_dataset("fashion-mnist", root=tmp_path, val_size=20)
    assert (b.n_train, b.n_val, b.n_test) == (180, 20, 50)
    assert b.source == str(folder)
    assert b.train.x.shape == (180, 1, 28, 28)
    assert b.val.class_counts() == [2] * 10


def test_fashion_mnist_missing_names_apt_package_and_download(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(sources, "FASHION_MNIST_SYSTEM_DIRS", (str(tmp_path / "no-such-dir"),))
    with pytest.raises(DatasetError) as exc:
        load_dataset("fashion-mnist", root=empty)
    msg = str(exc.value)
    assert "apt-get install dataset-fashion-mnist" in msg
    assert "download: true" in msg
    assert str(empty) in msg and "no-such-dir" in msg


def test_corrupt_idx_file_is_a_dataset_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "FASHION_MNIST_SYSTEM_DIRS", ())
    fake_fmnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DatasetError, match="cannot read"):
        load_dataset("fashion-mnist", root=tmp_path)


# ------------------------------------------------------------------------------------ argument errors


def test_unknown_dataset_suggests_nearest():
    with pytest.raises(DatasetError) as exc:
        load_dataset("fashion-mnst")
    msg = str(exc.value)
    assert "'fashion-mnist'" in msg and "Did you mean" in msg
    for known in D.DATASETS:
        assert known in msg
    with pytest.raises(DatasetError, match="Did you mean 'cifar10'"):
        load_dataset("cifar11")


def test_aliases_are_accepted():
    assert catalog.normalise_name("Fashion_MNIST") == "fashion-mnist"
    assert catalog.normalise_name("CIFAR-10") == "cifar10"


def test_subset_too_large_names_both_numbers_before_loading(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("data was read before the arguments were checked")

    monkeypatch.setattr(sources, "_load_fashion_mnist", boom)
    with pytest.raises(DatasetError) as exc:
        load_dataset("fashion-mnist", subset=60000)
    assert "60000" in str(exc.value) and "54000" in str(exc.value)
    with pytest.raises(DatasetError, match="1293"):
        load_dataset("digits", subset=5000)  # 1437 train images - 144 val


@pytest.mark.parametrize("subset", [0, 3, 9])
def test_subset_smaller_than_classes(subset):
    with pytest.raises(DatasetError, match="10 classes"):
        load_dataset("digits", subset=subset)


@pytest.mark.parametrize("val_size", [1.0, 1.5, -0.1, float("nan"), 1437, -3, 5, "0.1", True])
def test_val_size_out_of_range(val_size):
    with pytest.raises(DatasetError, match="val_size"):
        load_dataset("digits", val_size=val_size)


def test_bad_subset_type_and_seed():
    with pytest.raises(DatasetError, match="subset"):
        load_dataset("digits", subset=10.5)
    with pytest.raises(DatasetError, match="seed"):
        load_dataset("digits", seed=-1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_gpu():
    with pytest.raises(DatasetError, match="no CUDA GPU"):
        load_dataset("digits", device="cuda")


# --------------------------------------------------------------------------------------------- digits


def test_digits_bundle():
    b = load_dataset("digits")
    assert (b.num_classes, b.in_channels, b.image_size) == (10, 1, (8, 8))
    assert (b.n_train, b.n_val, b.n_test) == (1437 - 144, 144, 360)
    assert b.train.x.shape == (1293, 1, 8, 8)
    assert b.train.augment is None
    # the test split is fixed: independent of the run seed
    other = load_dataset("digits", seed=7)
    assert torch.equal(b.test.indices, other.test.indices) and torch.equal(b.test.x, other.test.x)
    assert not torch.equal(b.val.indices, other.val.indices)
    assert not set(b.train.indices.tolist()) & set(b.val.indices.tolist())
    assert sorted(b.train.indices.tolist() + b.val.indices.tolist()) == list(range(1437))
    counts = b.val.class_counts()
    assert max(counts) - min(counts) <= 1


def test_digits_subset_is_stratified_and_seeded():
    a = load_dataset("digits", subset=200, seed=3)
    b = load_dataset("digits", subset=200, seed=3)
    assert a.n_train == 200 and a.train.class_counts() == [20] * 10
    assert torch.equal(a.train.indices, b.train.indices)
    assert set(a.train.indices.tolist()) <= set(load_dataset("digits", seed=3).train.indices.tolist())
    full = load_dataset("digits", subset=1293)  # exactly the available size is allowed
    assert full.n_train == 1293


def test_digits_test_subset_is_stratified_seeded_and_scores_those_images():
    full = load_dataset("digits", seed=3)
    a = load_dataset("digits", seed=3, test_subset=100)
    assert a.n_test == 100 and max(a.test.class_counts()) - min(a.test.class_counts()) <= 1
    assert torch.equal(a.test.indices, load_dataset("digits", seed=3, test_subset=100).test.indices)
    assert not torch.equal(a.test.indices, load_dataset("digits", seed=4, test_subset=100).test.indices)
    # the images kept are the full split's images at those positions, with their labels
    where = {int(i): n for n, i in enumerate(full.test.indices)}
    rows = torch.tensor([where[int(i)] for i in a.test.indices])
    assert torch.equal(a.test.x, full.test.x[rows]) and torch.equal(a.test.y, full.test.y[rows])
    # training and validation splits do not depend on it
    assert torch.equal(a.train.indices, full.train.indices) and torch.equal(a.val.indices, full.val.indices)
    assert load_dataset("digits", seed=3, test_subset=360).n_test == 360  # the whole split is allowed


@pytest.mark.parametrize(("test_subset", "match"), [(361, "10 <= test_subset <= 360"), (9, "10 <= test_subset"),
                                                     (12.5, "whole number"), (True, "whole number")])
def test_bad_test_subset_is_refused_before_reading(monkeypatch, test_subset, match):
    monkeypatch.setattr(sources, "read_source", lambda *a, **k: pytest.fail("data read before the check"))
    with pytest.raises(DatasetError, match=match) as exc:
        load_dataset("digits", test_subset=test_subset)
    assert "test_subset" in str(exc.value)


def test_stratified_take_exact_counts():
    labels = np.repeat(np.arange(3), [50, 30, 20])
    rest, taken = splits.stratified_take(labels, 10, seed=0)
    assert len(taken) == 10 and len(rest) == 90
    assert np.bincount(labels[taken]).tolist() == [5, 3, 2]
    rest2, taken2 = splits.stratified_take(labels, 10, seed=0)
    assert np.array_equal(taken, taken2)
    _, taken3 = splits.stratified_take(labels, 7, seed=1)  # fractional quotas still add up
    assert len(taken3) == 7


# -------------------------------------------------------------------------------------------- loaders


def test_loader_covers_split_once_seeded_per_epoch():
    split = index_split(103)
    loader = make_loader(split, batch_size=10, shuffle=True, seed=0, augment=False)
    assert len(loader) == 11

    def order(ld, epoch):
        ld.set_epoch(epoch)
        xs = [xb[:, 0, 0, 0] for xb, yb in ld]
        return torch.cat(xs).long()

    o0 = order(loader, 0)
    assert sorted(o0.tolist()) == list(range(103))
    assert torch.equal(o0, order(make_loader(split, batch_size=10, shuffle=True, seed=0, augment=False), 0))
    assert not torch.equal(o0, order(loader, 1))
    assert not torch.equal(o0, order(make_loader(split, batch_size=10, shuffle=True, seed=1,
                                                 augment=False), 0))
    # labels stay aligned with images
    for xb, yb in loader:
        assert torch.equal(xb[:, 0, 0, 0].long() % 10, yb)


def test_loader_in_order_and_drop_last():
    split = index_split(25)
    loader = make_loader(split, batch_size=10, shuffle=False, seed=0, augment=False, drop_last=True)
    assert len(loader) == 2
    batches = list(loader)
    assert [len(b[1]) for b in batches] == [10, 10]
    assert torch.equal(batches[0][0][:, 0, 0, 0], torch.arange(10, dtype=torch.float32))


def test_random_crop_flip_matches_per_image_reference():
    x = torch.randn(16, 3, 32, 32)
    pad = torch.tensor([-1.0, -2.0, -3.0])
    out = random_crop_flip(x, torch.Generator().manual_seed(5), padding=4, pad_value=pad.tolist())
    assert out.shape == x.shape
    g = torch.Generator().manual_seed(5)
    oy = torch.randint(0, 9, (16,), generator=g)
    ox = torch.randint(0, 9, (16,), generator=g)
    flip = torch.rand(16, generator=g) < 0.5
    padded = pad.view(1, 3, 1, 1).expand(16, 3, 40, 40).clone()
    padded[:, :, 4:36, 4:36] = x
    for i in range(16):
        ref = padded[i, :, oy[i]:oy[i] + 32, ox[i]:ox[i] + 32]
        if flip[i]:
            ref = ref.flip(-1)
        assert torch.equal(out[i], ref)
    assert flip.any() and (~flip).any()


def test_cifar_style_augmentation_shape_and_seed():
    split = index_split(64, augment="crop-flip")
    split.x = torch.randn(64, 3, 32, 32)

    def first(seed, epoch, augment=True):
        ld = make_loader(split, batch_size=32, shuffle=True, seed=seed, augment=augment)
        ld.set_epoch(epoch)
        return next(iter(ld))

    a, b, c = first(0, 0), first(0, 0), first(1, 0)
    assert a[0].shape == (32, 3, 32, 32)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[0], first(0, 1)[0])
    plain = first(0, 0, augment=False)
    assert torch.equal(plain[1], a[1])  # same order; only pixels differ
    assert not torch.equal(plain[0], a[0])


def test_cifar10_through_torchvision_format(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    fake_cifar10(tmp_path)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)  # fake files, no md5
    b = load_dataset("cifar10", root=tmp_path, val_size=0.25)
    assert (b.num_classes, b.in_channels, b.image_size) == (10, 3, (32, 32))
    assert (b.n_train, b.n_val, b.n_test) == (150, 50, 30)
    assert b.train.x.shape == (150, 3, 32, 32)
    assert b.augment == "crop-flip" and b.train.augment == "crop-flip"
    assert b.classes == tuple(f"c{i}" for i in range(10))
    assert b.val.class_counts() == [5] * 10
    # normalisation with the CIFAR-10 constants: a black pixel -> -mean/std
    assert b.train.pad_value[0] == pytest.approx(-0.4914 / 0.2470)
    xb, yb = next(iter(make_loader(b.train, batch_size=16, shuffle=True, seed=0, augment=True)))
    assert xb.shape == (16, 3, 32, 32) and yb.shape == (16,)


def test_cifar_missing_names_download_option(tmp_path):
    with pytest.raises(DatasetError) as exc:
        load_dataset("cifar100", root=tmp_path)
    assert "download: true" in str(exc.value) and "cifar-100-python" in str(exc.value)


def _assert_unreadable_not_downloaded(msg: str, folder: Path, dataset: str) -> None:
    """Names the folder, says the files could not be read and that downloading is off; claims no download."""
    assert str(folder) in msg and "could not be read" in msg
    assert "Downloading is off" in msg and "download: true" in msg
    assert f"downloading {dataset}" not in msg.lower() and "failed" not in msg


def test_cifar_files_that_fail_the_checksum_are_reported_as_unreadable(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test", "meta"):
        (folder / name).write_bytes(b"garbage")
    with pytest.raises(DatasetError) as exc:
        load_dataset("cifar100", root=tmp_path)
    msg = str(exc.value)
    _assert_unreadable_not_downloaded(msg, folder, "cifar100")
    assert "train: checksum mismatch" in msg and "meta: checksum mismatch" in msg


def test_cifar_files_in_the_wrong_format_name_the_reading_error(tmp_path, monkeypatch):
    """Files that pass torchvision's integrity check but cannot be unpickled: the unpickling error, no download."""
    import torchvision.datasets.cifar as tv_cifar

    fake_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)  # fake files, no md5
    for download in (False, True):  # with downloading on, nothing is downloaded over files torchvision accepts
        with pytest.raises(DatasetError) as exc:
            load_dataset("cifar10", root=tmp_path, download=download)
        msg = str(exc.value)
        assert str(tmp_path / "cifar-10-batches-py") in msg and "could not be read" in msg
        assert "UnpicklingError" in msg and "downloading cifar10" not in msg.lower() and "failed" not in msg
        assert ("Downloading is off" in msg) != download


def test_fashion_mnist_truncated_gz_is_reported_as_unreadable(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "FASHION_MNIST_SYSTEM_DIRS", ())
    fake_fmnist(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DatasetError) as exc:
        load_dataset("fashion-mnist", root=tmp_path)
    msg = str(exc.value)
    _assert_unreadable_not_downloaded(msg, tmp_path, "fashion-mnist")
    assert str(path) in msg and "truncated" in msg


# ---------------------------------------------------------------------------------------- imagefolder


def make_image_folder(root: Path, classes=("a", "b"), per_class=(8, 3)) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in zip(("train", "val"), per_class):
        for c in classes:
            d = root / split / c
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(d / f"{i}.png")


def test_imagefolder_splits_and_loader(tmp_path):
    make_image_folder(tmp_path)
    b = load_dataset("imagefolder", root=tmp_path, val_size=0.25, image_size=32, num_workers=0)
    assert (b.num_classes, b.in_channels, b.image_size) == (2, 3, (32, 32))
    assert (b.n_train, b.n_val, b.n_test) == (12, 4, 6)
    assert b.val.class_counts() == [2, 2]
    assert not set(b.train.indices.tolist()) & set(b.val.indices.tolist())
    ld = make_loader(b.train, batch_size=5, shuffle=True, seed=0, augment=True)
    assert len(ld) == 3
    shapes = [tuple(x.shape) for x, _ in ld]
    assert shapes == [(5, 3, 32, 32), (5, 3, 32, 32), (2, 3, 32, 32)]
    xt, yt = next(iter(make_loader(b.test, batch_size=6, shuffle=False, seed=0, augment=False)))
    assert xt.shape == (6, 3, 32, 32) and yt.tolist() == [0, 0, 0, 1, 1, 1]


def test_imagefolder_errors(tmp_path):
    with pytest.raises(DatasetError, match="needs `root`"):
        load_dataset("imagefolder")
    with pytest.raises(DatasetError, match="train/ and val/"):
        load_dataset("imagefolder", root=tmp_path)
    make_image_folder(tmp_path / "x")
    (tmp_path / "x" / "val" / "b").rename(tmp_path / "x" / "val" / "c")
    with pytest.raises(DatasetError, match="different classes"):
        load_dataset("imagefolder", root=tmp_path / "x", val_size=0.25)
