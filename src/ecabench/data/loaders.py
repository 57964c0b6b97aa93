"""Seeded batch loaders: the batches of an epoch depend only on ``(seed, epoch)``.

That is what lets a resumed run see exactly the batches an uninterrupted one would. In-memory splits
are sliced with a seeded permutation and augmented on whole batches with tensor ops (no per-image
Python work); image folders go through a ``DataLoader`` shuffled by the same kind of seeded generator.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ecabench.data.bundle import FolderSplit, Split, TensorSplit


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A well-mixed 63-bit seed derived from (seed, epoch, stream)."""
    state = np.random.SeedSequence([int(seed), int(epoch), int(stream)]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def _padded(x: torch.Tensor, p: int, pad_value: Sequence[float] | None) -> torch.Tensor:
    """``x`` with ``p`` pixels of constant ``pad_value`` (per channel) on every side."""
    b, c, h, w = x.shape
    xp = x.new_empty((b, c, h + 2 * p, w + 2 * p))
    fill = torch.as_tensor(pad_value if pad_value is not None else (0.0,) * c,
                           dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    xp.copy_(fill.expand_as(xp))
    xp[:, :, p:p + h, p:p + w] = x
    return xp


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
    xp = _padded(x, p, pad_value) if p else x
    rows = oy.view(b, 1) + torch.arange(h).view(1, h)  # (B, H)
    cols = ox.view(b, 1) + torch.arange(w).view(1, w)  # (B, W)
    cols = torch.where(do_flip.view(b, 1), cols.flip(1), cols)
    bi = torch.arange(b).view(b, 1, 1)
    out = xp[bi.to(dev), :, rows.view(b, h, 1).to(dev), cols.view(b, 1, w).to(dev)]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


class _EpochLoader:
    """What both loaders share: length, the epoch counter and the generator seeded from it."""

    def __init__(self, split: Split, *, batch_size: int, shuffle: bool, seed: int, drop_last: bool):
        self.split = split
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0

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

    def _next_generator(self) -> torch.Generator:
        """The generator of the current epoch; iterating again without ``set_epoch`` moves to the next."""
        epoch = self.epoch
        self.epoch += 1
        return torch.Generator().manual_seed(epoch_seed(self.seed, epoch))


class TensorLoader(_EpochLoader):
    """Batches ``(x, y)`` sliced from a :class:`TensorSplit`.

    The order and the augmentation of an epoch depend only on ``(seed, epoch)``; call
    :meth:`set_epoch` before iterating (each iteration otherwise advances the epoch by one).
    """

    def __init__(self, split: TensorSplit, *, batch_size: int, shuffle: bool, seed: int,
                 augment: bool, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        super().__init__(split, batch_size=batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
        self.augment = split.augment if augment else None
        self._generator: torch.Generator | None = None

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self._generator is not None:
            state["generator"] = self._generator.get_state()
        return state

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = self._next_generator()
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


class FolderLoader(_EpochLoader):
    """A ``DataLoader`` over a :class:`FolderSplit`, shuffled by a generator seeded from (seed, epoch)."""

    def __init__(self, split: FolderSplit, *, batch_size: int, shuffle: bool, seed: int,
                 augment: bool, drop_last: bool = False):
        super().__init__(split, batch_size=batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
        tf = split.train_transform if augment else split.eval_transform
        self._dataset = _TransformSubset(split.dataset, split.indices, tf)

    def __iter__(self):
        g = self._next_generator()
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
