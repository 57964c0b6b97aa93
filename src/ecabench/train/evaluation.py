"""Scoring a model on a split: loss, top-1 and top-5, accumulated on the device with one final sync."""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from ecabench.data import FolderSplit, TensorSplit, make_loader
from ecabench.device import autocast, resolve_device, to_device


def evaluate(model: nn.Module, split_or_loader: Any, *, device: str | torch.device = "cpu",
             batch_size: int | None = None, amp: bool = False, channels_last: bool = False) -> dict[str, float]:
    """Mean cross-entropy (no label smoothing), top-1 and top-5 accuracy in percent.

    ``split_or_loader``: a data split (a loader is made, in order, no augmentation) or any iterable of
    ``(x, y)`` batches. top-5 is top-min(5, num_classes). The model is put in eval mode.
    ``batch_size``: by default large on CUDA, and small on CPU, where the activations of a small batch
    stay in cache.
    """
    dev = resolve_device(device) if isinstance(device, str) else device
    if batch_size is None:
        batch_size = 512 if dev.type == "cuda" else 128
    if isinstance(split_or_loader, (TensorSplit, FolderSplit)):
        loader: Iterable = make_loader(split_or_loader, batch_size=batch_size, shuffle=False, seed=0,
                                       augment=False)
    else:
        loader = split_or_loader
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=dev)
    top1 = torch.zeros((), dtype=torch.long, device=dev)
    top5 = torch.zeros((), dtype=torch.long, device=dev)
    n = 0
    with torch.inference_mode():
        for xb, yb in loader:
            x, y = to_device(xb, yb, dev, channels_last)
            with autocast(dev, amp):
                logits = model(x)
            logits = logits.float()
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").double()
            k = min(5, logits.shape[1])
            pred = logits.topk(k, dim=1).indices
            hit = pred.eq(y.view(-1, 1))
            top1 += hit[:, 0].sum()
            top5 += hit.any(dim=1).sum()
            n += int(y.shape[0])
    if n == 0:
        return {"loss": float("nan"), "top1": float("nan"), "top5": float("nan")}
    return {"loss": loss_sum.item() / n, "top1": 100.0 * top1.item() / n, "top5": 100.0 * top5.item() / n}
