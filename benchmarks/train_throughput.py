"""Training throughput of ``ecabench.train.train`` against a bare PyTorch loop.

Both train the same model (CIFAR-style ResNet-20, no attention, 1 input channel) on the same
in-memory Fashion-MNIST tensors with the same optimizer (SGD, momentum 0.9, Nesterov, weight decay),
cosine LR stepped per iteration, label-smoothed cross-entropy and batch size, without a progress
bar. Runs alternate (runner, bare, bare, runner, ...) so drift hits both alike; the script prints
the median training images/s of each and the ratio runner/bare (target >= 0.9).

The runner's figure is its per-epoch ``train_images_per_s`` (training steps only); the benchmark
gives it no validation split, so it does no more work than the bare loop. On CPU the script also
reports images per CPU-second of this process (``time.process_time``), which other processes
competing for the cores do not skew the way they skew wall-clock figures.

    python benchmarks/train_throughput.py --images 4096 --batch-size 128 --repeats 3 --epochs 1
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time

import torch
from torch import nn

from ecabench.data import load_dataset
from ecabench.runconfig import TrainConfig
from ecabench.train import resolve_device, seed_everything, train


def build(num_classes: int, in_channels: int) -> nn.Module:
    try:
        from ecabench.models import build_model

        return build_model("resnet20", "none", num_classes=num_classes, in_channels=in_channels)
    except ImportError:  # pragma: no cover - models not available
        return nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1, stride=2, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes),
        )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
              device: torch.device) -> list[float]:
    """The loop one would write by hand; returns training images/s per epoch."""
    cuda = device.type == "cuda"
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                          weight_decay=cfg.weight_decay)
    n, bs = len(y), cfg.batch_size
    steps = math.ceil(n / bs)
    total = steps * cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    crit = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    rates, cpu_rates = [], []
    for _ in range(cfg.epochs):
        model.train()
        sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(n).to(device)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            xb = xb.contiguous(memory_format=fmt)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda and cfg.amp):
                out = model(xb)
            loss = crit(out.float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        sync(device)
        rates.append(n / (time.perf_counter() - t0))
        cpu_rates.append(n / (time.process_time() - c0))
    return rates, cpu_rates


def runner(model: nn.Module, data, cfg: TrainConfig) -> tuple[list[float], list[float]]:
    """``ecabench.train.train``; returns its own images/s per epoch and images per CPU-second."""
    marks = [time.process_time()]
    res = train(model, data, cfg, progress=False, on_epoch_end=lambda rec: marks.append(time.process_time()))
    if res.status != "ok":
        raise RuntimeError(f"training failed: {res.error}")
    rates = [e["train_images_per_s"] for e in res.epochs]
    cpu_rates = [data.n_train / (b - a) for a, b in zip(marks, marks[1:])]
    return rates, cpu_rates


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=4096, help="training images (stratified subset)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats of each (after one warm-up)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs per repeat")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads for both (default: as is)")
    args = ap.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    data = load_dataset(args.dataset, subset=args.images, device=device, seed=0)
    data = dataclasses.replace(data, val=None, n_val=0)  # no per-epoch validation pass
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, device=str(device), warmup_epochs=0)
    x, y = data.train.x, data.train.y
    cpu = device.type == "cpu"

    print(f"device {device} ({torch.cuda.get_device_name(device) if not cpu else 'cpu'}), "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, {len(y)} images "
          f"{tuple(x.shape[1:])}, batch {args.batch_size}, epochs/repeat {args.epochs}", flush=True)

    wall: dict[str, list[float]] = {"runner": [], "bare": []}
    cpu_time: dict[str, list[float]] = {"runner": [], "bare": []}
    for r in range(args.repeats + 1):  # repeat 0 is a warm-up
        order = ("runner", "bare") if r % 2 == 0 else ("bare", "runner")
        for which in order:
            seed_everything(0, deterministic=cpu)
            model = build(data.num_classes, data.in_channels)
            if which == "runner":
                rates, cpu_rates = runner(model, data, cfg)
            else:
                rates, cpu_rates = bare_loop(model, x, y, cfg, device)
            if r > 0:
                wall[which].extend(rates)
                cpu_time[which].extend(cpu_rates)
            line = " ".join(f"{v:8.1f}" for v in rates) + " img/s"
            if cpu:
                line += "   " + " ".join(f"{v:8.1f}" for v in cpu_rates) + " img/CPU-s"
            print(f"  repeat {r}{' (warm-up)' if r == 0 else ''} {which:6s} {line}", flush=True)

    def report(label: str, figures: dict[str, list[float]]) -> float:
        med = {k: statistics.median(v) for k, v in figures.items()}
        print(f"{label}: runner {med['runner']:.1f} (min {min(figures['runner']):.1f}, "
              f"max {max(figures['runner']):.1f}), bare {med['bare']:.1f} "
              f"(min {min(figures['bare']):.1f}, max {max(figures['bare']):.1f}); "
              f"ratio runner/bare = {med['runner'] / med['bare']:.3f}")
        return med["runner"] / med["bare"]

    ratio = report("median training images/s (wall clock)", wall)
    if cpu:
        report("median training images per CPU-second", cpu_time)
    # back-to-back runs share the machine's load at that moment: their ratio is the steadier figure
    paired = statistics.median(a / b for a, b in zip(wall["runner"], wall["bare"]))
    print(f"median of paired (same-repeat) ratios runner/bare = {paired:.3f}")
    print(f"ratio runner/bare = {ratio:.3f} (target >= 0.9)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
