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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ecabench", description=__doc__)
    parser.add_argument("--plugins", action="append", default=[], metavar="DIR",
                        help="extra folder of plugin modules (besides ablations/plugins and $ECABENCH_PLUGIN_PATH)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="attention variants and backbones, with parameters and origin")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("describe", help="parameter counts and resolved per-stage settings of a spec")
    p.add_argument("spec", help="attention spec, e.g. eca, 'eca(k=[3,5,5,7])', 'se(r=8)'")
    p.add_argument("--backbone", required=True)
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--in-channels", type=int, default=3)
    p.add_argument("--small-input", action="store_true", help="stem for 28-32 px images")
    p.add_argument("--position", help="attention placement (default: block output)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_describe)
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
