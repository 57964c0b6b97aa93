"""``ecabench`` command line: list, describe, run, measure, verify."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ecabench import registry
from ecabench.data.catalog import DATASETS, dataset_info
from ecabench.experiment import run_experiment
from ecabench.integrity import verify, verify_lines
from ecabench.measure import count_flops, count_params, measure_interleaved
from ecabench.models import build_model, describe
from ecabench.runconfig import make_run_config


def _discover(args) -> list:
    """Load plugins; one warning line per plugin that failed to load (a spec naming it would otherwise be
    only an unknown name)."""
    errors = registry.discover(args.plugins)
    for err in errors:
        print(f"warning: {err}", file=sys.stderr)
    return errors


def _fmt_default(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def cmd_list(args) -> int:
    errors = _discover(args)
    variants = [
        {"name": e.name, "params": e.obj.default_params(), "source": e.source,
         "per_stage": list(e.obj.per_stage_params)}
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
    return 0


def cmd_describe(args) -> int:
    _discover(args)
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


def _val_size(text: str) -> float | int:
    """``--val-size``: a fraction in [0, 1), or a whole number of images (>= 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value >= 1:
        if not value.is_integer():
            raise argparse.ArgumentTypeError(
                f"{text!r}: a value >= 1 is a count of validation images and must be a whole number "
                "(or give a fraction < 1)")
        return int(value)
    return value


def _parse_input(text: str) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--input must look like CxHxW (e.g. 3x224x224), got {text!r}") from None
    if min(c, h, w) < 1:
        raise ValueError(f"--input dimensions must be >= 1, got {text!r}")
    return c, h, w


def cmd_run(args) -> int:
    _discover(args)
    train = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                "weight_decay": args.weight_decay, "warmup_epochs": args.warmup_epochs,
                                "label_smoothing": args.label_smoothing}.items() if v is not None}
    model = {"position": args.position} if args.position else {}
    config = make_run_config(backbone=args.backbone, attention=args.attention, dataset=args.dataset,
                             dataset_options={"val_size": args.val_size, "subset": args.subset,
                                              "test_subset": args.test_subset,
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


def _measure_classes_and_input(args) -> tuple[int, tuple[int, int, int]]:
    """``--num-classes`` and ``--input``, following ``--dataset`` or the input shape when not given.

    Rule: ``--dataset``'s class count (and image shape when ``--input`` is absent); else the class
    count of the catalog dataset whose image shape the input has (1x28x28 Fashion-MNIST, 1x8x8
    digits, 3x32x32 CIFAR-10: 10); else 10 for a small input (<= 64 px), 1000 (ImageNet) for a larger one.
    The choice is printed to stderr.
    """
    info = dataset_info(args.dataset) if args.dataset else None
    if args.input:
        shape = _parse_input(args.input)
    else:
        shape = (info["in_channels"], *info["image_size"]) if info else (3, 224, 224)
    if args.num_classes is not None:
        return args.num_classes, shape
    if info:
        if not info["num_classes"]:
            raise ValueError(f"{info['name']}: its class count is known only from its folder; give --num-classes")
        num_classes, why = info["num_classes"], info["name"]
    else:
        same = [d for d in DATASETS if d not in ("cifar100", "imagefolder")
                and (dataset_info(d)["in_channels"], *dataset_info(d)["image_size"]) == shape]
        text = "x".join(map(str, shape))
        if same:
            num_classes, why = dataset_info(same[0])["num_classes"], f"{same[0]}, whose images are {text}"
        elif max(shape[1:]) <= 64:
            num_classes, why = 10, f"a small {text} input, like the 10-class datasets"
        else:
            num_classes, why = 1000, f"ImageNet's classes for a {text} input"
    print(f"--num-classes not given: using {num_classes} ({why})", file=sys.stderr)
    return num_classes, shape


def _measure_architectures(args, shape: tuple[int, int, int], num_classes: int, options: dict) -> tuple[dict, list]:
    """Build each spec once per architecture: a spec that builds the same model as an earlier one (e.g. ``eca``
    and ``eca(k=3)`` on ResNet-20) is listed with ``same_as`` and not timed again, as in the workflow."""
    models, rows, first_of = {}, [], {}
    for spec in args.specs:
        arch = describe(args.backbone, spec, num_classes=num_classes, in_channels=shape[0], **options)
        same_as = first_of.setdefault(arch["architecture_id"], spec)
        if same_as != spec:
            rows.append({**next(r for r in rows if r["spec"] == same_as), "spec": spec, "same_as": same_as})
            continue
        model = build_model(args.backbone, spec, num_classes=num_classes, in_channels=shape[0], seed=0, **options)
        flops = count_flops(model, shape)
        models[spec] = model
        rows.append({"spec": spec, "same_as": None, "architecture_id": arch["architecture_id"], **count_params(model),
                     "macs": flops["macs"], "elementwise_flops": flops["elementwise_flops"]})
    return models, rows


def cmd_measure(args) -> int:
    _discover(args)
    num_classes, shape = _measure_classes_and_input(args)
    options = {"position": args.position} if args.position else {}
    if args.small_input:
        options["small_input"] = True
    models, rows = _measure_architectures(args, shape, num_classes, options)
    result: dict = {"backbone": args.backbone, "input_shape": list(shape), "num_classes": num_classes,
                    "architectures": rows}
    if not args.no_throughput:
        result.update(measure_interleaved(
            models, shape, reference=args.specs[0], device=args.device, batch_size=args.batch_size, dtype=args.dtype,
            channels_last=args.channels_last, implementations=args.implementations, modes=args.modes,
            warmup=args.warmup, rounds=args.rounds, min_time_s=args.min_time_s, num_threads=args.threads))
    if args.json:
        json.dump(result, sys.stdout, indent=2, default=str)
        print()
        return 0
    _print_measure(args, result)
    return 0


def _print_measure(args, result: dict) -> None:
    rows = result["architectures"]
    print(f"{args.backbone} at {'x'.join(map(str, result['input_shape']))}, {result['num_classes']} classes: "
          f"{len(rows) - sum(1 for r in rows if r['same_as'])} architectures")
    for r in rows:
        if r["same_as"]:
            print(f"  {r['spec']:<20} is {r['same_as']} on {args.backbone} (the same architecture; timed once)")
            continue
        print(f"  {r['spec']:<20} params {r['params_total']:>12,} (attention {r['params_attention']:,})"
              f"  MACs {r['macs']:>15,}  elementwise FLOPs {r['elementwise_flops']:,}")
    if "rows" in result:
        st = result["setup"]
        print(f"throughput ({st['device_name']}, {st['threads']} threads, batch {st['batch_size']}, {st['dtype']}, "
              f"{st['memory_format']}, {st['rounds']} alternating rounds; relative to {args.specs[0]}, 95% CI):")
        for t in result["rows"]:
            print(f"  {t['implementation']:<8} {t['mode']:<10} {t['key']:<20} {t['images_per_s']:>10.1f} img/s  "
                  f"{t['rel']:.3f}x [{t['rel_ci_low']:.3f}, {t['rel_ci_high']:.3f}]")


def _examples(*commands: str) -> str:
    """A subcommand's --help epilog (tests/test_cli.py runs every example it lists)."""
    return "examples:\n" + "\n".join(f"  {c}" for c in commands)


EXAMPLES_LIST = _examples(
    "ecabench list",
    "ecabench list --json",
)


def _list_parser(sub) -> None:
    p = sub.add_parser("list", help="attention variants and backbones, with parameters and origin",
                       epilog=EXAMPLES_LIST, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)


EXAMPLES_DESCRIBE = _examples(
    "ecabench describe eca --backbone resnet50",
    "ecabench describe 'eca(k=[3,5,5,7])' --backbone resnet50 --json",
    "ecabench describe 'se(r=8)' --backbone resnet20 --num-classes 10 --in-channels 1",
)


def _describe_parser(sub) -> None:
    p = sub.add_parser("describe", help="parameter counts and resolved per-stage settings of a spec",
                       epilog=EXAMPLES_DESCRIBE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", help="attention spec, e.g. eca, 'eca(k=[3,5,5,7])', 'se(r=8)'")
    p.add_argument("--backbone", required=True)
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--small-input", action="store_true", help="stem for 28-32 px images")
    p.add_argument("--position", help="attention placement (default: block output)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_describe)


EXAMPLES_RUN = _examples(
    "ecabench run --backbone resnet20 --attention 'eca(k=5)' --dataset fashion-mnist --epochs 2 --subset 4000",
    "ecabench run --attention se --dataset digits --epochs 1 --val-size 200 --quiet",
)


def _run_parser(sub) -> None:
    p = sub.add_parser("run", help="train and measure one configuration; writes a run record",
                       epilog=EXAMPLES_RUN, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="resnet20")
    p.add_argument("--attention", default="eca", help="attention spec, e.g. 'eca(k=5)'")
    p.add_argument("--dataset", default="fashion-mnist")
    for name, kind in (("--epochs", int), ("--batch-size", int), ("--lr", float), ("--weight-decay", float),
                       ("--warmup-epochs", float), ("--label-smoothing", float)):
        p.add_argument(name, type=kind)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subset", type=int, help="stratified training subset size")
    p.add_argument("--test-subset", type=int, help="score only this many test images (stratified, seeded; "
                   "default: the whole test split)")
    p.add_argument("--val-size", type=_val_size, default=0.1,
                   help="validation split carved from the training split: a fraction < 1, or a whole number "
                        "of images if >= 1 (default 0.1)")
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


EXAMPLES_MEASURE = _examples(
    "ecabench measure none eca 'eca(k=3)' --backbone resnet20 --input 1x28x28",
    "ecabench measure none eca se cbam --backbone resnet50 --batch-size 8 --threads 1 --rounds 21",
    "ecabench measure none eca --backbone resnet20 --dataset cifar10 --modes inference train --json",
    "ecabench measure none eca se --backbone resnet20 --dataset cifar100 --no-throughput",
)


def _measure_parser(sub) -> None:
    p = sub.add_parser("measure", help="params, MACs, elementwise FLOPs and throughput of untrained models; "
                                       "several specs are timed together in alternating rounds",
                       epilog=EXAMPLES_MEASURE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("specs", nargs="+", help="attention specs; the first is the reference of the relative throughput")
    p.add_argument("--backbone", required=True)
    p.add_argument("--input", help="CxHxW (default: --dataset's image shape, else 3x224x224)")
    p.add_argument("--dataset", help="take the class count (and, without --input, the input shape) from this dataset")
    p.add_argument("--num-classes", type=int,
                   help="classifier outputs (default: --dataset's classes; else from --input: 10 for the catalog's "
                        "1x28x28, 1x8x8, 3x32x32 and other inputs <= 64 px, 1000 above; the choice is printed)")
    p.add_argument("--small-input", action="store_true")
    p.add_argument("--position")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--dtype", default="float32", help="float32 | bfloat16 (autocast)")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--implementations", nargs="+", default=["eager"], help="eager and/or compile")
    p.add_argument("--modes", nargs="+", default=["inference"], help="inference and/or train")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per model before the rounds")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--min-time-s", type=float, default=0.1, help="least time one model is timed for in a round")
    p.add_argument("--threads", type=int, help="torch CPU threads while timing (default: as is)")
    p.add_argument("--no-throughput", action="store_true", help="counts only")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_measure)


def cmd_verify(args) -> int:
    if not Path(args.results).is_dir():
        raise ValueError(f"no results folder {args.results!r}")
    result = verify(args.results)
    for line in verify_lines(result, args.results):
        print(line)
    return 1 if result["findings"] else 0


EXAMPLES_VERIFY = _examples(
    "ecabench verify",
    "ecabench verify path/to/results",
)


def _verify_parser(sub) -> None:
    p = sub.add_parser("verify", help="check every run record and measurement file of a workflow's results: "
                                      "damaged, missing or orphaned files (exit 1 if any)",
                       description="Checks each run record (schema, checksum, name), measurement file and "
                                   "precision decision, and compares them with results/plan.json: missing = an "
                                   "output the plan needs (for a two-stage study, the seeds its decision keeps), "
                                   "orphaned = a file the plan does not list. Only reads; `snakemake` sets damaged "
                                   "files aside and computes them again. See docs/troubleshooting.md.",
                       epilog=EXAMPLES_VERIFY, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="?", default="results", help="the workflow's results folder (default: results)")
    p.set_defaults(func=cmd_verify)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecabench", description=__doc__)
    parser.add_argument("--plugins", action="append", default=[], metavar="DIR",
                        help="extra folder of plugin modules (besides ablations/plugins and $ECABENCH_PLUGIN_PATH)")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_list_parser, _describe_parser, _run_parser, _measure_parser, _verify_parser):
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
