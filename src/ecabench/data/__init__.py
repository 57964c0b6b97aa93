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
Importing the package is light (the catalog's facts and the size checks need neither torch nor the
files): each name below is loaded from its module on first use (PEP 562), so the planner can read
:mod:`.catalog` and :mod:`.splits` without loading the readers and loaders.
"""
from __future__ import annotations

from ecabench.util.lazy import lazy_exports

_EXPORTS = {
    "bundle": ("DataBundle", "FolderSplit", "Split", "TensorSplit"),
    "catalog": ("DATASETS", "DatasetError", "dataset_info", "imagefolder_num_classes"),
    "load": ("load_dataset",),
    "loaders": ("FolderLoader", "TensorLoader", "epoch_seed", "make_loader", "random_crop_flip"),
    "sources": ("DEFAULT_ROOT", "FASHION_MNIST_SYSTEM_DIRS"),
    "splits": ("check_split_sizes",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)
# a submodule itself resolves too (``ecabench.data.sources`` before anything imported it)
__getattr__, __dir__ = lazy_exports(
    __name__, _MODULE_OF, submodules=("bundle", "catalog", "imagefolder", "load", "loaders", "sources", "splits"))
