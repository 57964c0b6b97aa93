"""Stratified, seeded carving of the validation split and the training subset, and their size checks.

The carving depends only on the labels and the seed, so every model trained with one seed sees the
same images; the checks run on the static dataset sizes, so an impossible request fails before any
data is read.
"""

from __future__ import annotations

import math

import numpy as np

from ecabench.data.catalog import DatasetError, dataset_info
from ecabench.util import is_int


def val_count(val_size: float | int, n: int, num_classes: int, name: str) -> int:
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


def check_subset_type(subset: int | None) -> None:
    if subset is not None and not is_int(subset):
        raise DatasetError(f"subset must be a whole number of training images, got {subset!r}")


def check_subset(subset: int | None, available: int, num_classes: int, name: str) -> None:
    if subset is None:
        return
    check_subset_type(subset)
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


def check_sizes(val_size: float | int, subset: int | None, n_train: int, num_classes: int, name: str) -> None:
    """Reject a validation size or subset that ``n_train`` images of ``num_classes`` classes cannot give."""
    n_val = val_count(val_size, n_train, num_classes, name)
    check_subset(subset, n_train - n_val, num_classes, name)


def check_test_subset(test_subset: int | None, n_test: int | None, num_classes: int, name: str) -> None:
    """Reject a test subset that is not a whole number of images the test split can give."""
    if test_subset is None:
        return
    if not is_int(test_subset) or isinstance(test_subset, bool):
        raise DatasetError(f"test_subset must be a whole number of test images, got {test_subset!r}")
    if n_test is None:
        raise DatasetError(f"test_subset={test_subset}: {name} has no fixed test split to draw from; "
                           "test_subset is for the built-in datasets (leave it unset)")
    if not num_classes <= test_subset <= n_test:
        raise DatasetError(f"test_subset={test_subset} is out of range for {name}: a stratified subset of its "
                           f"{n_test} test images needs {num_classes} <= test_subset <= {n_test} "
                           "(or leave it unset for the whole test split)")


def check_split_sizes(name: str, *, val_size, subset, test_subset=None) -> None:
    """Reject a validation size, training subset or test subset the dataset cannot give, before reading it."""
    info = dataset_info(name)
    if info["n_train"] is None:  # imagefolder: sizes are known once the folder is read
        check_test_subset(test_subset, None, 0, info["name"])
        return
    check_sizes(val_size, subset, info["n_train"], info["num_classes"], info["name"])
    check_test_subset(test_subset, info["n_test"], info["num_classes"], info["name"])


def stratified_take(labels: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split positions 0..n-1 into (rest, taken), ``len(taken) == k``, stratified by label and seeded.

    Each class contributes its proportional share of ``k`` (largest-remainder rounding, so the
    shares add up to ``k`` exactly), drawn uniformly at random from that class with
    ``numpy.random.default_rng(seed)``. Same idea as sklearn's ``train_test_split(stratify=...)``,
    in plain numpy because importing sklearn.model_selection is slow for a training job.
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


def carve(labels: np.ndarray, n_val: int, subset: int | None, seed: int, num_classes: int,
          name: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions of (train, val) in the official training split."""
    train_pos, val_pos = stratified_take(labels, n_val, seed)
    check_subset(subset, len(train_pos), num_classes, name)
    if subset is not None and subset < len(train_pos):
        _, keep = stratified_take(labels[train_pos], subset, seed)
        train_pos = train_pos[keep]
    return train_pos, val_pos
