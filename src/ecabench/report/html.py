"""Render the collected report data as one self-contained HTML page (figures embedded as base64 PNG)."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import yaml

from ecabench.report.tables import to_html

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1400px;padding:1rem 2rem;
color:#1d1d1f;line-height:1.45}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #bbb;margin-top:2.5rem}h3{margin-top:1.6rem}
.tblwrap{overflow-x:auto;margin:.6rem 0}
table.tbl{border-collapse:collapse;font-size:.82rem}
table.tbl th,table.tbl td{border:1px solid #ccc;padding:.25rem .45rem;text-align:left;white-space:nowrap}
table.tbl th{background:#f0f0f3}
tr.baseline td{background:#eef4ff}
tr.warn td{background:#fff1e6}
tr.noise td{color:#555}
tr.failed td{background:#ffe3e3}
.note{background:#f7f7f9;border-left:4px solid #999;padding:.4rem .8rem;margin:.6rem 0}
.warnbox{background:#fff1e6;border-left:4px solid #e67700;padding:.4rem .8rem;margin:.6rem 0}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.85rem;color:#444}
pre{background:#f7f7f9;padding:.7rem;overflow-x:auto;font-size:.8rem}
.toc li{margin:.1rem 0}
.muted{color:#666;font-size:.85rem}
code{background:#f2f2f4;padding:0 .2rem}
"""


def _e(text) -> str:
    return html.escape(str(text))


def _img(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _rel(path: Path, out_dir: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(out_dir).resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def _files(files: dict, out_dir: Path) -> str:
    return " · ".join(f'<a href="{_e(_rel(p, out_dir))}">{_e(k.upper())}</a>' for k, p in files.items())


def render_html(data: dict, out_dir: Path) -> str:
    out_dir = Path(out_dir)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(data['title'])}</title>"
             f"<style>{CSS}</style></head><body>"]
    parts.append(f"<h1>{_e(data['title'])}</h1>")
    parts.append(f"<p class='muted'>Generated {_e(data['generated'])} from <code>{_e(data['summary_path'])}</code>"
                 f" and <code>{_e(data['plan_path'])}</code>.</p>")

    # contents
    parts.append("<nav><h2>Contents</h2><ul class='toc'><li><a href='#overview'>Overview</a></li>")
    for s in data["studies"]:
        parts.append(f"<li><a href='#{_e(s['anchor'])}'>{_e(s['title'])}</a> <span class='muted'>({_e(s['name'])})</span></li>")
    parts.append("<li><a href='#paper'>Comparison with the ECA paper (Table 3)</a></li>"
                 "<li><a href='#environment'>Environment</a></li><li><a href='#config'>Configuration</a></li></ul></nav>")

    # overview
    ov = data["overview"]
    parts.append("<section id='overview'><h2>Overview</h2>")
    parts.append(f"<p>{ov['n_studies']} stud{'y' if ov['n_studies'] == 1 else 'ies'}, {ov['n_runs']} distinct runs: "
                 + ", ".join(f"{n} {_e(s)}" for s, n in ov["status_counts"].items()) + ".</p>")
    if ov.get("incomplete"):
        parts.append(f"<p class='warnbox'>{_e(ov['incomplete'])}</p>")
    head = data.get("headline")
    if head is not None and len(head):
        parts.append("<h3>At a glance</h3><p>Per study and setting: the most accurate variant against the baseline.</p>")
        parts.append(to_html(head))
    parts.append(f"<p class='note'>{_e(data['reading_guide'])}</p>")
    for line in data.get("skipped_notes", []):
        parts.append(f"<p class='warnbox'>{_e(line)}</p>")
    parts.append("</section>")

    # studies
    for s in data["studies"]:
        parts.append(f"<section id='{_e(s['anchor'])}'><h2>{_e(s['title'])}</h2>")
        parts.append(f"<p class='muted'>Study <code>{_e(s['name'])}</code> · kind <code>{_e(s['kind'])}</code> · "
                     f"baseline <code>{_e(s['baseline_spec'])}</code></p>")
        if s["description"]:
            parts.append(f"<p>{_e(s['description'])}</p>")
        for ln in s.get("links", []):
            parts.append(f"<p>See also: <a href='{_e(ln['html'])}'>{_e(ln['label'])}</a></p>")
        if not s["groups"]:
            parts.append("<p class='warnbox'>No runs of this study are in the summary table.</p>")
        for g in s["groups"]:
            parts.append(f"<h3>{_e(g['backbone'])} / {_e(g['dataset'])}</h3>")
            parts.append(to_html(g["formatted"], row_classes=g["row_classes"]))
            if g["prose"]:
                parts.append("<ul>" + "".join(f"<li>{_e(p)}</li>" for p in g["prose"]) + "</ul>")
        if s["summary"]:
            parts.append(f"<p class='note'>{_e(s['summary'])}</p>")
        if s.get("pairing"):
            parts.append(f"<p class='note'>{_e(s['pairing'])}</p>")
        parts.append(f"<p class='muted'>Table files: {_files(s['table_files'], out_dir)}</p>")
        if s.get("throughput") is not None:
            parts.append("<h3>Throughput by implementation</h3>" + to_html(s["throughput"]))
        if s["odd_even"] is not None:
            parts.append("<h3>Odd rule: paired odd − even differences</h3>")
            parts.append(to_html(s["odd_even"]))
            if s.get("odd_even_prose"):
                parts.append("<ul>" + "".join(f"<li>{_e(p)}</li>" for p in s["odd_even_prose"]) + "</ul>")
            parts.append(f"<p class='muted'>Table files: {_files(s['odd_even_files'], out_dir)}</p>")
        if s["incomplete"] is not None and len(s["incomplete"]):
            parts.append(f"<h3>Runs that did not complete ({len(s['incomplete'])})</h3>"
                         "<p>These runs are excluded from the means and tests above and listed here so none is "
                         "silently dropped.</p>")
            parts.append(to_html(s["incomplete"], row_classes=["failed"] * len(s["incomplete"])))
        for f in s["figures"]:
            parts.append(f"<figure><img alt='{_e(f['kind'])}' src='{_img(f['png'])}'>"
                         f"<figcaption>{_e(f['caption'])} <span class='muted'>[{_files({'png': f['png'], 'svg': f['svg']}, out_dir)}]"
                         f"</span></figcaption></figure>")
        parts.append("</section>")

    # paper
    p = data["paper"]
    parts.append("<section id='paper'><h2>Comparison with the ECA paper (Table 3)</h2>")
    parts.append(f"<p>{_e(p['intro'])}</p>")
    if p.get("message"):
        parts.append(f"<p class='warnbox'>{_e(p['message'])}</p>")
    if p.get("formatted") is not None:
        parts.append(to_html(p["formatted"]))
        parts.append(f"<p class='muted'>Source: <code>{_e(p['path'])}</code>. Table files: {_files(p['files'], out_dir)}</p>")
    parts.append("</section>")

    # environment
    parts.append("<section id='environment'><h2>Environment</h2>")
    if data["environment"] is not None and len(data["environment"]):
        parts.append("<p>Training environments recorded in the run records (one row per distinct environment):</p>")
        parts.append(to_html(data["environment"]))
    else:
        parts.append("<p class='warnbox'>No environment information (no run records were aggregated, or the "
                     "summary's _meta.json is missing).</p>")
    if data["measurements"] is not None and len(data["measurements"]):
        parts.append("<p>Throughput measurement setups (per architecture measurement file):</p>")
        parts.append(to_html(data["measurements"]))
    parts.append("</section>")

    # config
    parts.append("<section id='config'><h2>Configuration</h2>")
    if data["config"]:
        try:
            text = yaml.safe_dump(data["config"], sort_keys=False, default_flow_style=False)
        except yaml.YAMLError:
            text = json.dumps(data["config"], indent=2, default=str)
        parts.append(f"<pre>{_e(text)}</pre>")
    else:
        parts.append("<p class='muted'>No configuration was given to the report.</p>")
    parts.append("</section></body></html>")
    return "\n".join(parts)
