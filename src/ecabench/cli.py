"""``ecabench`` command line: list, describe, run, measure."""
from __future__ import annotations

import argparse
import json
import sys

from ecabench import registry


def _fmt_default(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def cmd_list(args) -> int:
    from ecabench.specs import variant_defaults

    errors = registry.discover(args.plugins)
    variants = [
        {"name": e.name, "params": variant_defaults(e.obj), "source": e.source,
         "per_stage": list(getattr(e.obj, "per_stage_params", ()))}
        for e in registry.ATTENTION.entries()
    ]
    backbones = [{"name": e.name, "num_stages": e.meta.get("num_stages"),
                  "default_input": e.meta.get("default_input"), "source": e.source}
                 for e in registry.BACKBONES.entries()]
    if args.json:
        json.dump({"attention": variants, "backbones": backbones, "plugin_errors": [str(e) for e in errors]},
                  sys.stdout, indent=2, default=str)
        print()
    else:
        print("Attention variants:")
        for v in variants:
            params = ", ".join(f"{k}={_fmt_default(d)}" for k, d in v["params"].items()) or "-"
            stage = f"  [per stage: {', '.join(v['per_stage'])}]" if v["per_stage"] else ""
            print(f"  {v['name']:<10} {params}{stage}\n  {'':<10} from {v['source']}")
        print("Backbones:")
        for b in backbones:
            inp = "x".join(map(str, b["default_input"])) if b["default_input"] else "?"
            print(f"  {b['name']:<16} stages={b['num_stages']}  input={inp:<9} from {b['source']}")
    for err in errors:
        print(f"warning: {err}", file=sys.stderr)
    return 0


def cmd_describe(args) -> int:
    from ecabench.models import describe

    registry.discover(args.plugins)
    options = {}
    if args.small_input:
        options["small_input"] = True
    if args.position:
        options["position"] = args.position
    d = describe(args.backbone, args.spec, num_classes=args.num_classes, in_channels=args.in_channels, **options)
    if args.json:
        json.dump(d, sys.stdout, indent=2, default=str)
        print()
        return 0
    print(f"{d['spec']} on {d['backbone']}  (id {d['spec_id']}, architecture {d['architecture_id']})")
    print(f"  params total:     {d['params_total']:,}")
    print(f"  params attention: {d['params_attention']:,}  in {len(d['modules'])} modules")
    for s in d["stages"]:
        resolved = "; ".join(", ".join(f"{k}={v}" for k, v in r.items()) for r in s["resolved"] if r) or "-"
        print(f"  stage {s['stage']}: {s['blocks']} blocks, channels {s['channels']}, {resolved}")
    return 0


def _parse_input(text: str) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--input must look like CxHxW (e.g. 3x224x224), got {text!r}") from None
    if min(c, h, w) < 1:
        raise ValueError(f"--input dimensions must be >= 1, got {text!r}")
    return c, h, w


def cmd_run(args) -> int:
    from ecabench.experiment import make_run_config, run_experiment

    registry.discover(args.plugins)
    train = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                "weight_decay": args.weight_decay, "warmup_epochs": args.warmup_epochs,
                                "label_smoothing": args.label_smoothing}.items() if v is not None}
    model = {"position": args.position} if args.position else {}
    config = make_run_config(backbone=args.backbone, attention=args.attention, dataset=args.dataset,
                             dataset_options={"val_size": args.val_size, "subset": args.subset,
                                              "root": args.data_root},
                             train=train, model=model, seed=args.seed)
    record = run_experiment(config, out_dir=args.out, device=args.device, data_root=args.data_root,
                            download=args.download, throughput=args.throughput, progress=not args.quiet)
    m = record["metrics"]
    print(f"run {record['run_id']}  {record['spec']} on {config['backbone']}/{config['dataset']['name']}"
          f"  status={record['status']}")
    if m.get("test_top1_pct") is not None:
        print(f"  test top-1 {m['test_top1_pct']:.2f}%  top-5 {m['test_top5_pct']:.2f}%"
              f"  val top-1 {m.get('val_top1_pct', float('nan')):.2f}%")
    print(f"  params {m.get('params_total', 0):,} (attention {m.get('params_attention', 0):,})"
          f"  MACs {m.get('macs', 0):,}  elementwise FLOPs {m.get('elementwise_flops', 0):,}")
    if m.get("inference_images_per_s"):
        print(f"  inference {m['inference_images_per_s']:.0f} img/s  train {m['train_images_per_s']:.0f} img/s"
              f"  latency b1 p50 {m['latency_b1_p50_ms']:.2f} ms")
    print(f"  record: {args.out}/{record['run_id']}.json")
    if record["error"]:
        print(f"  error: {record['error'].splitlines()[0]}", file=sys.stderr)
    return 0 if record["status"] == "ok" else 1


def cmd_measure(args) -> int:
    from ecabench.measure import count_flops, count_params, measure_interleaved
    from ecabench.models import build_model

    registry.discover(args.plugins)
    shape = _parse_input(args.input)
    options = {"position": args.position} if args.position else {}
    if args.small_input:
        options["small_input"] = True
    models, rows = {}, []
    for spec in args.specs:
        model = build_model(args.backbone, spec, num_classes=args.num_classes, in_channels=shape[0], seed=0, **options)
        flops = count_flops(model, shape)
        models[spec] = model
        rows.append({"spec": spec, **count_params(model), "macs": flops["macs"],
                     "elementwise_flops": flops["elementwise_flops"]})
    result: dict = {"backbone": args.backbone, "input_shape": list(shape), "architectures": rows}
    if not args.no_throughput:
        result.update(measure_interleaved(
            models, shape, reference=args.specs[0], device=args.device, batch_size=args.batch_size, dtype=args.dtype,
            channels_last=args.channels_last, implementations=args.implementations, modes=args.modes,
            rounds=args.rounds, num_threads=args.threads))
    if args.json:
        json.dump(result, sys.stdout, indent=2, default=str)
        print()
        return 0
    print(f"{args.backbone} at {args.input}:")
    for r in rows:
        print(f"  {r['spec']:<20} params {r['params_total']:>12,} (attention {r['params_attention']:,})"
              f"  MACs {r['macs']:>15,}  elementwise FLOPs {r['elementwise_flops']:,}")
    if "rows" in result:
        st = result["setup"]
        print(f"throughput ({st['device_name']}, {st['threads']} threads, batch {st['batch_size']}, {st['dtype']}, "
              f"{st['memory_format']}, {st['rounds']} alternating rounds; relative to {args.specs[0]}, 95% CI):")
        for t in result["rows"]:
            print(f"  {t['implementation']:<8} {t['mode']:<10} {t['key']:<20} {t['images_per_s']:>10.1f} img/s  "
                  f"{t['rel']:.3f}x [{t['rel_ci_low']:.3f}, {t['rel_ci_high']:.3f}]")
    return 0


def _list_parser(sub) -> None:
    p = sub.add_parser("list", help="attention variants and backbones, with parameters and origin")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)


def _describe_parser(sub) -> None:
    p = sub.add_parser("describe", help="parameter counts and resolved per-stage settings of a spec")
    p.add_argument("spec", help="attention spec, e.g. eca, 'eca(k=[3,5,5,7])', 'se(r=8)'")
    p.add_argument("--backbone", required=True)
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--small-input", action="store_true", help="stem for 28-32 px images")
    p.add_argument("--position", help="attention placement (default: block output)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_describe)


def _run_parser(sub) -> None:
    p = sub.add_parser("run", help="train and measure one configuration; writes a run record")
    p.add_argument("--backbone", default="resnet20")
    p.add_argument("--attention", default="eca", help="attention spec, e.g. 'eca(k=5)'")
    p.add_argument("--dataset", default="fashion-mnist")
    for name, kind in (("--epochs", int), ("--batch-size", int), ("--lr", float), ("--weight-decay", float),
                       ("--warmup-epochs", float), ("--label-smoothing", float)):
        p.add_argument(name, type=kind)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subset", type=int, help="stratified training subset size")
    p.add_argument("--val-size", type=float, default=0.1, help="validation fraction (or count if >= 1)")
    p.add_argument("--position", help="attention placement (default: block output)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--data-root", help="folder holding the dataset (default: the Debian package / data/)")
    p.add_argument("--download", action="store_true", help="let torchvision download a missing dataset")
    p.add_argument("--throughput", action=argparse.BooleanOptionalAction, default=False,
                   help="also time this model's own inference/training throughput (absolute figures; compare "
                        "variants with `ecabench measure A B ...`, which times them in alternating rounds)")
    p.add_argument("--out", default="results/runs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)


def _measure_parser(sub) -> None:
    p = sub.add_parser("measure", help="params, MACs, elementwise FLOPs and throughput of untrained models; "
                                       "several specs are timed together in alternating rounds")
    p.add_argument("specs", nargs="+", help="attention specs; the first is the reference of the relative throughput")
    p.add_argument("--backbone", required=True)
    p.add_argument("--input", default="3x224x224", help="CxHxW")
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--small-input", action="store_true")
    p.add_argument("--position")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--dtype", default="float32", help="float32 | bfloat16 (autocast)")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--implementations", nargs="+", default=["eager"], help="eager and/or compile")
    p.add_argument("--modes", nargs="+", default=["inference"], help="inference and/or train")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--threads", type=int, help="torch CPU threads while timing (default: as is)")
    p.add_argument("--no-throughput", action="store_true", help="counts only")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_measure)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecabench", description=__doc__)
    parser.add_argument("--plugins", action="append", default=[], metavar="DIR",
                        help="extra folder of plugin modules (besides ablations/plugins and $ECABENCH_PLUGIN_PATH)")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_list_parser, _describe_parser, _run_parser, _measure_parser):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # bad user input: one clear line, no traceback
        print(f"ecabench {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
