"""``ScalingChart``: TPOT (stacked by cause) and tokens/s at TP = 1, 2, 4, 8 and the
current plan, on the current hardware, the current plan highlighted."""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from kernel_model import Scenario
from kernel_model.model_object import adapt_scenario

from . import palette
from ._util import esc, plan_book
from .base import View, figure, highlight, hold, tpot_bars

CATS = tuple(palette.CATEGORY)
TPS = (1, 2, 4, 8)
TOKENS_FORMAT = ".2~s"


def scaling_plans(sc: Scenario, tps=TPS) -> list[Scenario]:
    """``sc`` at each tensor-parallel degree of ``tps`` the model accepts, plus ``sc``
    itself; other fields kept (ep / micro-batches adjusted where the engine requires)."""
    cur = sc.to_dict()
    out = {sc.tp: sc}
    for t in set(tps) - {sc.tp}:
        try:
            out[t] = adapt_scenario(cur, {"tp": t})
        except ValueError:
            continue
    return [out[t] for t in sorted(out)]


class ScalingChart(View):
    """TPOT (ms, bars stacked by cause) and output tokens/s (line, right axis) against TP."""

    def _build(self):
        plan_book(self.model).register(("scaling", id(self)), self._plans, self._signature)
        self.xs, self.ys, self.bars, ax_y = tpot_bars("plan", "TP 1")
        self.ys2 = bq.LinearScale(min=0.0)
        self.tps_line = bq.Lines(x=["TP 1"], y=[0.0], scales={"x": self.xs, "y": self.ys2},
                                 colors=[palette.TOKENS], marker="circle", marker_size=36,
                                 stroke_width=2, labels=["tokens/s"], enable_hover=False)
        self.notes = bq.Label(x=["TP 1"], y=[0.0], text=[""], scales={"x": self.xs, "y": self.ys},
                              default_size=11, colors=["#333"], align="middle", y_offset=-8,
                              font_weight="bold", enable_hover=False)
        ax_x = bq.Axis(scale=self.xs, label="tensor-parallel GPUs per stage")
        # ticks as 950 / 1.2k / 12k (at most 4 characters) and the label beyond them
        ax_y2 = bq.Axis(scale=self.ys2, side="right", label="tokens/s", tick_format=TOKENS_FORMAT,
                        label_offset="46px", grid_lines="none", color=palette.TOKENS,
                        label_color=palette.TOKENS)
        self.fig = figure([self.bars, self.tps_line, self.notes], [ax_x, ax_y, ax_y2], "300px",
                          dict(top=22, bottom=44, left=58, right=66))
        self.fig.add_class("nx-scaling")
        self.legend = widgets.HTML(palette.legend_html(
            {**palette.CATEGORY, "tokens": palette.TOKENS},
            {**palette.CATEGORY_LABEL, "tokens": "tokens/s (right axis)"}))
        return [self.fig, self.legend]

    def _plans(self, sc):
        plans = scaling_plans(sc)
        return plans, plans

    def _signature(self):
        return None

    def update(self, res):
        sc = res.scenario
        plans, ev = plan_book(self.model).get(res, ("scaling", id(self)))
        labels = [f"TP {p.tp}" for p in plans]
        cur = [p.tp == sc.tp for p in plans]
        y = np.array([ev["breakdown"][c] for c in CATS]) * 1e3                  # ms
        tot = y.sum(axis=0)
        tok = ev["output_tokens_per_s"]
        notes = ["current" if c else ("no fit" if not f else "") for c, f in zip(cur, ev["fits"])]
        with hold(self.fig, self.bars, self.tps_line, self.notes, self.xs, self.ys, self.ys2):
            self.xs.domain = labels
            self.bars.x, self.bars.y = labels, y
            self.bars.opacities = highlight(cur)
            self.tps_line.x, self.tps_line.y = labels, tok
            self.notes.x, self.notes.y, self.notes.text = labels, tot, notes
            self.ys.max = float(tot.max() * 1.15 or 1.0)
            self.ys2.max = float(tok.max() * 1.15 or 1.0)
        extra = f", pp={sc.pp}" if sc.pp > 1 else ""
        self.set_header("Scaling with tensor parallelism",
                        f"{esc(sc.model)} on {esc(sc.gpu)} over {esc(sc.interconnect)}, "
                        f"batch {sc.batch}{extra}")
        self.plans = plans
        self.values = {"tpot_s": ev["tpot_s"], "output_tokens_per_s": tok, "labels": labels}
