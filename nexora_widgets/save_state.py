"""Re-run notebooks and store their widget state, so they show their charts when opened
(JupyterLab before running, GitHub, nbviewer, ``nexora export --no-execute``).

    python -m nexora_widgets.save_state notebooks/*.ipynb

Each notebook runs top to bottom in a fresh ``python3`` kernel in its own folder (as nbval
and ``jupyter nbconvert --execute`` do); its outputs are replaced by the new ones and the
state of every widget a displayed view needs is saved in the notebook's metadata
(``widgets`` / ``application/vnd.jupyter.widget-state+json``). Widgets that no displayed
view reaches are left out, which keeps the files small. Every widget view output also gets
a PNG of itself (drawn offline in headless Chromium from that state) and a one-line text in
place of the widget's repr: JupyterLab renders widgets only in trusted notebooks and falls
back to the richest *safe* output (the picture) in a freshly cloned, untrusted one, and
GitHub shows the picture; a notebook that would exceed
``--max-bytes`` (default 1 MB) is not written, and the command says so. Run it again
whenever a notebook's code changes. A notebook that fails to run is left untouched.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from kernel_model._files import write_text_atomic

STATE = "application/vnd.jupyter.widget-state+json"
VIEW = "application/vnd.jupyter.widget-view+json"
MAX_BYTES = 1_000_000
_REF = re.compile(r"IPY_MODEL_([0-9a-f]{32})")


class SaveStateError(RuntimeError):
    """Why a notebook was not written."""


def displayed_views(nb) -> list[str]:
    """model_id of every widget view among the notebook's outputs, in order."""
    return [o["data"][VIEW]["model_id"] for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if VIEW in o.get("data", {})]


def reachable(state: dict, roots) -> set[str]:
    """Model ids that the models ``roots`` refer to, directly or through others."""
    seen, todo = set(), [r for r in roots if r in state]
    while todo:
        mid = todo.pop()
        if mid in seen:
            continue
        seen.add(mid)
        refs = _REF.findall(json.dumps(state[mid].get("state", {})))
        todo.extend(r for r in refs if r in state and r not in seen)
    return seen


def prune(nb) -> tuple[int, int]:
    """Keep only the widget state the displayed views need; (kept, dropped) models."""
    meta = nb.metadata.get("widgets", {}).get(STATE)
    if not meta:
        return 0, 0
    state = meta["state"]
    keep = reachable(state, displayed_views(nb))
    missing = [v for v in displayed_views(nb) if v not in state]
    if missing:
        raise SaveStateError(f"a displayed widget has no saved state (model {missing[0]})")
    dropped = len(state) - len(keep)
    meta["state"] = {k: v for k, v in state.items() if k in keep}
    return len(keep), dropped


CHROMIUM = "/usr/bin/chromium"
PNG_MAX = 150_000          # a bigger picture (a whole dashboard) is taken again at
SMALL_SCALE = 0.7          # this device scale: about half the bytes, still readable
PICTURES = ("image/png", "image/jpeg")
PLACEHOLDER = "[interactive chart: run the notebook (or trust it) to use it]"


def snapshots(nb, width: int = 1100, chromium: str = CHROMIUM) -> list[tuple[str, str]]:
    """(mime type, base64) of a PNG of every displayed widget view (at ``SMALL_SCALE`` when
    it would exceed ``PNG_MAX``), drawn from the saved state by the same offline page as
    ``nexora export`` in headless Chromium (Playwright)."""
    import base64
    import tempfile
    from playwright.sync_api import sync_playwright
    from .export import state_page
    specs = [{"version_major": 2, "version_minor": 0, "model_id": v} for v in displayed_views(nb)]
    if not specs:
        return []
    page_html = state_page(nb.metadata["widgets"][STATE], specs, width=f"{width - 16}px")
    errors, shots = [], []
    with tempfile.TemporaryDirectory() as d, sync_playwright() as pw:
        f = Path(d) / "views.html"
        f.write_text(page_html, encoding="utf-8")
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            for scale in (1.0, SMALL_SCALE):                    # big views again, smaller
                todo = [i for i in range(len(specs)) if scale == 1.0 or len(shots[i][1]) > PNG_MAX]
                if not todo:
                    break
                page = browser.new_page(viewport={"width": width, "height": 900},
                                        device_scale_factor=scale)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:"))
                           else r.abort())
                page.goto(f.as_uri())
                page.wait_for_function(
                    f"document.querySelectorAll('.nx-view .jupyter-widgets').length >= {len(specs)}",
                    timeout=60_000)
                page.wait_for_timeout(1500)                      # let bqplot finish drawing
                for i in todo:
                    png = page.locator(f"#nx-view-{i}").screenshot(type="png")
                    if scale == 1.0:
                        shots.append(("image/png", png))
                    else:
                        shots[i] = ("image/png", png)
                page.close()
        finally:
            browser.close()
    if errors:
        raise SaveStateError(f"drawing the views logged an error: {errors[0][:300]}")
    return [(mime, base64.b64encode(b).decode("ascii")) for mime, b in shots]


def add_snapshots(nb, pngs) -> None:
    """Give every widget view output a picture of itself and a short text instead of the widget's
    repr: JupyterLab shows these where it will not run widget code (an untrusted notebook,
    before it is run), and GitHub shows the picture."""
    views = iter(pngs)
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        for o in c.get("outputs", []):
            data = o.get("data", {})
            if VIEW in data:
                mime, b64 = next(views)
                for m in PICTURES:
                    data.pop(m, None)
                data[mime] = b64
                data["text/plain"] = PLACEHOLDER


def save_state(path, timeout: int = 300, max_bytes: int = MAX_BYTES, pictures: bool = True) -> dict:
    """Execute the notebook at ``path`` and write it back with outputs and widget state (and,
    with ``pictures``, a PNG of each widget view). Returns {"bytes", "models", "dropped",
    "views"}; raises SaveStateError (file untouched)."""
    import nbformat
    from nbclient import NotebookClient
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    try:
        client.execute()
    except Exception as e:                                  # noqa: BLE001 - report, keep the file
        lines = str(e).strip().splitlines()
        raise SaveStateError(f"did not run: {type(e).__name__}: {lines[-1] if lines else ''}") from None
    kept, dropped = prune(nb)
    views = displayed_views(nb)
    if views and not kept:
        raise SaveStateError("the kernel stored no widget state")
    if pictures and views:
        add_snapshots(nb, snapshots(nb))
    nbformat.validate(nb)
    text = nbformat.writes(nb) + "\n"
    size = len(text.encode("utf-8"))
    if size >= max_bytes:
        raise SaveStateError(f"would be {size:,} bytes (limit {max_bytes:,}): show fewer or "
                             f"smaller widgets")
    write_text_atomic(path, text)
    return {"bytes": size, "models": kept, "dropped": dropped, "views": len(views)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m nexora_widgets.save_state",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    p.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")
    p.add_argument("--no-pictures", action="store_true",
                   help="do not add PNGs of the views (needs no Chromium)")
    p.add_argument("--max-bytes", type=int, default=MAX_BYTES,
                   help=f"refuse to write a larger notebook (default {MAX_BYTES:,})")
    a = p.parse_args(argv)
    failed = 0
    for nb in a.notebooks:
        if not Path(nb).is_file() or not nb.endswith(".ipynb"):
            print(f"{nb}: error: not a .ipynb file", file=sys.stderr)
            failed += 1
            continue
        try:
            r = save_state(nb, a.timeout, a.max_bytes, not a.no_pictures)
        except SaveStateError as e:
            print(f"{nb}: error: {e}; left as it was", file=sys.stderr)
            failed += 1
            continue
        print(f"{nb}: {r['views']} widget view(s), {r['models']} models saved "
              f"({r['dropped']} unreachable dropped), {r['bytes'] / 1e3:.0f} kB")
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
