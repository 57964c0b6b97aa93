"""Datasets, deterministic splits and fast loaders.

Every dataset is returned as a :class:`DataBundle` with three splits:

* ``train`` -- the training part of the official training set (after carving ``val``, optionally a
  stratified ``subset`` of it),
* ``val``   -- a stratified, seeded split carved from the official training set (used for tuning and
  model selection; ``None`` when ``val_size == 0``),
* ``test``  -- the official test set (only reported).

Small datasets are held in memory as normalised tensors and sliced into batches by seeded loaders;
image folders are decoded on the fly. The batches of an epoch depend only on ``(seed, epoch)``, so a
resumed run sees exactly the batches an uninterrupted one would.

Modules, in the order data flows through them:

* :mod:`.catalog`     -- the known datasets and their static facts (checks before reading),
* :mod:`.sources`     -- reading the official images (IDX files, the Debian package, torchvision, sklearn),
* :mod:`.imagefolder` -- ImageNet-layout folders,
* :mod:`.splits`      -- stratified seeded validation split and training subset, size checks,
* :mod:`.bundle`      -- the split and bundle types handed to training,
* :mod:`.load`        -- :func:`load_dataset`, tying the above together,
* :mod:`.loaders`     -- seeded batch loaders and batched augmentation.

The settings :data:`DEFAULT_ROOT` and :data:`FASHION_MNIST_SYSTEM_DIRS` are read from
:mod:`ecabench.data.sources` when a dataset is loaded: change them there.
"""

from ecabench.data.bundle import DataBundle, FolderSplit, Split, TensorSplit
from ecabench.data.catalog import DATASETS, DatasetError, dataset_info
from ecabench.data.imagefolder import imagefolder_num_classes
from ecabench.data.load import load_dataset
from ecabench.data.loaders import FolderLoader, TensorLoader, epoch_seed, make_loader, random_crop_flip
from ecabench.data.sources import DEFAULT_ROOT, FASHION_MNIST_SYSTEM_DIRS
from ecabench.data.splits import check_split_sizes

__all__ = [
    "DATASETS",
    "DEFAULT_ROOT",
    "FASHION_MNIST_SYSTEM_DIRS",
    "DataBundle",
    "DatasetError",
    "FolderLoader",
    "FolderSplit",
    "Split",
    "TensorLoader",
    "TensorSplit",
    "check_split_sizes",
    "dataset_info",
    "epoch_seed",
    "imagefolder_num_classes",
    "load_dataset",
    "make_loader",
    "random_crop_flip",
]
