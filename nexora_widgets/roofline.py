"""``RooflineChart``: every kernel of the current scenario on its GPU's roofline (log-log).

x: arithmetic intensity (FLOP per HBM byte), y: achieved TFLOP/s of one GPU. Two roofs: the
dense peak with the peak HBM bandwidth (grey, dashed) and the achievable one the engine
uses (peak x flops_efficiency, bandwidth x hbm_efficiency). Each non-communication kernel
of one layer (plus embedding / LM head) of the prefill and of a decode step is a dot at
(its FLOPs / its bytes, its FLOPs / its time including launch overhead); colour = kernel
kind. ``add_gemm(kernel_model.gemm.gemm(...))`` places extra GEMMs on the same chart.
"""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from kernel_model.kernels import LAYER_KERNELS, HEAD_KERNELS, TAIL_KERNELS, KIND

from . import palette
from ._util import _sim, esc
from .base import View, figure, hold, value_axis

PHASES = ("prefill", "decode")
KINDS = ("gemm", "attention", "elementwise")
MARKER = {"prefill": "circle", "decode": "diamond"}
LOG_FORMAT = ",~g"        # d3: 0.001, 0.5, 1, 20, 1,000, 10,000


def kernel_points(result) -> dict:
    """{phase: {"name", "kind", "intensity" (FLOP/B), "tflops" (achieved, one GPU)}} for
    the non-communication kernels of a :class:`kernel_model.Result`, read from the
    evaluation the result already carries (computed again only if it has none)."""
    parts = getattr(result, "_timeline_parts", None)
    if isinstance(parts, tuple) and len(parts) == 4 and isinstance(parts[2], dict):
        _, P, dec, pre = parts
        out = {"decode": dec, "prefill": pre}
    else:                                    # a result without its evaluation: compute it
        P = _sim.params(result.scenario)
        out = _sim.evaluate(P)
    pts = {}
    for ph in PHASES:
        d = out[ph]
        names, kinds, ai, tf = [], [], [], []
        for n in LAYER_KERNELS + HEAD_KERNELS + TAIL_KERNELS:
            if KIND[n] == "comm":
                continue
            flops = float(np.asarray(d["work"][n][0]))
            byts = float(np.asarray(d["work"][n][1]))
            t = float(np.asarray(d["kt"][n][0]))
            if flops <= 0 or byts <= 0 or t <= 0:
                continue
            names.append(n)
            kinds.append(KIND[n])
            ai.append(flops / byts)
            tf.append(flops / t / 1e12)
        pts[ph] = {"name": names, "kind": kinds, "intensity": np.array(ai), "tflops": np.array(tf)}
    pts["roof"] = {"peak": P["F"], "bw": P["HBM"], "ef": P["ef"], "em": P["em"]}
    return pts


class RooflineChart(View):
    """Log-log roofline of the scenario's GPU with its kernels placed on it."""

    def _build(self):
        self.xs, self.ys = bq.LogScale(), bq.LogScale()
        sc = {"x": self.xs, "y": self.ys}
        self.roof_peak = bq.Lines(x=[1.0, 10.0], y=[1.0, 1.0], scales=sc, colors=["#999999"],
                                  line_style="dashed", stroke_width=1.5, labels=["peak"])
        self.roof_ach = bq.Lines(x=[1.0, 10.0], y=[1.0, 1.0], scales=sc, colors=["#333333"],
                                 stroke_width=2, labels=["achievable"])
        tip = bq.Tooltip(fields=["name", "x", "y"], labels=["kernel", "FLOP/byte", "TFLOP/s"],
                         formats=["", ".3g", ".3g"])
        self.dots = {}
        for ph in PHASES:
            self.dots[ph] = bq.Scatter(x=[], y=[], names=[], display_names=False, scales=sc,
                                       marker=MARKER[ph], default_size=64, stroke="white",
                                       tooltip=tip, colors=[palette.KIND["gemm"]])
        self.gemm_dots = bq.Scatter(x=[], y=[], names=[], display_names=True, scales=sc,
                                    marker="square", default_size=80, colors=["#222222"],
                                    tooltip=tip)
        # plain decimals (0.01, 0.5, 1000): an SI format wrote 0.5 as "500m"
        ax_x = value_axis(self.xs, "arithmetic intensity (FLOP / byte)", tick_format=LOG_FORMAT)
        ax_y = value_axis(self.ys, "TFLOP/s per GPU", side="left", tick_format=LOG_FORMAT,
                          label_offset="58px")
        self.fig = figure([self.roof_peak, self.roof_ach, *self.dots.values(), self.gemm_dots],
                          [ax_x, ax_y], "340px", dict(top=10, bottom=48, left=76, right=16))
        legend = {palette.KIND_LABEL[k]: palette.KIND[k] for k in KINDS}
        self.legend = widgets.HTML(palette.legend_html(legend) +
                                   '<div class="nx-sub">● prefill &nbsp; ◆ decode step &nbsp; '
                                   '■ added GEMMs &nbsp; dashed: peak roof, solid: achievable</div>')
        self.note = widgets.HTML()
        self._gemms = []
        self.points = {}
        return [self.fig, self.legend, self.note]

    def update(self, res):
        pts = kernel_points(res)
        roof = pts["roof"]
        F, B = roof["peak"] / 1e12, roof["bw"] / 1e12            # TFLOP/s, TB/s
        Fa, Ba = F * roof["ef"], B * roof["em"]
        gs = self._gemms
        gx = np.array([g.arithmetic_intensity for g in gs], dtype=float)
        gy = np.array([g.flops_per_gpu / g.kernel_s / 1e12 for g in gs], dtype=float)
        allx = np.concatenate([pts[p]["intensity"] for p in PHASES] + [gx])
        ally = np.concatenate([pts[p]["tflops"] for p in PHASES] + [gy, np.array([F])])
        lo = max(min(allx.min() if allx.size else 1.0, F / B) / 4.0, 1e-2)
        hi = max(allx.max() if allx.size else 1e3, F / B) * 4.0
        x = np.geomspace(lo, hi, 64)
        with hold(self.fig, self.roof_peak, self.roof_ach, self.xs, self.ys, self.gemm_dots,
                  *self.dots.values()):
            self.roof_peak.x, self.roof_peak.y = x, np.minimum(F, B * x)
            self.roof_ach.x, self.roof_ach.y = x, np.minimum(Fa, Ba * x)
            for ph in PHASES:
                d = pts[ph]
                self.dots[ph].x, self.dots[ph].y = d["intensity"], d["tflops"]
                self.dots[ph].names = [f"{ph}: {n}" for n in d["name"]]
                self.dots[ph].colors = [palette.KIND[k] for k in d["kind"]]
            self.gemm_dots.x, self.gemm_dots.y = gx, gy
            self.gemm_dots.names = [f"{g.m}x{g.k}x{g.n} {g.dtype}" for g in gs]
            self.xs.min, self.xs.max = float(lo), float(hi)
            self.ys.min = float(max(min(ally.min(), B * lo) / 2.0, 1e-4))
            self.ys.max = float(ally.max() * 1.5)
        self.points = pts
        sc = res.scenario
        self.note.value = (f'<div class="nx-sub">{esc(sc.gpu)}: peak {F:.0f} TFLOP/s, '
                           f'{B * 1e3:.0f} GB/s; ridge point {F / B:.0f} FLOP/byte '
                           f'(achievable {Fa / Ba:.0f}). Kernels left of the ridge are '
                           f'memory-bound.</div>')
        self.set_header("Roofline", f"{esc(sc.model)}, tp={sc.tp}, batch {sc.batch}")

    def add_gemm(self, g) -> None:
        """Place a :class:`kernel_model.gemm.GemmResult` on the chart (kept across updates)."""
        self._gemms.append(g)
        self.refresh()

    def clear_gemms(self) -> None:
        """Remove the GEMMs placed with :meth:`add_gemm`."""
        self._gemms = []
        self.refresh()
