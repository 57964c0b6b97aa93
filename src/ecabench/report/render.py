"""Render the collected report data (:mod:`ecabench.report.sections`) with the Jinja2 templates in ``templates/``.

``index.html.j2`` and ``index.md.j2`` lay out the same sections, each a macro in
``sections.html.j2`` / ``sections.md.j2``; the HTML is autoescaped (every study name, spec and error
message is text, never markup), the Markdown is not. Tables go through the writers of
:mod:`ecabench.report.writers` as filters, so a table reads the same in the page and in its file.
"""
from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ecabench.report.writers import to_html, to_markdown

__all__ = ["render_html", "render_markdown", "template_environment"]


def _data_uri(path: str | Path) -> str:
    """A PNG as a data URI: the page carries its figures and opens from anywhere, offline."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _html_table(df, row_classes: list[str] | None = None) -> Markup:
    return Markup(to_html(df, row_classes=row_classes))  # safe: to_html escapes every cell


@lru_cache(maxsize=1)
def template_environment() -> Environment:
    """The templates' environment: HTML autoescaped by file name, undefined names an error (a typo in a
    template fails the report instead of leaving a blank)."""
    env = Environment(loader=PackageLoader("ecabench.report", "templates"),
                      autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(html_table=_html_table, md_table=to_markdown, data_uri=_data_uri)
    return env


def render_html(data: dict) -> str:
    """The self-contained page (styles inline, figures embedded as base64 PNG)."""
    return template_environment().get_template("index.html.j2").render(**data)


def render_markdown(data: dict) -> str:
    """The same content in Markdown, figures linked by their path relative to the report folder."""
    return template_environment().get_template("index.md.j2").render(**data)
