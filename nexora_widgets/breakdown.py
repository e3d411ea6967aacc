"""``BreakdownChart``: a decode step and the prefill (TTFT) split by cause, in ms."""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from . import palette
from ._util import fmt_time
from .base import View, figure, hold, stacked_bars, value_axis

CATS = tuple(palette.CATEGORY)


def _stacked_bar(label: str):
    """(figure, bars, value scale) of one horizontal bar stacked by cause, in ms."""
    xs, ys = bq.OrdinalScale(), bq.LinearScale(min=0.0, max=1.0)
    bars = stacked_bars(CATS, palette.CATEGORY, palette.CATEGORY_LABEL, [label], {"x": xs, "y": ys},
                        orientation="horizontal", padding=0.25,
                        tooltip=bq.Tooltip(fields=["y"], labels=["ms"], formats=[".3f"]))
    ax = value_axis(ys, "time (ms)", tick_format=".3~f")
    ax_c = bq.Axis(scale=xs, side="left", visible=False)
    fig = figure([bars], [ax, ax_c], "92px", dict(top=4, bottom=38, left=12, right=18))
    return fig, bars, ys


def _share(x: float, total: float) -> str:
    return f"{100 * x / max(total, 1e-30):.0f}%"


class BreakdownChart(View):
    """Stacked bars of one decode step by cause (compute, HBM, communication, launch
    overhead, pipeline bubble) with the prefill (TTFT) split beside it; all in ms."""

    def _build(self):
        self.dec_title, self.pre_title = widgets.HTML(), widgets.HTML()
        self.fig_dec, self.bars_dec, self.ys_dec = _stacked_bar("decode step")
        self.fig_pre, self.bars_pre, self.ys_pre = _stacked_bar("prefill")
        self.fig_dec.add_class("nx-breakdown-decode")
        self.fig_pre.add_class("nx-breakdown-prefill")
        self.legend = widgets.HTML(palette.legend_html(palette.CATEGORY, palette.CATEGORY_LABEL))
        self.table = widgets.HTML()
        return [self.dec_title, self.fig_dec, self.pre_title, self.fig_pre, self.legend, self.table]

    def update(self, res):
        dec = np.array([res.breakdown.get(c, 0.0) for c in CATS]) * 1e3        # ms
        pre = np.array([res.ttft_breakdown.get(c, 0.0) for c in CATS]) * 1e3
        with hold(self.fig_dec, self.fig_pre, self.bars_dec, self.bars_pre, self.ys_dec, self.ys_pre):
            for bars, ys, ms in ((self.bars_dec, self.ys_dec, dec), (self.bars_pre, self.ys_pre, pre)):
                bars.y = ms.reshape(-1, 1)
                ys.max = float(ms.sum() * 1.02 or 1.0)
        self.dec_title.value = (f'<div class="nx-sub"><b>Decode step</b> (time per output token, '
                                f'TPOT): {fmt_time(res.tpot_s)}</div>')
        self.pre_title.value = (f'<div class="nx-sub"><b>Prefill</b> (time to first token, '
                                f'TTFT): {fmt_time(res.ttft_s)}</div>')
        rows = "".join(
            f"<tr><td>{palette.swatch(palette.CATEGORY[c], palette.CATEGORY_LABEL[c])}</td>"
            f"<td>{d:.3f}</td><td>{_share(d, dec.sum())}</td>"
            f"<td>{p:.3f}</td><td>{_share(p, pre.sum())}</td></tr>"
            for c, d, p in zip(CATS, dec, pre))
        from kernel_model.insight import compute_note
        note = compute_note(res.breakdown, res.tpot_s)
        note = f'<div class="nx-sub nx-compute-note">{note[:1].upper() + note[1:]}.</div>' if note else ""
        self.table.value = ('<table class="nx-table"><tr><th>cause</th><th>decode ms</th><th>share</th>'
                            '<th>prefill ms</th><th>share</th></tr>' + rows + "</table>" + note)
        self.set_header("Where the time goes", f"bottleneck: {res.bottleneck.lower()}")
