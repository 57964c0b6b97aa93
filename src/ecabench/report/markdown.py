"""Render the collected report data as Markdown (figures linked by relative path, not embedded)."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from ecabench.report.tables import to_markdown


def _rel(path: Path, out_dir: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(out_dir).resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _links(files: dict, out_dir: Path) -> str:
    return " · ".join(f"[{k.upper()}]({_rel(p, out_dir)})" for k, p in files.items())


def render_markdown(data: dict, out_dir: Path) -> str:
    out_dir = Path(out_dir)
    md = [f"# {data['title']}", "",
          f"_Generated {data['generated']} from `{data['summary_path']}` and `{data['plan_path']}`._", ""]
    md += ["## Contents", "", "- [Overview](#overview)"]
    for s in data["studies"]:
        md.append(f"- [{s['title']}](#{s['anchor']})")
    md += ["- [Comparison with the ECA paper (Table 3)](#paper)", "- [Environment](#environment)",
           "- [Configuration](#config)", ""]

    ov = data["overview"]
    md += ['<a id="overview"></a>', "## Overview", "",
           f"{ov['n_studies']} stud{'y' if ov['n_studies'] == 1 else 'ies'}, {ov['n_runs']} distinct runs: "
           + ", ".join(f"{n} {s}" for s, n in ov["status_counts"].items()) + ".", ""]
    if ov.get("incomplete"):
        md += [f"> **Warning:** {ov['incomplete']}", ""]
    head = data.get("headline")
    if head is not None and len(head):
        md += ["### At a glance", "", "Per study and setting: the most accurate variant against the baseline.", "",
               to_markdown(head)]
    md += [f"> {data['reading_guide']}", ""]
    for line in data.get("skipped_notes", []):
        md += [f"> **Warning:** {line}", ""]

    for s in data["studies"]:
        md += [f'<a id="{s["anchor"]}"></a>', f"## {s['title']}", "",
               f"Study `{s['name']}` · kind `{s['kind']}` · baseline `{s['baseline_spec']}`", ""]
        if s["description"]:
            md += [s["description"], ""]
        for ln in s.get("links", []):
            md += [f"See also: [{ln['label']}]({ln['md']})", ""]
        if not s["groups"]:
            md += ["**No runs of this study are in the summary table.**", ""]
        for g in s["groups"]:
            md += [f"### {g['backbone']} / {g['dataset']}", "", to_markdown(g["formatted"])]
            md += [f"- {p}" for p in g["prose"]] + [""]
        if s["summary"]:
            md += [f"> {s['summary']}", ""]
        if s.get("pairing"):
            md += [f"> {s['pairing']}", ""]
        md += [f"Table files: {_links(s['table_files'], out_dir)}", ""]
        if s.get("throughput") is not None:
            md += ["### Throughput by implementation", "", to_markdown(s["throughput"])]
        if s["odd_even"] is not None:
            md += ["### Odd rule: paired odd − even differences", "", to_markdown(s["odd_even"])]
            md += [f"- {p}" for p in s.get("odd_even_prose", [])] + [""]
            md += [f"Table files: {_links(s['odd_even_files'], out_dir)}", ""]
        if s["incomplete"] is not None and len(s["incomplete"]):
            md += [f"### Runs that did not complete ({len(s['incomplete'])})", "",
                   "These runs are excluded from the means and tests above and listed here so none is silently dropped.",
                   "", to_markdown(s["incomplete"])]
        for f in s["figures"]:
            md += [f"![{f['kind']}]({_rel(f['png'], out_dir)})", "",
                   f"_{f['caption']}_ ({_links({'png': f['png'], 'svg': f['svg']}, out_dir)})", ""]

    p = data["paper"]
    md += ['<a id="paper"></a>', "## Comparison with the ECA paper (Table 3)", "", p["intro"], ""]
    if p.get("message"):
        md += [f"> **Note:** {p['message']}", ""]
    if p.get("formatted") is not None:
        md += [to_markdown(p["formatted"]), f"Source: `{p['path']}`. Table files: {_links(p['files'], out_dir)}", ""]

    md += ['<a id="environment"></a>', "## Environment", ""]
    if data["environment"] is not None and len(data["environment"]):
        md += ["Training environments recorded in the run records:", "", to_markdown(data["environment"])]
    else:
        md += ["No environment information.", ""]
    if data["measurements"] is not None and len(data["measurements"]):
        md += ["Throughput measurement setups:", "", to_markdown(data["measurements"])]

    md += ['<a id="config"></a>', "## Configuration", ""]
    if data["config"]:
        try:
            text = yaml.safe_dump(data["config"], sort_keys=False, default_flow_style=False)
        except yaml.YAMLError:
            text = json.dumps(data["config"], indent=2, default=str)
        md += ["```yaml", text.rstrip(), "```", ""]
    else:
        md += ["No configuration was given to the report.", ""]
    return "\n".join(md) + "\n"
