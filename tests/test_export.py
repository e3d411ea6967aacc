"""Lecture export: ``jupyter nbconvert --to html --execute`` of a tutorial keeps the widget
state, so the page shows the bqplot charts without a kernel.

The exported page loads require.js, ``@jupyter-widgets/html-manager`` and the bqplot /
bqscales JavaScript from CDNs. There is no network here, so the test serves them locally:
html-manager and require.js come from the npm registry (tarballs checked against the
registry's integrity hash, cached under test-artifacts/js-cache/), bqplot and bqscales from
the built JS that the installed Python packages ship (share/jupyter/nbextensions/), i.e.
exactly the versions the kernel used. Playwright's ``page.route`` answers the CDN URLs with
those files and aborts every other outside request. Needs Debian's /usr/bin/chromium.
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "01_pcie_vs_nvlink.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CACHE = ARTIFACTS / "js-cache"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REGISTRY = "https://registry.npmjs.org"
# (npm package, version, file inside the tarball). html-manager 1.0.x is the embed manager
# of ipywidgets 8; require.js 2.1.10 is the version nbconvert's template asks for.
NPM = {
    "html-manager": ("@jupyter-widgets/html-manager", "1.0.15", "package/dist/embed-amd.js"),
    "requirejs": ("requirejs", "2.1.10", "package/require.js"),
}
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def npm_file(key: str) -> bytes:
    """One file of an npm package, downloaded once from the registry and integrity-checked."""
    name, version, member = NPM[key]
    dest = CACHE / f"{name.replace('/', '_')}-{version}" / Path(member).name
    if dest.exists():
        return dest.read_bytes()
    try:
        with urllib.request.urlopen(f"{REGISTRY}/{name}/{version}", timeout=30) as r:
            dist = json.load(r)["dist"]
        with urllib.request.urlopen(dist["tarball"], timeout=120) as r:
            blob = r.read()
    except OSError as e:                       # no registry: the test cannot run here
        pytest.skip(f"npm registry not reachable for {name}@{version}: {e}")
    algo, _, want = dist["integrity"].partition("-")
    got = base64.b64encode(hashlib.new(algo, blob).digest()).decode()
    assert got == want, f"{name}@{version}: tarball integrity mismatch"
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        data = tar.extractfile(member).read()
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return data


def nbextension_js(module: str) -> bytes:
    """Built AMD bundle of a widget library as its Python package ships it."""
    from jupyter_core.paths import jupyter_path
    for d in jupyter_path("nbextensions"):
        f = Path(d) / module / "index.js"
        if f.exists():
            return f.read_bytes()
    raise AssertionError(f"no built JS for {module} under {jupyter_path('nbextensions')}")


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """The tutorial executed and exported to HTML exactly as a lecturer would do it."""
    out = tmp_path_factory.mktemp("export")
    cmd = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", "--execute",
           "--ExecutePreprocessor.store_widget_state=True", "--ExecutePreprocessor.timeout=120",
           "--output-dir", str(out), str(NOTEBOOK)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    page = out / (NOTEBOOK.stem + ".html")
    assert page.exists()
    return page


def widget_state(page: Path) -> dict:
    text = page.read_text()
    m = re.search(r'<script type="%s">(.*?)</script>' % re.escape(WIDGET_STATE), text, re.S)
    assert m, "the exported page carries no widget state"
    return json.loads(html.unescape(m.group(1)))


def test_export_keeps_widget_state(exported):
    state = widget_state(exported)["state"]
    figures = [k for k, v in state.items()
               if v["model_module"] == "bqplot" and v["model_name"] == "FigureModel"]
    assert len(figures) >= 3, "expected the timeline, breakdown and compare figures"
    text = exported.read_text()
    views = re.findall(r'<script type="application/vnd.jupyter.widget-view\+json">\s*(\{.*?\})\s*</script>',
                       text, re.S)
    shown = {json.loads(html.unescape(v))["model_id"] for v in views}
    assert shown and shown <= set(state), "every displayed widget has its state in the page"
    # the timeline's bars hold the kernels of the step: non-empty line data
    lines = [v for v in state.values() if v["model_name"] == "LinesModel"]
    assert lines and any(v["state"].get("x") for v in lines)


def test_exported_page_renders_bqplot_offline(exported):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    served = {
        "require.min.js": npm_file("requirejs"),
        "html-manager": npm_file("html-manager"),
        "bqplot@": nbextension_js("bqplot"),
        "bqscales@": nbextension_js("bqscales"),
    }
    hits: dict[str, int] = {k: 0 for k in served}
    blocked: list[str] = []
    errors: list[str] = []

    def route(r):
        url = r.request.url
        if url.startswith("file://"):
            return r.continue_()
        for key, body in served.items():
            if key in url:
                hits[key] += 1
                return r.fulfill(status=200, body=body, content_type="application/javascript",
                                 headers={"Access-Control-Allow-Origin": "*"})
        blocked.append(url)
        return r.abort()

    n_fig = sum(1 for v in widget_state(exported)["state"].values() if v["model_name"] == "FigureModel")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", route)
            page.goto(exported.as_uri())
            page.wait_for_selector(".bqplot svg", timeout=60_000)
            page.wait_for_function(
                f"document.querySelectorAll('.bqplot svg.svg-figure').length >= {n_fig}", timeout=60_000)
            page.wait_for_timeout(1500)                    # let marks finish drawing
            n_svg = page.locator(".bqplot svg.svg-figure").count()
            n_bars = page.locator(".bqplot svg .bargroup rect").count()
            n_lines = page.locator(".bqplot svg path.line").count()
            page.screenshot(path=str(ARTIFACTS / "export.png"), full_page=True)
        finally:
            browser.close()
    assert all(hits.values()), f"a local JS file was never asked for: {hits}"
    assert not errors, errors
    assert n_svg == n_fig, (n_svg, n_fig)
    assert n_bars > 0, "no bqplot bars drawn (breakdown / compare charts)"
    assert n_lines > 0, "no bqplot lines drawn (timeline)"
