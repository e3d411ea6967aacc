"""``View``: a titled card bound to a ScenarioModel that redraws when its result changes,
and the bqplot pieces the views share (stacked bars, value axes, figures)."""
from __future__ import annotations

import contextlib

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from . import palette
from ._util import as_model, esc
from .layout import style


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
        kids = [style()] if css else []
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


# ---- bqplot pieces shared by the charts ---------------------------------------------------
def stacked_bars(keys, colors: dict, labels: dict, x, scales: dict, **kw) -> bq.Bars:
    """Stacked ``Bars``, one layer per key of ``keys`` (bottom first) in its palette color
    and label, all zero at ``x`` until the first update."""
    return bq.Bars(x=x, y=np.zeros((len(keys), len(x))), scales=scales, type="stacked",
                   colors=[colors[k] for k in keys], labels=[labels[k] for k in keys],
                   stroke="white", stroke_width=0.5, **kw)


def tpot_bars(plan: str, x0: str):
    """(x scale, y scale, bars, y axis) of TPOT in ms stacked by cause, one bar per plan;
    the tooltip names the plan ``plan`` (``"link"``, ``"plan"``); ``x0`` is a placeholder."""
    xs, ys = bq.OrdinalScale(), bq.LinearScale(min=0.0)
    bars = stacked_bars(tuple(palette.CATEGORY), palette.CATEGORY, palette.CATEGORY_LABEL, [x0],
                        {"x": xs, "y": ys}, padding=0.3, opacity_mode="group",
                        tooltip=bq.Tooltip(fields=["x", "y"], labels=[plan, "ms"],
                                           formats=["", ".3f"]))
    return xs, ys, bars, value_axis(ys, "TPOT (ms)", side="left")


def highlight(current) -> list[float]:
    """Bar opacities: full for the current plan(s), muted for the others (all full when
    no plan is the current one)."""
    return [1.0 if c or not any(current) else palette.MUTED_OPACITY for c in current]


def value_axis(scale, label: str, **kw) -> bq.Axis:
    """An axis of values (label with its unit) with dashed grid lines."""
    return bq.Axis(scale=scale, label=label, grid_lines="dashed", grid_color=palette.GRID, **kw)


def figure(marks, axes, height: str, margin: dict, **kw) -> bq.Figure:
    """A full-width, non-animated ``Figure`` (animation would lag behind the controls)."""
    layout = widgets.Layout(width="100%", height=height, min_width=kw.pop("min_width", None))
    return bq.Figure(marks=marks, axes=axes, fig_margin=margin, animation_duration=0,
                     layout=layout, **kw)
