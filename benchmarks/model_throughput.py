"""Inference throughput of attention variants against the plain backbone, side by side in one run.

Every variant (default: none, eca, se, cbam on ResNet-50) is built once with
``ecabench.models.build_model`` (eval mode, fp32, random weights: speed does not depend on them) and
fed the same random batch under ``torch.inference_mode``. After ``--warmup`` untimed forwards per
model, each of ``--repeats`` rounds times ``--iters`` consecutive forwards of every model, the
models' order rotating from round to round so drift and other processes' load hit all alike
(interleaved repeats). A round's images/s = batch size x iters / wall seconds (CUDA: synchronised
before each clock read). Reported per variant: the median images/s over rounds with its
interquartile range, the ratio of medians to the baseline, and the median of the per-round
ratios (variant / baseline timed back to back in the same round), which is the steadier figure on a
shared machine. Images per CPU-second of this process (``time.process_time``) are shown too on CPU:
other processes competing for the cores skew them less than wall-clock figures.

    python benchmarks/model_throughput.py                          # ResNet-50, batch 8, 224 px, CPU
    python benchmarks/model_throughput.py --threads 1 --repeats 9  # one thread: less scheduler noise
    python benchmarks/model_throughput.py --json results/perf/model_throughput.json
    python benchmarks/model_throughput.py --malloc tuned           # glibc keeps freed memory (no page faults)
    python benchmarks/model_throughput.py --variants none eca eca@aten  # ECA with its C kernel off, too
    python benchmarks/model_throughput.py --attention-time --variants eca eca@aten se  # ms inside the modules

Batch 8 at 224x224 keeps one ResNet-50 forward at about a second on two CPU cores; use
``--device cuda --batch-size 64`` (or more) on a GPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from ecabench.attention.kernels.eca_cpu import cpu_kernel, status as kernel_status
from ecabench.measure.allocator import keep_freed_memory
from ecabench.measure.throughput import cpu_model_name
from ecabench.models import build_model

DEFAULT_VARIANTS = ("none", "eca", "se", "cbam")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _kernel_off(model):
    """``model``'s forward with ECA's fused C kernel off (its ATen fast path), for side-by-side timing."""
    def forward(x):
        with cpu_kernel(False):
            return model(x)

    return forward


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def run(backbone: str = "resnet50", variants: tuple[str, ...] = DEFAULT_VARIANTS, *, batch_size: int = 8,
        image_size: int = 224, in_channels: int = 3, num_classes: int = 1000, repeats: int = 7, iters: int = 3,
        warmup: int = 2, device: str = "cpu", channels_last: bool = False, threads: int | None = None,
        seed: int = 0, log=print) -> dict:
    """Time every variant interleaved; return a dict with per-variant samples and summaries."""
    if threads is not None:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(seed)
    models, forwards = {}, {}
    for v in variants:
        spec, _, mode = v.partition("@")
        if mode not in ("", "aten"):
            raise SystemExit(f"variant {v!r}: the only suffix is '@aten' (ECA's fused C kernel off), e.g. eca@aten")
        m = build_model(backbone, spec, num_classes=num_classes, in_channels=in_channels)
        models[v] = m.eval().to(device=dev, memory_format=fmt)
        forwards[v] = _kernel_off(models[v]) if mode == "aten" else models[v]
    x = torch.randn(batch_size, in_channels, image_size, image_size, device=dev).contiguous(memory_format=fmt)
    baseline = variants[0]
    wall = {v: [] for v in variants}
    cpu = {v: [] for v in variants}
    with torch.inference_mode():
        for v in variants:
            for _ in range(warmup):
                forwards[v](x)
        _sync(dev)
        for r in range(repeats):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for v in order:
                model = forwards[v]
                _sync(dev)
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(iters):
                    model(x)
                _sync(dev)
                t1, c1 = time.perf_counter(), time.process_time()
                wall[v].append(batch_size * iters / (t1 - t0))
                cpu[v].append(batch_size * iters / max(c1 - c0, 1e-9))
            log(f"  round {r + 1}/{repeats}: " + "  ".join(f"{v} {wall[v][-1]:.2f}" for v in variants) + " img/s")
    summary = {}
    for v in variants:
        q1, med, q3 = _quartiles(wall[v])
        paired = [a / b for a, b in zip(wall[v], wall[baseline])]
        summary[v] = {
            "images_per_s": med,
            "images_per_s_p25": q1,
            "images_per_s_p75": q3,
            "ms_per_batch": 1e3 * batch_size / med,
            "ratio_of_medians": med / statistics.median(wall[baseline]),
            "paired_ratio_median": statistics.median(paired),
            "paired_ratio_min": min(paired),
            "paired_ratio_max": max(paired),
            "images_per_cpu_s": statistics.median(cpu[v]),
            "cpu_ratio_of_medians": statistics.median(cpu[v]) / statistics.median(cpu[baseline]),
            "params": sum(p.numel() for p in models[v].parameters()),
        }
    return {
        "backbone": backbone,
        "variants": list(variants),
        "baseline": baseline,
        "batch_size": batch_size,
        "input_shape": [in_channels, image_size, image_size],
        "repeats": repeats,
        "iters_per_repeat": iters,
        "warmup": warmup,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_model_name(),
        "threads": torch.get_num_threads(),
        "memory_format": "channels_last" if channels_last else "contiguous",
        "dtype": "float32",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "eca_cpu_kernel": kernel_status(),
        "samples_images_per_s": wall,
        "samples_images_per_cpu_s": cpu,
        "summary": summary,
    }


def attention_time(backbone: str, variants: tuple[str, ...], *, batch_size: int = 8, image_size: int = 224,
                   in_channels: int = 3, num_classes: int = 1000, repeats: int = 7, channels_last: bool = False,
                   seed: int = 0) -> dict:
    """Time spent inside the attention modules of each variant's network (forward hooks), per forward.

    Steadier than a throughput ratio on a noisy machine: the network's other 95+ % no longer has to
    be measured twice. If the rest of the network costs the same with and without attention, the
    throughput ratio to the plain backbone is 1 - attention time / forward time. Rounds interleave
    the variants (e.g. ``eca`` and ``eca@aten``).
    """
    from ecabench.registry import ATTENTION

    kinds = tuple(e.obj for e in ATTENTION.entries() if e.name != "none")
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(seed)
    x = torch.randn(batch_size, in_channels, image_size, image_size).contiguous(memory_format=fmt)
    spent = {v: 0.0 for v in variants}
    runs, starts = {}, {}
    for v in variants:
        spec, _, mode = v.partition("@")
        model = build_model(backbone, spec, num_classes=num_classes, in_channels=in_channels).eval()
        model = model.to(memory_format=fmt)
        for module in model.modules():
            if isinstance(module, kinds):
                module.register_forward_pre_hook(lambda m, a: starts.__setitem__(m, time.perf_counter()))
                module.register_forward_hook(
                    lambda m, a, o, v=v: spent.__setitem__(v, spent[v] + time.perf_counter() - starts[m]))
        runs[v] = _kernel_off(model) if mode == "aten" else model
    att = {v: [] for v in variants}
    total = {v: [] for v in variants}
    with torch.inference_mode():
        for v in variants:
            runs[v](x)
        for r in range(repeats):
            for v in variants[r % len(variants):] + variants[:r % len(variants)]:
                spent[v] = 0.0
                t0 = time.perf_counter()
                runs[v](x)
                total[v].append(time.perf_counter() - t0)
                att[v].append(spent[v])
    return {v: {"attention_ms": 1e3 * statistics.median(att[v]), "forward_ms": 1e3 * statistics.median(total[v]),
                "share": statistics.median([a / t for a, t in zip(att[v], total[v])])} for v in variants}


def table(result: dict) -> str:
    base = result["baseline"]
    lines = [
        f"| variant | params | img/s (median) | IQR | ms/batch | ratio vs {base} (medians) "
        f"| ratio vs {base} (paired, median [min, max]) | img/CPU-s ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in result["variants"]:
        s = result["summary"][v]
        lines.append(
            f"| {v} | {s['params']:,} | {s['images_per_s']:.2f} | {s['images_per_s_p75'] - s['images_per_s_p25']:.2f} "
            f"| {s['ms_per_batch']:.1f} | {s['ratio_of_medians']:.3f} | {s['paired_ratio_median']:.3f} "
            f"[{s['paired_ratio_min']:.3f}, {s['paired_ratio_max']:.3f}] | {s['cpu_ratio_of_medians']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS),
                    help="attention specs; the first is the baseline of the ratios (default: none eca se cbam); "
                         "a spec with the suffix @aten runs with ECA's fused C kernel off")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--in-channels", type=int, default=3)
    ap.add_argument("--num-classes", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=7, help="interleaved timed rounds")
    ap.add_argument("--iters", type=int, default=3, help="forwards per model per round")
    ap.add_argument("--warmup", type=int, default=2, help="untimed forwards per model before timing")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--malloc", choices=["default", "tuned"], default="default",
                    help="tuned: keep freed memory in glibc's heap (no page faults on reuse); default: glibc as is")
    ap.add_argument("--json", type=Path, default=None, help="also write the raw result as JSON here")
    ap.add_argument("--attention-time", action="store_true",
                    help="instead of throughput: time inside the attention modules per forward (hooks)")
    args = ap.parse_args(argv)
    allocator = keep_freed_memory() if args.malloc == "tuned" else "default"

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"{args.backbone}, batch {args.batch_size}, {args.in_channels}x{args.image_size}x{args.image_size}, "
          f"{args.device}, {'channels_last' if args.channels_last else 'contiguous'}, fp32, "
          f"threads {torch.get_num_threads()}, torch {torch.__version__}; {args.repeats} rounds x {args.iters} "
          f"forwards per model, order rotating; allocator: {allocator}; ECA CPU kernel: {kernel_status()}",
          flush=True)
    if args.attention_time:
        shares = attention_time(args.backbone, tuple(v for v in args.variants if v != "none"),
                                batch_size=args.batch_size, image_size=args.image_size,
                                in_channels=args.in_channels, num_classes=args.num_classes,
                                repeats=args.repeats, channels_last=args.channels_last)
        print("\n| variant | attention ms / forward | forward ms | attention share | implied ratio vs none |")
        print("|---|---:|---:|---:|---:|")
        for v, r in shares.items():
            print(f"| {v} | {r['attention_ms']:.1f} | {r['forward_ms']:.1f} | {100 * r['share']:.2f} % "
                  f"| {1 - r['share']:.3f} |")
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"attention_time": shares, "allocator": allocator,
                                             "eca_cpu_kernel": kernel_status()}, indent=2))
        return 0
    result = run(args.backbone, tuple(args.variants), batch_size=args.batch_size, image_size=args.image_size,
                 in_channels=args.in_channels, num_classes=args.num_classes, repeats=args.repeats,
                 iters=args.iters, warmup=args.warmup, device=args.device, channels_last=args.channels_last,
                 threads=args.threads, log=lambda s: print(s, flush=True))
    result["allocator"] = allocator
    print()
    print(table(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
