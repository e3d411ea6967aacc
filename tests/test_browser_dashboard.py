"""The dashboard in a real browser: Voila serves notebooks/00_dashboard.ipynb on 127.0.0.1,
Debian's Chromium (headless, driven by Playwright) moves the tp slider, and the bqplot SVG
must change the way the engine says. Screenshot: test-artifacts/dashboard.png."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import kernel_model as km
from nexora_widgets import palette

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "00_dashboard.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
# The scenario the notebook builds (checked against its source below).
SCENARIO = dict(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)
TIMEOUT_MS = 120_000


def rgb(hex_color: str) -> str:
    h = hex_color.lstrip("#")
    return "rgb({}, {}, {})".format(*(int(h[i:i + 2], 16) for i in (0, 2, 4)))


@pytest.fixture(scope="module")
def voila():
    """Voila serving the dashboard notebook; killed at the end."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install chromium; "
                    f".ci/run does this) to run the browser tests", pytrace=False)
    pytest.importorskip("voila")
    pytest.importorskip("playwright")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "voila.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", str(NOTEBOOK.relative_to(ROOT)), "--no-browser",
         f"--port={port}", "--Voila.ip=127.0.0.1", "--Voila.port_retries=0"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        t0 = time.time()
        while True:
            if proc.poll() is not None:
                pytest.fail(f"voila exited with {proc.returncode}; see {ARTIFACTS / 'voila.log'}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() - t0 > 60:
                    pytest.fail("voila did not listen within 60 s")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)             # voila and the kernels it started
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def page(voila):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1500, "height": 2100})
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(voila, timeout=TIMEOUT_MS)
        pg.wait_for_selector(".nx-timeline svg path.line", state="attached", timeout=TIMEOUT_MS)
        pg.errors = errors
        yield pg
        browser.close()


def comm_segments(pg) -> int:
    """Segments drawn in the timeline's communication curve (its path's move-to commands)."""
    return pg.evaluate(
        """(stroke) => {
            for (const p of document.querySelectorAll('.nx-timeline path.line')) {
                if ((p.getAttribute('style') || '').includes('stroke: ' + stroke)) {
                    const d = p.getAttribute('d');
                    return d && d !== 'null' ? (d.match(/M/g) || []).length : 0;
                }
            }
            return -1;
        }""", rgb(palette.CATEGORY["communication"]))


def decode_bar_widths(pg) -> dict:
    """Pixel width of each cause in the decode-step stacked bar, keyed by fill color."""
    return pg.evaluate(
        """() => {
            const out = {};
            for (const r of document.querySelectorAll('.nx-breakdown-decode rect.bar')) {
                const fill = getComputedStyle(r).fill;
                out[fill] = (out[fill] || 0) + parseFloat(r.getAttribute('width') || '0');
            }
            return out;
        }""")


def move_tp_slider(pg, index: int, n_options: int) -> None:
    """Drag the tp slider's handle to option ``index`` of ``n_options``."""
    slider = pg.locator(".widget-slider", has_text="tensor par.")
    track = slider.locator(".noUi-target").bounding_box()
    handle = slider.locator(".noUi-handle").bounding_box()
    x = track["x"] + track["width"] * index / (n_options - 1)
    pg.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    pg.mouse.down()
    pg.mouse.move(x, handle["y"] + handle["height"] / 2, steps=8)
    pg.mouse.up()


def wait_until(pg, check, what, timeout_s=60):
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        value = check()
        if value:
            return value
        pg.wait_for_timeout(200)
    pytest.fail(f"timed out waiting for {what}")


def test_notebook_builds_the_scenario_this_test_checks():
    import nbformat
    src = "\n".join(c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells)
    assert all(f'{k}="{v}"' in src or f"{k}={v}" in src for k, v in SCENARIO.items())


def test_moving_tp_changes_the_svg_as_the_engine_says(page):
    allowed = [t for t in range(1, 65) if _valid_tp(t)]
    at8 = km.simulate(**SCENARIO)
    at1 = km.simulate(**{**SCENARIO, "tp": 1})
    n8 = int(((at8.timeline.phase == "decode") & (at8.timeline.stream == "comm")).sum())
    assert n8 > 0 and at1.breakdown["communication"] == 0

    # as loaded: tp=8, one red segment per collective of the decode step
    wait_until(page, lambda: comm_segments(page) == n8, f"{n8} communication segments at tp=8")
    red = rgb(palette.CATEGORY["communication"])
    tpot = page.locator(".nx-tpot").inner_text()
    assert f"{at8.tpot_s * 1e3:.2f} ms" in tpot

    # tp 8 -> 1: the communication lane empties and its bar in the breakdown vanishes
    move_tp_slider(page, allowed.index(1), len(allowed))
    wait_until(page, lambda: comm_segments(page) == 0, "no communication segments at tp=1")
    widths = wait_until(page, lambda: (w := decode_bar_widths(page)) and w.get(red, 0) < 0.5 and w,
                        "communication bar to vanish")
    wait_until(page, lambda: f"{at1.tpot_s * 1e3:.2f} ms" in page.locator(".nx-tpot").inner_text(),
               "TPOT card at tp=1")

    # tp 1 -> 8: the communication bar appears with the engine's share of the step
    move_tp_slider(page, allowed.index(8), len(allowed))
    wait_until(page, lambda: comm_segments(page) == n8, f"{n8} communication segments back at tp=8")
    widths = wait_until(page, lambda: (w := decode_bar_widths(page)) and w.get(red, 0) > 1 and w,
                        "communication bar at tp=8")
    total = sum(widths.values())
    share = at8.breakdown["communication"] / at8.tpot_s
    assert widths[red] / total == pytest.approx(share, abs=2.0 / total + 0.01)
    assert f"{at8.tpot_s * 1e3:.2f} ms" in page.locator(".nx-tpot").inner_text()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert not [e for e in page.errors if re.search(r"bqplot|widget", e, re.I)], page.errors
    # never a traceback: no stderr output anywhere on the page
    assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0


def test_choosing_the_eager_runtime_adds_its_host_time(page):
    """Open the advanced accordion, pick runtime "eager_server": the TPOT card and the launch bar
    follow the engine; back to 'compiled' restores them."""
    base = km.simulate(**SCENARIO)
    eager = km.simulate(**SCENARIO, runtime="eager_server")
    wait_until(page, lambda: f"{base.tpot_s * 1e3:.2f} ms" in page.locator(".nx-tpot").inner_text(),
               "TPOT card of the loaded scenario")
    page.get_by_text("collectives, kernels, runtime").click()
    select = page.locator(".widget-dropdown", has_text="runtime").locator("select")
    select.select_option("eager_server")
    wait_until(page, lambda: f"{eager.tpot_s * 1e3:.2f} ms" in page.locator(".nx-tpot").inner_text(),
               "TPOT card with the eager_server runtime")
    brown = rgb(palette.CATEGORY["launch_overhead"])
    widths = wait_until(page, lambda: (w := decode_bar_widths(page)) and w.get(brown, 0) > 0
                        and w[brown] / sum(w.values()) > 0.5 and w, "launch + host bar")
    share = eager.breakdown["launch_overhead"] / eager.tpot_s
    total = sum(widths.values())
    assert widths[brown] / total == pytest.approx(share, abs=2.0 / total + 0.01)
    page.screenshot(path=str(ARTIFACTS / "dashboard-eager.png"), full_page=True)
    select.select_option("compiled")
    wait_until(page, lambda: f"{base.tpot_s * 1e3:.2f} ms" in page.locator(".nx-tpot").inner_text(),
               "TPOT card back on the compiled runtime")
    assert page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0


def _valid_tp(t: int) -> bool:
    try:
        km.Scenario(**{**SCENARIO, "tp": t})
        return True
    except ValueError:
        return False
