"""``MemoryChart``: weights, KV cache and activations per GPU against its capacity (GB)."""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from . import palette
from .base import View, figure, hold, stacked_bars, value_axis

PARTS = ("weights", "kv_cache", "activations", "free")
USED = PARTS[:3]                           # the parts that add up to ``memory["total"]``


class MemoryChart(View):
    """One horizontal bar per GPU (the busiest one): weights + KV cache + activations + free,
    in GB (1e9 bytes), with the capacity marked; red when the plan does not fit."""

    def _build(self):
        self.xs = bq.OrdinalScale()
        self.ys = bq.LinearScale(min=0.0, max=1.0)
        self.bars = stacked_bars(PARTS, palette.MEMORY, palette.MEMORY_LABEL, ["per GPU"],
                                 {"x": self.xs, "y": self.ys}, orientation="horizontal", padding=0.3,
                                 tooltip=bq.Tooltip(fields=["y"], labels=["GB"], formats=[".2f"]))
        self.cap_y = bq.LinearScale(min=0.0, max=1.0)
        self.cap = bq.Lines(x=[1.0, 1.0], y=[0.0, 1.0], scales={"x": self.ys, "y": self.cap_y},
                            colors=["#333"], stroke_width=2.5, line_style="dashed", enable_hover=False)
        self.cap_label = bq.Label(x=[1.0], y=[0.93], text=["capacity"], scales={"x": self.ys, "y": self.cap_y},
                                  default_size=11, colors=["#333"], align="end", x_offset=-4,
                                  enable_hover=False)
        ax = value_axis(self.ys, "GB per GPU")
        ax_c = bq.Axis(scale=self.xs, side="left", visible=False)
        self.fig = figure([self.bars, self.cap, self.cap_label], [ax, ax_c], "120px",
                          dict(top=6, bottom=40, left=12, right=22))
        self.fig.add_class("nx-memory")
        self.legend = widgets.HTML(palette.legend_html(palette.MEMORY, palette.MEMORY_LABEL))
        self.table = widgets.HTML()
        return [self.fig, self.legend, self.table]

    def update(self, res):
        mem = res.memory
        gb = {k: mem[k] / 1e9 for k in (*USED, "total", "capacity")}
        gb["free"] = max(gb["capacity"] - gb["total"], 0.0)
        y = np.array([gb[p] for p in PARTS]).reshape(-1, 1)
        top = max(gb["capacity"], gb["total"]) * 1.04
        color = "#333" if res.fits else palette.ERROR
        with hold(self.fig, self.bars, self.ys, self.cap, self.cap_label):
            self.bars.y = y
            self.ys.max = float(top)
            self.cap.x = [gb["capacity"], gb["capacity"]]
            self.cap.colors = [color]
            self.cap_label.x = [gb["capacity"]]
            self.cap_label.text = [f"capacity {gb['capacity']:.1f} GB"]
            self.cap_label.colors = [color]
        share = gb["total"] / gb["capacity"] if gb["capacity"] else 0.0
        if res.fits:
            sub = f"{gb['total']:.1f} of {gb['capacity']:.1f} GB used ({share:.0%})"
        else:
            sub = (f'<span style="color:{palette.ERROR}">does not fit: needs {gb["total"]:.1f} GB, '
                   f'has {gb["capacity"]:.1f} GB</span>')
        self.set_header("Memory per GPU", sub)
        self.table.value = ('<table class="nx-table"><tr>'
                            + "".join(f"<th>{palette.MEMORY_LABEL[p]}</th>" for p in USED)
                            + "<th>total</th></tr><tr>"
                            + "".join(f"<td>{gb[p]:.2f} GB</td>" for p in (*USED, "total"))
                            + "</tr></table>")
