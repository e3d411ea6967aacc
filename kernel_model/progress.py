"""A progress bar for long sweeps, in a terminal and in a notebook.

Terminal: ``tqdm`` on stderr (off when stderr is not a terminal). Notebook: an HTML
``<progress>`` element updated through an IPython display handle, so the engine never
imports ipywidgets (``tqdm.notebook`` would).
"""
from __future__ import annotations

import sys
import time


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython already imported, ZMQ shell)."""
    ip_mod = sys.modules.get("IPython")
    if ip_mod is None:
        return False
    try:
        shell = ip_mod.get_ipython()
    except Exception:
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class HtmlBar:
    """Minimal notebook bar: ``update(n)``, ``close()``; redraws at most 10 times a second."""

    def __init__(self, total, desc="", unit="it"):
        from IPython.display import display, HTML
        self._HTML = HTML
        self.total, self.desc, self.unit = max(int(total), 1), desc, unit
        self.n, self.t0, self._last = 0, time.perf_counter(), 0.0
        self.handle = display(HTML(self._html()), display_id=True)

    def _html(self) -> str:
        el = time.perf_counter() - self.t0
        rate = self.n / el if el > 0 else 0.0
        return (f"<div style='font-family:monospace'>{self.desc} "
                f"<progress value='{self.n}' max='{self.total}' style='width:40ch'></progress> "
                f"{self.n:,}/{self.total:,} {self.unit} ({rate:,.0f}/s, {el:.1f} s)</div>")

    def update(self, n=1):
        self.n += n
        now = time.perf_counter()
        if now - self._last >= 0.1 or self.n >= self.total:
            self._last = now
            self.handle.update(self._HTML(self._html()))

    def close(self):
        self.handle.update(self._HTML(self._html()))


class TextBar:
    """Fallback when tqdm is missing: one carriage-returned line on stderr."""

    def __init__(self, total, desc="", unit="it", file=None):
        self.total, self.desc, self.unit, self.n = max(int(total), 1), desc, unit, 0
        self.file = file or sys.stderr

    def update(self, n=1):
        self.n += n
        frac = min(self.n / self.total, 1.0)
        bar = "#" * int(frac * 40)
        print(f"\r{self.desc} [{bar:<40}] {self.n:,}/{self.total:,} {self.unit}", end="",
              file=self.file, flush=True)

    def close(self):
        print(file=self.file, flush=True)


def progress_bar(total, desc="", unit="it", file=None):
    """A bar with ``update(n)`` and ``close()`` suited to where the code runs."""
    if in_notebook():
        return HtmlBar(total, desc, unit)
    try:
        from tqdm.std import tqdm
    except ImportError:
        if not (file or sys.stderr).isatty():
            return _Null()
        return TextBar(total, desc, unit, file)
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, file=file or sys.stderr,
                disable=None, leave=False)


class _Null:
    def update(self, n=1):
        pass

    def close(self):
        pass
