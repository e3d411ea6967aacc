"""``MemoryChart``: weights, KV cache and activations per GPU against its capacity (GB)."""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from . import palette
from .base import View, hold

PARTS = ("weights", "kv_cache", "activations", "free")


class MemoryChart(View):
    """One horizontal bar per GPU (the busiest one): weights + KV cache + activations + free,
    in GB (1e9 bytes), with the capacity marked; red when the plan does not fit."""

    def _build(self):
        self.xs = bq.OrdinalScale()
        self.ys = bq.LinearScale(min=0.0, max=1.0)
        self.bars = bq.Bars(x=["per GPU"], y=np.zeros((len(PARTS), 1)), scales={"x": self.xs, "y": self.ys},
                            orientation="horizontal", type="stacked", padding=0.3,
                            colors=[palette.MEMORY[p] for p in PARTS], stroke="white", stroke_width=0.5,
                            labels=[palette.MEMORY_LABEL[p] for p in PARTS],
                            tooltip=bq.Tooltip(fields=["y"], labels=["GB"], formats=[".2f"]))
        self.cap_y = bq.LinearScale(min=0.0, max=1.0)
        self.cap = bq.Lines(x=[1.0, 1.0], y=[0.0, 1.0], scales={"x": self.ys, "y": self.cap_y},
                            colors=["#333"], stroke_width=2.5, line_style="dashed", enable_hover=False)
        self.cap_label = bq.Label(x=[1.0], y=[0.93], text=["capacity"], scales={"x": self.ys, "y": self.cap_y},
                                  default_size=11, colors=["#333"], align="end", x_offset=-4,
                                  enable_hover=False)
        ax = bq.Axis(scale=self.ys, label="GB per GPU", grid_lines="dashed", grid_color="#ddd")
        ax_c = bq.Axis(scale=self.xs, side="left", visible=False)
        self.fig = bq.Figure(marks=[self.bars, self.cap, self.cap_label], axes=[ax, ax_c],
                             fig_margin=dict(top=6, bottom=40, left=12, right=22), animation_duration=0,
                             layout=widgets.Layout(width="100%", height="120px"))
        self.fig.add_class("nx-memory")
        self.legend = widgets.HTML(palette.legend_html(
            {palette.MEMORY_LABEL[p]: palette.MEMORY[p] for p in PARTS}))
        self.table = widgets.HTML()
        return [self.fig, self.legend, self.table]

    def update(self, res):
        mem = res.memory
        gb = {k: mem[k] / 1e9 for k in ("weights", "kv_cache", "activations", "total", "capacity")}
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
            self.cap_label.text = [f"capacity {gb['capacity']:.0f} GB"]
            self.cap_label.colors = [color]
        share = gb["total"] / gb["capacity"] if gb["capacity"] else 0.0
        if res.fits:
            sub = f"{gb['total']:.1f} of {gb['capacity']:.0f} GB used ({share:.0%})"
        else:
            sub = (f'<span style="color:{palette.ERROR}">does not fit: needs {gb["total"]:.1f} GB, '
                   f'has {gb["capacity"]:.0f} GB</span>')
        self.set_header("Memory per GPU", sub)
        self.table.value = ('<table class="nx-table"><tr>' + "".join(
            f"<th>{palette.MEMORY_LABEL[p]}</th>" for p in PARTS[:3]) + "<th>total</th></tr><tr>" + "".join(
            f"<td>{gb[p]:.2f} GB</td>" for p in PARTS[:3]) + f"<td>{gb['total']:.2f} GB</td></tr></table>")
