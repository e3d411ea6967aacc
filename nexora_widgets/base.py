"""``View``: a titled card bound to a ScenarioModel that redraws when its result changes."""
from __future__ import annotations

import contextlib

import ipywidgets as widgets

from . import palette
from ._util import as_model, esc
from .layout import CSS


class View(widgets.VBox):
    """Base of every chart: ``View(model)`` with a ScenarioModel (shared), a model preset
    name, or None, plus Scenario fields. Subclasses build widgets in ``_build`` and draw a
    ``Result`` in ``update``; a failure to draw is shown in the card, never raised."""

    title = ""

    def __init__(self, model=None, css: bool = True, **fields):
        self.model = as_model(model, **fields)
        self.header = widgets.HTML()
        self.status = widgets.HTML()
        body = self._build()
        kids = ([widgets.HTML(CSS, layout=widgets.Layout(height="0px", margin="0"))] if css else [])
        super().__init__(children=[*kids, self.header, *body, self.status],
                         layout=widgets.Layout(margin="4px", overflow="hidden"))
        self.add_class("nx-card")
        self.add_class("nx-root")
        self.model.observe(self._on_result, "result")
        self.refresh()

    # -- to override ---------------------------------------------------------------------
    def _build(self) -> list:
        return []

    def update(self, res) -> None:
        raise NotImplementedError

    # -- machinery -------------------------------------------------------------------------
    def _on_result(self, change) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Redraw from the model's current result."""
        try:
            self.update(self.model.result)
            if self.status.value:
                self.status.value = ""
        except Exception as e:        # noqa: BLE001 - a view must never raise into the UI
            self.status.value = (f'<span style="color:{palette.ERROR};font-size:12px">'
                                 f'could not draw this view: {esc(type(e).__name__)}: {esc(e)}</span>')

    def set_header(self, title: str, subtitle: str = "") -> None:
        sub = f' <span class="nx-sub">{subtitle}</span>' if subtitle else ""
        value = f'<div class="nx-title">{title}{sub}</div>'
        if self.header.value != value:
            self.header.value = value


@contextlib.contextmanager
def hold(*ws):
    """``hold_sync`` several widgets at once: one update message each, sent at exit."""
    with contextlib.ExitStack() as stack:
        for w in ws:
            stack.enter_context(w.hold_sync())
        yield
