"""``nexora export NOTEBOOK [-o OUT]``: a notebook as one self-contained HTML page whose
charts render without a kernel and without a network.

``jupyter nbconvert --to html`` keeps the widget state but loads require.js, the widget
manager (``@jupyter-widgets/html-manager``) and every widget library (bqplot, bqscales)
from CDNs when the page opens, so offline the charts stay blank. Here the page carries
all of that JavaScript inline:

* require.js: the copy Voila ships (``share/jupyter/voila/templates/base/static``);
* bqplot, bqscales (any widget library in the state): the AMD bundles their Python
  packages install (``share/jupyter/nbextensions/<module>/index.js``), named so that the
  widget manager finds them without a download: exactly the versions the kernel used;
* the widget manager: ``@jupyter-widgets/html-manager`` (``dist/embed-amd.js``) from npm,
  pinned with its sha512 integrity and kept in a cache (``$NEXORA_JS_CACHE``, default
  ``~/.cache/nexora-widgets/js``). The first export downloads it (or copy the file
  there, or pass ``--js-dir``); every later one runs offline.

MathJax is not inlined (the tutorials use no TeX), so the page makes no request at all.

    python -m nexora_widgets.export notebooks/02_batching.ipynb -o lecture.html
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import urllib.request
from pathlib import Path
from kernel_model._files import write_text_atomic

HTML_MANAGER = ("@jupyter-widgets/html-manager", "1.0.15", "package/dist/embed-amd.js",
                "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==")
REGISTRY = "https://registry.npmjs.org"
STATE_MIME = "application/vnd.jupyter.widget-state+json"
BUILTIN = ("@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/output")
_REQUIRE_SRC = "nexora-inline:require.js"          # placeholders replaced after templating
_RENDERER_SRC = "nexora-inline:html-manager.js"
_MATHJAX_SRC = "nexora-inline:mathjax.js"


class ExportError(ValueError):
    """A clear, one-line reason why the export cannot be made."""


# ---- the JavaScript ---------------------------------------------------------------------
def cache_dir() -> Path:
    return Path(os.environ.get("NEXORA_JS_CACHE") or Path.home() / ".cache" / "nexora-widgets" / "js")


def _integrity_ok(blob: bytes, integrity: str) -> bool:
    algo, _, want = integrity.partition("-")
    return base64.b64encode(hashlib.new(algo, blob).digest()).decode() == want


def _manager_dir(js_dir=None) -> Path:
    return Path(js_dir) if js_dir else cache_dir() / f"html-manager-{HTML_MANAGER[1]}"


def html_manager_js(js_dir: str | os.PathLike | None = None, download: bool = True) -> bytes:
    """embed-amd.js of the pinned html-manager with its Font Awesome fonts inlined (data
    URLs), from ``js_dir`` or the cache, which the first call fills from npm."""
    name, version, member, integrity = HTML_MANAGER
    d = _manager_dir(js_dir)
    if not (d / "embed-amd.js").is_file():
        if js_dir:
            raise ExportError(f"--js-dir {js_dir}: no embed-amd.js of {name}@{version} there")
        if not download:
            raise ExportError(f"{name}@{version} is not in {d}; run the export once online")
        _download(d)
    js = (d / "embed-amd.js").read_text(encoding="utf-8")

    def font(m):                       # webpack asset URL -> data URL (woff2 only is enough)
        f = d / m.group(1)
        if not f.is_file():
            return m.group(0)
        return json.dumps("data:font/woff2;base64," + base64.b64encode(f.read_bytes()).decode())
    js = re.sub(r'\b\w\.p\+"([0-9a-f]{20}\.woff2)"', font, js)
    return js.encode("utf-8")


def _download(d: Path) -> None:
    """Fetch the pinned html-manager tarball from npm, check its integrity, keep embed-amd.js
    and its woff2 fonts in ``d``."""
    name, version, member, integrity = HTML_MANAGER
    url = f"{REGISTRY}/{name}/-/{name.split('/')[-1]}-{version}.tgz"
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            blob = r.read()
    except OSError as e:
        raise ExportError(f"the widget manager {name}@{version} is not cached in {d} and npm is "
                          f"unreachable ({e}); run the export once online, or pass --js-dir DIR "
                          f"holding its dist/ files") from None
    if not _integrity_ok(blob, integrity):
        raise ExportError(f"{url}: integrity mismatch (expected {integrity})")
    tmp = d.with_name(d.name + f".{os.getpid()}.part")
    tmp.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        for m in tar.getmembers():
            base = Path(m.name).name
            if m.isfile() and m.name.startswith("package/dist/") and (
                    m.name == member or base.endswith(".woff2")):
                (tmp / base).write_bytes(tar.extractfile(m).read())
    tmp.replace(d)


def require_js() -> bytes:
    """require.js as Voila ships it."""
    from jupyter_core.paths import jupyter_path
    for d in jupyter_path("voila", "templates", "base", "static"):
        f = Path(d) / "require.min.js"
        if f.is_file():
            return f.read_bytes()
    raise ExportError("require.js not found: install Voila (pip install 'nexora-widgets[notebooks]')")


def module_js(module: str) -> bytes:
    """The AMD bundle of widget library ``module`` that its Python package installed, as a
    named module (``define("bqplot", [...]``)."""
    from jupyter_core.paths import jupyter_path
    for d in jupyter_path("nbextensions"):
        f = Path(d) / module / "index.js"
        if f.is_file():
            text = f.read_text(encoding="utf-8")
            m = re.search(r"\bdefine\(\s*(?=[\[\"'])", text)
            if m is None:
                raise ExportError(f"{f}: not an AMD module")
            if text[m.end()] == "[":                       # anonymous: give it its name
                text = text[:m.end()] + json.dumps(module) + "," + text[m.end():]
            return text.encode("utf-8")
    raise ExportError(f"no JavaScript for the widget library {module!r} under "
                      f"{', '.join(jupyter_path('nbextensions'))}: is its Python package installed?")


def _script(js: bytes) -> str:
    text = js.decode("utf-8")
    return "<script>\n" + re.sub(r"</(script)", r"<\\/\1", text, flags=re.I) + "\n</script>"


# ---- the page ---------------------------------------------------------------------------
def execute(nb, cwd: str, timeout: int = 300):
    """Run ``nb`` in a fresh python3 kernel, storing the widget state in its metadata."""
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": cwd}}).execute()
    return nb


def widget_modules(nb) -> list[str]:
    state = nb.metadata.get("widgets", {}).get(STATE_MIME, {}).get("state", {})
    return sorted({v["model_module"] for v in state.values()} - set(BUILTIN))


def page_html(nb, js_dir=None) -> str:
    """The self-contained HTML of an executed notebook ``nb`` (widget state in metadata)."""
    from nbconvert import HTMLExporter
    exporter = HTMLExporter(template_name="lab", require_js_url=_REQUIRE_SRC,
                            widget_renderer_url=_RENDERER_SRC, mathjax_url=_MATHJAX_SRC)
    body, _ = exporter.from_notebook_node(nb)
    modules = widget_modules(nb)
    body = re.sub(r'<script[^>]*src="%s[^"]*"[^>]*>\s*</script>' % re.escape(_MATHJAX_SRC), "", body)
    body = re.sub(r"<script[^>]*>(?:(?!</script>).)*?MathJax(?:(?!</script>).)*?</script>", "", body,
                  flags=re.S)
    require = f'<script src="{_REQUIRE_SRC}"></script>'
    if require not in body:
        raise ExportError("nbconvert's lab template changed: no require.js tag to inline")
    body = body.replace(require, _script(require_js()), 1)
    if modules or STATE_MIME in body:
        loader = re.search(r"<script>\s*\(function\(\) \{\s*function addWidgetsRenderer\(\).*?</script>",
                           body, re.S)
        if loader is None:
            raise ExportError("nbconvert's lab template changed: no widget loader to replace")
        libs = "\n".join(_script(module_js(m)) for m in modules)
        manager = _script(html_manager_js(js_dir))
        body = body[:loader.start()] + body[loader.end():]
        body = body.replace("</body>", libs + "\n" + manager + "\n</body>", 1)
    left = re.findall(r'(?:src|href)="(https?://[^"]+)"', body)
    if left:
        raise ExportError(f"the page would still load {left[0]} from the network")
    return body


def widgets_page(views, title: str = "nexora") -> str:
    """A self-contained HTML page showing live widgets ``views`` (their current state), with
    the same inlined JavaScript as :func:`page_html`: for tests and quick looks."""
    from ipywidgets.embed import embed_data
    data = embed_data(views)
    return state_page(data["manager_state"], data["view_specs"], title)


def state_page(state: dict, view_specs, title: str = "nexora", width: str = "100%") -> str:
    """A self-contained HTML page of saved widget ``state`` (the notebook metadata's
    ``application/vnd.jupyter.widget-state+json``) showing the views ``view_specs``, each in
    ``<div class="nx-view" id="nx-view-<i>">``."""
    modules = sorted({v["model_module"] for v in state["state"].values()} - set(BUILTIN))
    esc = lambda o: json.dumps(o).replace("</", "<\\/")
    divs = "\n".join(f'<div class="nx-view" id="nx-view-{i}" style="width:{width};padding:4px">'
                     f'<script type="application/vnd.jupyter.widget-view+json">{esc(v)}</script></div>'
                     for i, v in enumerate(view_specs))
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>\n'
            f'<style>body{{margin:0;background:#fff}}</style>\n{_script(require_js())}\n'
            f'<script type="{STATE_MIME}">{esc(state)}</script>\n</head>\n<body>\n{divs}\n'
            + "\n".join(_script(module_js(m)) for m in modules)
            + f"\n{_script(html_manager_js())}\n</body></html>\n")


def export(notebook, out=None, execute_first: bool = True, force: bool = False, js_dir=None,
           timeout: int = 300) -> Path:
    """Write the self-contained page of ``notebook`` to ``out`` (default: ``<stem>.html`` in
    the current directory, never next to the notebook). Refuses to overwrite unless ``force``."""
    import nbformat
    src = Path(notebook)
    if not src.is_file():
        raise ExportError(f"NOTEBOOK {notebook}: no such file")
    if src.suffix != ".ipynb":
        raise ExportError(f"NOTEBOOK {notebook}: not a .ipynb file")
    dest = Path(out) if out else Path.cwd() / (src.stem + ".html")
    if dest.resolve() == src.resolve():
        raise ExportError(f"-o {out}: that is the notebook itself")
    if dest.exists() and not force:
        raise ExportError(f"-o {dest}: exists; pass --force to overwrite it")
    if not dest.parent.is_dir():
        raise ExportError(f"-o {dest}: directory {dest.parent} does not exist")
    try:
        nb = nbformat.read(src, as_version=4)
    except Exception as e:                                   # noqa: BLE001 - any parse failure
        raise ExportError(f"NOTEBOOK {notebook}: not a readable notebook ({type(e).__name__}: {e})") from None
    if execute_first:
        execute(nb, str(src.parent.resolve()), timeout)
    elif not nb.metadata.get("widgets", {}).get(STATE_MIME):
        raise ExportError(f"NOTEBOOK {notebook}: has no saved widget state; export without --no-execute")
    write_text_atomic(dest, page_html(nb, js_dir))
    return dest


# ---- command line -----------------------------------------------------------------------
def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``export`` to an argparse sub-parser set (``nexora export``)."""
    p = subparsers.add_parser("export", help="a notebook as one self-contained HTML page (offline)",
                              description=__doc__.split("\n\n")[0])
    _arguments(p)
    return p


def _arguments(p):
    p.add_argument("notebook", metavar="NOTEBOOK", help="the .ipynb to export")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="the HTML file to write (default: NOTEBOOK's name + .html here)")
    p.add_argument("--no-execute", action="store_true",
                   help="use the widget state saved in the notebook instead of running it")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.add_argument("--js-dir", metavar="DIR",
                   help="a folder holding html-manager's embed-amd.js (instead of the cache / npm)")
    p.add_argument("--timeout", type=int, default=300, help="seconds per cell (default 300)")


def run(args) -> int:
    """Run a parsed ``export`` command; a bad input prints one line and returns 2."""
    try:
        dest = export(args.notebook, args.output, not args.no_execute, args.force, args.js_dir,
                      args.timeout)
    except ExportError as e:
        print(f"nexora export: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:                                   # noqa: BLE001 - a cell failed
        msg = str(e).strip().splitlines()
        print(f"nexora export: error: running {args.notebook} failed: {type(e).__name__}: "
              f"{msg[-1] if msg else ''}", file=sys.stderr)
        return 2
    print(f"nexora export: wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB, no network needed)",
          file=sys.stderr)
    return 0


def cli_main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="nexora export", description=__doc__.split("\n\n")[0])
    _arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli_main())
