"""The HTML report as a reader sees it: opened from disk (file://) in a real headless Chromium.

The page is checked from inside the browser: every image decoded, every in-page link lands on an
element, every link to a file (tables, figure files, tuning pages) finds it on disk, and the console
stays free of errors. The report is the one the .test/ workflow writes (run once per session and
shared with the end-to-end test: tests/conftest.py::tiny_workflow).

Chromium is the system one (Debian: ``apt-get install chromium``; .ci/run installs it), driven by
Playwright for Python (the ``test`` extra); Playwright's own browser downloads are never used.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import pytest

CHROMIUM = os.environ.get("ECABENCH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None. Checked by a skipif mark, before any fixture, so a
    machine without Chromium skips at once instead of running the workflow first (under
    ECABENCH_STRICT_SKIPS=1 the skip is a failure: tests/conftest.py)."""
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; or set ECABENCH_CHROMIUM)"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright is not installed (pip install -e '.[test]')"
    return None


MISSING = _missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

# What the page knows about itself: images, and every element that points somewhere.
_PAGE_FACTS = """() => ({
  images: Array.from(document.images).map(i => ({
    src: i.getAttribute('src') || '', alt: i.alt, complete: i.complete, width: i.naturalWidth})),
  links: Array.from(document.querySelectorAll('[href], [src]')).map(e => {
    const attr = e.hasAttribute('href') ? 'href' : 'src';
    const raw = e.getAttribute(attr);
    const url = e[attr];
    let target = null;
    if (raw.startsWith('#')) {
      const id = decodeURIComponent(raw.slice(1));
      target = id !== '' && document.getElementById(id) !== null;
    }
    return {tag: e.tagName.toLowerCase(), raw: raw, url: typeof url === 'string' ? url : '', target: target};
  }),
})"""


def _short(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[:n] + "..."


def _local_path(url: str) -> Path | None:
    """The file a file:// URL names (without its #fragment or ?query), None for other schemes."""
    parts = urlsplit(url)
    return Path(url2pathname(unquote(parts.path))) if parts.scheme == "file" else None


def check_report(browser, html: Path) -> list[str]:
    """Open ``html`` from disk in ``browser`` (a Playwright Browser); one line per problem, [] if none."""
    problems: list[str] = []
    page = browser.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    try:
        page.goto(html.resolve().as_uri(), wait_until="load")
        facts = page.evaluate(_PAGE_FACTS)
    finally:
        page.close()

    if not facts["images"]:
        problems.append("no <img> on the page")
    for img in facts["images"]:
        if not img["complete"] or img["width"] <= 0:
            problems.append(f"image {img['alt']!r} did not load (naturalWidth {img['width']}): {_short(img['src'])}")
    for link in facts["links"]:
        raw = link["raw"]
        if raw.startswith("#"):
            if not link["target"]:
                problems.append(f"in-page link {raw!r} has no element with that id")
            continue
        if raw.startswith("data:"):
            continue  # embedded (figures): its decoding is the image check
        path = _local_path(link["url"])
        if path is None:
            continue  # another scheme (none in today's report): not checked offline
        if not path.is_file():
            problems.append(f"<{link['tag']}> {raw!r} -> missing file {path}")
    return problems


def _file_links(browser, html: Path) -> list[str]:
    """The raw href of every link to a file under the report's folder."""
    page = browser.new_page()
    try:
        page.goto(html.resolve().as_uri(), wait_until="load")
        facts = page.evaluate(_PAGE_FACTS)
    finally:
        page.close()
    return [link["raw"] for link in facts["links"]
            if not link["raw"].startswith(("#", "data:")) and _local_path(link["url"]) is not None]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # Playwright gives every launch a fresh, temporary profile (--user-data-dir) and removes it afterwards
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                               downloads_path=str(tmp_path_factory.mktemp("downloads")))
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def report_dir(tiny_workflow) -> Path:
    assert tiny_workflow.proc.returncode == 0, tiny_workflow.proc.stderr[-5000:]
    return tiny_workflow.workdir / "reports"


@pytest.mark.slow
def test_report_opens_cleanly_in_a_browser(browser, report_dir):
    html = report_dir / "index.html"
    problems = check_report(browser, html)
    assert not problems, "\n".join(problems)
    # the checks above had something to check: tables and every figure's files are linked
    links = _file_links(browser, html)
    assert any(h.startswith("tables/") for h in links), links
    assert {Path(h).suffix for h in links if h.startswith("figures/")} >= {".png", ".svg"}, links


@pytest.mark.slow
def test_browser_check_catches_a_missing_figure_file(browser, report_dir, tmp_path):
    copy = tmp_path / "reports"
    shutil.copytree(report_dir, copy)
    figure = next(h for h in _file_links(browser, copy / "index.html") if h.startswith("figures/"))
    (copy / figure).unlink()
    problems = check_report(browser, copy / "index.html")
    assert any(figure in p and "missing file" in p for p in problems), problems


# The first screen at 1400 px: where the forest plot sits, and every table that overflows its box.
_FIRST_SCREEN = """() => {
  const img = document.querySelector('#headline-forest img');
  const box = img ? img.getBoundingClientRect() : null;
  const overview = document.getElementById('overview');
  const wide = Array.from(overview.querySelectorAll('.tblwrap')).filter(w => w.scrollWidth > w.clientWidth + 1)
    .map(w => w.querySelector('table').rows[0].textContent.slice(0, 80));
  return {forest: box && {top: box.top, bottom: box.bottom, width: box.width, loaded: img.naturalWidth > 0},
          wide: wide, pageWidth: document.documentElement.scrollWidth,
          sentences: Array.from(overview.querySelectorAll('ul.answers li')).map(li => li.textContent)};
}"""


@pytest.mark.slow
def test_first_screen_reads_at_1400_px(browser, report_dir, tmp_path):
    """One sentence per study, then the forest plot inside the first 1,400 x 1,000 px, no table wider than the page."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto((report_dir / "index.html").resolve().as_uri(), wait_until="load")
        page.screenshot(path=str(tmp_path / "first_screen.png"))  # the viewport only: the first 1,400 x 1,000 px
        facts = page.evaluate(_FIRST_SCREEN)
    finally:
        page.close()
    forest = facts["forest"]
    assert forest is not None and forest["loaded"], "no forest plot on the first screen"
    assert 0 <= forest["top"] and forest["bottom"] <= 1000 and forest["width"] > 600, forest
    assert not facts["wide"] and facts["pageWidth"] <= 1400, facts
    (sentence,) = facts["sentences"]
    assert sentence.startswith("smoke — averaged over these 2 settings") and "new backbone" in sentence
    assert (tmp_path / "first_screen.png").stat().st_size > 10_000
