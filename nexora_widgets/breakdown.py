"""``BreakdownChart``: a decode step and the prefill (TTFT) split by cause, in ms."""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from . import palette
from ._util import fmt_time
from .base import View, hold

CATS = tuple(palette.CATEGORY)


def _stacked_bar(label: str):
    xs, ys = bq.OrdinalScale(), bq.LinearScale(min=0.0, max=1.0)
    bars = bq.Bars(x=[label], y=np.zeros((len(CATS), 1)), scales={"x": xs, "y": ys},
                   orientation="horizontal", type="stacked", colors=[palette.CATEGORY[c] for c in CATS],
                   labels=[palette.CATEGORY_LABEL[c] for c in CATS], padding=0.25, stroke="white",
                   stroke_width=0.5, tooltip=bq.Tooltip(fields=["y"], labels=["ms"], formats=[".3f"]))
    ax = bq.Axis(scale=ys, label="ms", grid_lines="dashed", grid_color="#ddd", tick_format=".3~f")
    ax_c = bq.Axis(scale=xs, side="left", visible=False)
    fig = bq.Figure(marks=[bars], axes=[ax, ax_c], fig_margin=dict(top=4, bottom=38, left=12, right=18),
                    animation_duration=0, layout=widgets.Layout(width="100%", height="92px"))
    return fig, bars, ys


class BreakdownChart(View):
    """Stacked bars of one decode step by cause (compute, HBM, communication, launch
    overhead, pipeline bubble) with the prefill (TTFT) split beside it; all in ms."""

    def _build(self):
        self.dec_title, self.pre_title = widgets.HTML(), widgets.HTML()
        self.fig_dec, self.bars_dec, self.ys_dec = _stacked_bar("decode step")
        self.fig_pre, self.bars_pre, self.ys_pre = _stacked_bar("prefill")
        self.fig_dec.add_class("nx-breakdown-decode")
        self.fig_pre.add_class("nx-breakdown-prefill")
        self.legend = widgets.HTML(palette.legend_html(
            {palette.CATEGORY_LABEL[c]: palette.CATEGORY[c] for c in CATS}))
        self.table = widgets.HTML()
        return [self.dec_title, self.fig_dec, self.pre_title, self.fig_pre, self.legend, self.table]

    def update(self, res):
        dec = np.array([res.breakdown.get(c, 0.0) for c in CATS]) * 1e3        # ms
        pre = np.array([res.ttft_breakdown.get(c, 0.0) for c in CATS]) * 1e3
        with hold(self.fig_dec, self.fig_pre, self.bars_dec, self.bars_pre, self.ys_dec, self.ys_pre):
            self.bars_dec.y = dec.reshape(-1, 1)
            self.bars_pre.y = pre.reshape(-1, 1)
            self.ys_dec.max = float(dec.sum() * 1.02 or 1.0)
            self.ys_pre.max = float(pre.sum() * 1.02 or 1.0)
        self.dec_title.value = (f'<div class="nx-sub"><b>Decode step</b> (time per output token, '
                                f'TPOT): {fmt_time(res.tpot_s)}</div>')
        self.pre_title.value = (f'<div class="nx-sub"><b>Prefill</b> (time to first token, '
                                f'TTFT): {fmt_time(res.ttft_s)}</div>')
        rows = []
        for c, d, p in zip(CATS, dec, pre):
            sw = f'<span style="color:{palette.CATEGORY[c]}">■</span>'
            rows.append(f"<tr><td>{sw} {palette.CATEGORY_LABEL[c]}</td><td>{d:.3f}</td>"
                        f"<td>{100 * d / max(dec.sum(), 1e-30):.0f}%</td><td>{p:.3f}</td>"
                        f"<td>{100 * p / max(pre.sum(), 1e-30):.0f}%</td></tr>")
        self.table.value = ('<table class="nx-table"><tr><th>cause</th><th>decode ms</th><th>share</th>'
                            '<th>prefill ms</th><th>share</th></tr>' + "".join(rows) + "</table>")
        self.set_header("Where the time goes", f"bottleneck: {res.bottleneck.lower()}")
