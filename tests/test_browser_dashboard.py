"""The dashboard in a real browser: Voila serves notebooks/00_dashboard.ipynb on 127.0.0.1
(with the offline "nexora" template), Debian's Chromium (headless, driven by Playwright)
moves the sliders, and the bqplot SVG must change the way the engine says.

The network is blocked (every request that is not to the local Voila is aborted and
recorded) and any JavaScript console error or page error fails the test that caused it.
Screenshots: test-artifacts/dashboard*.png (1500 wide, 1600 x 1000, 1280 x 800)."""
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
from nexora_widgets.serve import voila_command

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
    cmd, env = voila_command(NOTEBOOK.relative_to(ROOT), port, env=env)
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "voila.log", "wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
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


def open_page(browser, url, width=1500, height=2100):
    """A page of the dashboard with the network blocked; ``pg.errors`` collects console
    errors and page errors, ``pg.blocked`` the outside requests that were refused."""
    pg = browser.new_page(viewport={"width": width, "height": height})
    pg.errors, pg.blocked = [], []
    pg.on("pageerror", lambda e: pg.errors.append(f"pageerror: {e}"))
    pg.on("console", lambda m: pg.errors.append(f"console.error: {m.text}") if m.type == "error" else None)
    local = url.rstrip("/")

    def route(r):
        u = r.request.url
        if u.startswith((local, "data:", "blob:")) or u.startswith(local.replace("http", "ws")):
            return r.continue_()
        pg.blocked.append(u)
        return r.abort()
    pg.route("**/*", route)
    pg.goto(url, timeout=TIMEOUT_MS)
    pg.wait_for_selector(".nx-timeline svg path.line", state="attached", timeout=TIMEOUT_MS)
    return pg


def assert_clean(pg):
    """No console error, no page error, no stderr output, nothing fetched from outside."""
    assert not pg.errors, pg.errors[:5]
    assert not pg.blocked, f"the page asked the network for {pg.blocked[:3]}"
    assert pg.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0


@pytest.fixture(scope="module")
def browser(voila):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, voila):
    pg = open_page(browser, voila)
    yield pg
    pg.close()


def comm_segments(pg) -> int:
    """Bars drawn in the timeline's communication curve: its path's move-to commands, less
    the one point every curve ends with (below the lanes)."""
    return pg.evaluate(
        """(stroke) => {
            for (const p of document.querySelectorAll('.nx-timeline path.line')) {
                if ((p.getAttribute('style') || '').includes('stroke: ' + stroke)) {
                    const d = p.getAttribute('d');
                    return d && d !== 'null' ? (d.match(/M/g) || []).length - 1 : -2;
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


def move_tp_slider(pg, index: int, n_options: int, label: str = "tensor par.") -> None:
    """Drag the slider ``label``'s handle (default: tp) to option ``index`` of ``n_options``."""
    slider = pg.locator(".widget-slider", has_text=label)
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


def wait_for_share(pg, color, share, what):
    """The decode bar's widths once ``color``'s share of them is the engine's ``share`` (within
    two pixels and 1 %): the chart redraws after the TPOT card, so the first reading may be
    of a half-updated figure."""
    def settled():
        w = decode_bar_widths(pg)
        total = sum(w.values()) if w else 0.0
        return total > 0 and abs(w.get(color, 0.0) / total - share) <= 2.0 / total + 0.01 and w
    return wait_until(pg, settled, what)


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
    share = at8.breakdown["communication"] / at8.tpot_s
    widths = wait_for_share(page, red, share, "communication bar at tp=8 with the engine's share")
    assert widths[red] > 1
    assert f"{at8.tpot_s * 1e3:.2f} ms" in page.locator(".nx-tpot").inner_text()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert_clean(page)


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
    share = eager.breakdown["launch_overhead"] / eager.tpot_s
    assert share > 0.5                      # the host time dominates the eager step
    widths = wait_for_share(page, brown, share, "launch + host bar with the engine's share")
    assert widths[brown] / sum(widths.values()) > 0.5
    page.screenshot(path=str(ARTIFACTS / "dashboard-eager.png"), full_page=True)
    select.select_option("compiled")
    wait_until(page, lambda: f"{base.tpot_s * 1e3:.2f} ms" in page.locator(".nx-tpot").inner_text(),
               "TPOT card back on the compiled runtime")
    assert_clean(page)


def test_choosing_a_weight_format_moves_the_bits_the_cards_and_the_header(page):
    """Pick weight format fp8: the weight-bits slider moves to 8, the TPOT card follows the
    engine and the header names the format; bf16 then auto restore the loaded scenario."""
    base = km.simulate(**SCENARIO)
    fp8 = km.simulate(**SCENARIO, weight_format="fp8")
    assert fp8.tpot_s < base.tpot_s
    tpot = page.locator(".nx-tpot")
    wait_until(page, lambda: f"{base.tpot_s * 1e3:.2f} ms" in tpot.inner_text(), "loaded TPOT card")
    select = page.locator(".widget-dropdown", has_text="weight format").locator("select")
    select.select_option("fp8")
    wait_until(page, lambda: f"{fp8.tpot_s * 1e3:.2f} ms" in tpot.inner_text(), "TPOT card with fp8")
    bits = page.locator(".widget-hslider", has_text="weight bits")
    wait_until(page, lambda: bits.inner_text().split()[-1] == "8", "weight bits slider at 8")
    wait_until(page, lambda: page.get_by_text("fp8 weights").count() > 0, "header names fp8")
    page.screenshot(path=str(ARTIFACTS / "dashboard-format.png"), full_page=True)
    select.select_option("bf16")
    wait_until(page, lambda: bits.inner_text().split()[-1] == "16", "weight bits back at 16")
    wait_until(page, lambda: f"{base.tpot_s * 1e3:.2f} ms" in tpot.inner_text(), "TPOT with bf16")
    select.select_option("auto")
    wait_until(page, lambda: page.get_by_text("16-bit weights").count() > 0, "header: 16-bit")
    assert_clean(page)


def _valid_tp(t: int) -> bool:
    try:
        km.Scenario(**{**SCENARIO, "tp": t})
        return True
    except ValueError:
        return False


# ---- issue 12 items 22 and 23 ----------------------------------------------------------------
def timeline_colors(pg) -> dict:
    """What the timeline draws: the fill / stroke of every bar curve that has bars, and the
    computed fill and opacity of every hover marker."""
    return pg.evaluate(
        """() => {
            const out = {curves: [], dots: [], lanes: []};
            for (const p of document.querySelectorAll('.nx-timeline path.line')) {
                const d = p.getAttribute('d') || '';
                const cs = getComputedStyle(p);
                out.curves.push({fill: cs.fill, stroke: cs.stroke, bars: (d.match(/M/g) || []).length,
                                 d: d.slice(0, 40)});
            }
            for (const dot of document.querySelectorAll('.nx-timeline .dot')) {
                const cs = getComputedStyle(dot);
                out.dots.push([cs.fill, parseFloat(cs.opacity)]);
            }
            for (const t of document.querySelectorAll('.nx-timeline .axis text'))
                if (/comm|compute/.test(t.textContent)) out.lanes.push(t.textContent);
            return out;
        }""")


def test_pipeline_stages_draw_in_their_colors_without_console_errors(page):
    """pp 2 and 3: every stage's kernels in the palette colors (the bug: black blocks for
    every stage after 0, 'translate(..., undefined)' and d="null" in the console)."""
    allowed = {rgb(c) for c in palette.bound_colors().values()} | {rgb(palette.KIND["aggregate"])}
    pps = list(range(1, 9))
    for pp in (2, 3):
        ref = km.simulate(**SCENARIO, pp=pp)
        move_tp_slider(page, pps.index(pp), len(pps), label="pipeline")
        wait_until(page, lambda: f"{ref.tpot_s * 1e3:.2f} ms" in page.locator(".nx-tpot").inner_text(),
                   f"TPOT card at pp={pp}")
        c = wait_until(page, lambda: (c := timeline_colors(page)) and len(c["lanes"]) == 2 * pp and c,
                       f"{2 * pp} lanes at pp={pp}")
        page.wait_for_timeout(500)
        c = timeline_colors(page)
        drawn = [k for k in c["curves"] if k["bars"] > 1]
        assert drawn, c["curves"]
        for k in drawn:
            assert k["fill"] in allowed and k["stroke"] in allowed, k
        assert not [k for k in c["curves"] if k["d"] in ("", "null")]
        bad = [d for d in c["dots"] if d[0] != "rgba(0, 0, 0, 0)" and d[1] != 0.0]
        assert c["dots"] and not bad, (len(bad), len(c["dots"]), bad[:3])
        assert f"stage {pp - 1} compute" in c["lanes"]
        page.screenshot(path=str(ARTIFACTS / f"dashboard-pp{pp}.png"), full_page=True)
        assert_clean(page)
    move_tp_slider(page, 0, len(pps), label="pipeline")
    wait_until(page, lambda: len(timeline_colors(page)["lanes"]) == 2, "back to one stage")
    assert_clean(page)


def boxes(pg, selector) -> list[dict]:
    return pg.evaluate("(s) => Array.from(document.querySelectorAll(s)).map(e => {"
                       "const r = e.getBoundingClientRect(); return {x: r.x, y: r.y, r: r.right,"
                       " b: r.bottom, t: e.textContent}; })", selector)


def overlaps(a, b) -> bool:
    return a["x"] < b["r"] and b["x"] < a["r"] and a["y"] < b["b"] and b["y"] < a["b"]


@pytest.mark.parametrize("size", [(1600, 1000), (1280, 800), (1100, 800)])
def test_layout_at_lecture_sizes(browser, voila, size):
    """1600 x 1000 (a laptop), 1280 x 800 (a projector), 1100 (JupyterLab at 1600 with its
    file browser open): the compare table is not clipped, the scaling chart's right-axis
    label clears its ticks, and the charts keep 600 px (beside the controls, or below them)."""
    w, h = size
    pg = open_page(browser, voila, w, h)
    try:
        pg.wait_for_selector(".nx-compare-table .nx-table", timeout=TIMEOUT_MS)
        pg.wait_for_timeout(1500)
        card = boxes(pg, ".nx-compare")[0]
        compare_card = pg.evaluate("() => { const r = document.querySelector('.nx-compare')"
                                   ".closest('.nx-card').getBoundingClientRect(); return r.right; }")
        heads = boxes(pg, ".nx-compare-table th")
        assert [x["t"] for x in heads][-2:] == ["bound by", "fits"]
        for th in heads:
            assert th["r"] <= compare_card + 0.5, f"{th['t']!r} clipped at {w}px"
        wrap = pg.evaluate("() => { const e = document.querySelector('.nx-compare-table');"
                           " return [e.scrollWidth, e.clientWidth]; }")
        assert wrap[0] <= wrap[1] + 1, f"compare table scrolls at {w}px: {wrap}"
        # the scaling chart's right axis: label beyond the tick labels
        right = pg.evaluate("""() => {
            const fig = document.querySelector('.nx-scaling svg');
            const axes = Array.from(fig.querySelectorAll('.axis'));
            const out = [];
            for (const ax of axes) {
                const label = ax.querySelector('.axislabel');
                if (!label || !/tokens/.test(label.textContent)) continue;
                const lr = label.getBoundingClientRect();
                for (const t of ax.querySelectorAll('.tick text')) {
                    const r = t.getBoundingClientRect();
                    out.push([lr.x, lr.right, r.x, r.right, t.textContent]);
                }
            }
            return out;
        }""")
        assert right, "no tokens/s axis found"
        for lx, lr, tx, tr, text in right:
            assert tr <= lx + 0.5, f"tick {text!r} runs into the tokens/s label"
            assert len(text) <= 4, text
        controls = boxes(pg, ".nx-controls")[0]
        charts = boxes(pg, ".nx-charts")[0]
        # beside the controls or below them, never squeezed under 600 px
        assert charts["x"] >= controls["r"] - 1 or charts["y"] >= controls["b"] - 1
        assert charts["r"] - charts["x"] >= min(600, w - 40), f"charts squeezed at {w}px"
        pg.screenshot(path=str(ARTIFACTS / f"dashboard-{w}x{h}.png"), full_page=True)
        assert_clean(pg)
    finally:
        pg.close()


def test_serving_tab_renders_without_console_errors(browser, voila):
    """Open the dashboard's serving tab: its chart simulates, draws and logs no error."""
    pg = open_page(browser, voila)
    try:
        pg.get_by_role("tab", name="serving").click()
        pg.wait_for_selector(".nx-serving svg", state="visible", timeout=TIMEOUT_MS)
        wait_until(pg, lambda: pg.locator(".nx-serving svg .mark").count() > 0
                   or pg.locator(".nx-serving svg path").count() > 0, "serving marks drawn")
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / "dashboard-serving.png"), full_page=True)
        assert_clean(pg)
    finally:
        pg.close()
