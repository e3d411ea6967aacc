"""Lecture export: ``nexora export NOTEBOOK -o OUT`` (``python -m nexora_widgets.export``)
writes one self-contained HTML page whose bqplot charts render without a kernel and without
a network.

The page is opened in Debian's Chromium (Playwright) with every request that is not a
local file aborted and recorded; it must draw every figure, ask the network for nothing and
log no console error. ``jupyter nbconvert --to html`` by contrast loads require.js, the
widget manager and bqplot from CDNs: offline its charts stay blank (checked too).

The widget manager (@jupyter-widgets/html-manager) comes from npm once, checked against
its pinned sha512, into the cache (here test-artifacts/js-cache via NEXORA_JS_CACHE); the
test is skipped only when neither the cache nor npm is available.
"""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "01_pcie_vs_nvlink.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CACHE = ARTIFACTS / "js-cache"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STATE = "application/vnd.jupyter.widget-state+json"


def env():
    return dict(os.environ, NEXORA_JS_CACHE=str(CACHE),
                PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def run_export(*args, cwd=ROOT, timeout=600):
    return subprocess.run([sys.executable, "-m", "nexora_widgets.export", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env())


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """The tutorial executed and exported as a lecturer would: ``nexora export NB -o OUT``."""
    before = set((ROOT / "notebooks").iterdir())
    out = tmp_path_factory.mktemp("export") / "lecture.html"
    p = run_export(NOTEBOOK, "-o", out)
    if p.returncode != 0 and "npm is unreachable" in p.stderr:
        pytest.skip(p.stderr.strip())
    assert p.returncode == 0, p.stderr[-3000:]
    assert out.exists() and f"wrote {out}" in p.stderr
    assert set((ROOT / "notebooks").iterdir()) == before, "the export left files in notebooks/"
    return out


def widget_state(page: Path) -> dict:
    m = re.search(r'<script type="%s">(.*?)</script>' % re.escape(STATE), page.read_text(), re.S)
    assert m, "the exported page carries no widget state"
    return json.loads(html.unescape(m.group(1)))


def open_offline(page: Path, shot: str | None = None):
    """Open ``page`` in Chromium with the network blocked: (svg figures, bars, lines,
    console errors, refused requests)."""
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does this)",
                    pytrace=False)
    blocked, errors = [], []

    def route(r):
        if r.request.url.startswith(("file://", "data:")):
            return r.continue_()
        blocked.append(r.request.url)
        return r.abort()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            pg = browser.new_page(viewport={"width": 1200, "height": 900})
            pg.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            pg.route("**/*", route)
            pg.goto(page.as_uri())
            try:
                pg.wait_for_selector(".bqplot svg.svg-figure", timeout=30_000)
                pg.wait_for_timeout(1500)                          # let marks finish drawing
            except Exception:                                      # noqa: BLE001 - blank page
                pass
            n_svg = pg.locator(".bqplot svg.svg-figure").count()
            n_bars = pg.locator(".bqplot svg .bargroup rect").count()
            n_lines = pg.locator(".bqplot svg path.line").count()
            if shot:
                ARTIFACTS.mkdir(exist_ok=True)
                pg.screenshot(path=str(ARTIFACTS / shot), full_page=True)
        finally:
            browser.close()
    return n_svg, n_bars, n_lines, errors, blocked


def test_export_keeps_widget_state_and_inlines_every_script(exported):
    state = widget_state(exported)["state"]
    figures = [k for k, v in state.items()
               if v["model_module"] == "bqplot" and v["model_name"] == "FigureModel"]
    assert len(figures) >= 3, "expected the timeline, breakdown and compare figures"
    text = exported.read_text()
    views = re.findall(r'<script type="application/vnd.jupyter.widget-view\+json">\s*(\{.*?\})\s*</script>',
                       text, re.S)
    shown = {json.loads(html.unescape(v))["model_id"] for v in views}
    assert shown and shown <= set(state), "every displayed widget has its state in the page"
    assert not re.findall(r'(?:src|href)="https?://', text), "a script or stylesheet from the network"
    assert 'define("bqplot"' in text and 'define("bqscales"' in text and "requirejs" in text


def test_exported_page_renders_every_chart_offline_without_console_errors(exported):
    n_fig = sum(1 for v in widget_state(exported)["state"].values() if v["model_name"] == "FigureModel")
    n_svg, n_bars, n_lines, errors, blocked = open_offline(exported, "export.png")
    assert not blocked, f"the page asked the network for {blocked[:3]}"
    assert not errors, errors[:5]
    assert n_svg == n_fig, (n_svg, n_fig)
    assert n_bars > 0, "no bqplot bars drawn (breakdown / compare charts)"
    assert n_lines > 0, "no bqplot lines drawn (timeline)"


def test_nbconvert_html_is_blank_offline_which_is_why_export_exists(tmp_path):
    """The README's old lecture export: offline, no figure renders (the CDN scripts fail)."""
    p = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html",
                        "--output-dir", str(tmp_path), str(NOTEBOOK)],
                       capture_output=True, text=True, timeout=300, env=env())
    assert p.returncode == 0, p.stderr[-2000:]
    page = tmp_path / (NOTEBOOK.stem + ".html")
    n_svg, _, _, _, blocked = open_offline(page)
    assert n_svg == 0 and blocked


def test_export_refuses_to_overwrite_and_names_bad_input(tmp_path):
    out = tmp_path / "x.html"
    out.write_text("keep me")
    p = run_export(NOTEBOOK, "-o", out, "--no-execute")
    assert p.returncode == 2 and "exists; pass --force" in p.stderr
    assert out.read_text() == "keep me"
    assert len(p.stderr.strip().splitlines()) == 1
    p = run_export(tmp_path / "missing.ipynb", "-o", tmp_path / "y.html")
    assert p.returncode == 2 and "no such file" in p.stderr
    p = run_export(NOTEBOOK, "-o", NOTEBOOK)
    assert p.returncode == 2 and "the notebook itself" in p.stderr
    p = run_export(NOTEBOOK, "-o", tmp_path / "nodir" / "z.html")
    assert p.returncode == 2 and "does not exist" in p.stderr


def test_default_output_goes_to_the_current_folder_not_notebooks(tmp_path):
    p = run_export(NOTEBOOK, "--no-execute", cwd=tmp_path)
    if p.returncode != 0 and "npm is unreachable" in p.stderr:
        pytest.skip(p.stderr.strip())
    assert p.returncode == 0, p.stderr
    assert (tmp_path / (NOTEBOOK.stem + ".html")).exists()
    assert not list((ROOT / "notebooks").glob("*.html"))


def test_no_stray_html_in_notebooks():
    assert not list((ROOT / "notebooks").glob("*.html"))
