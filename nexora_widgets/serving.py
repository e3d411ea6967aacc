"""``ServingChart``: many requests on the current plan, live (``kernel_model.serving``).

Three views, one at a time (the toggle above the chart):

``requests``  a Gantt of the first requests: waiting in the queue, prefill (to the first
              token), decode (to the last), one row per request;
``latency``   the distributions (CDF) of TTFT and TPOT with the SLO limits drawn in;
``rate``      output tokens/s and p90 TTFT against the request rate (the capacity search's
              runs), the capacity under the SLO marked (the knee).

Bound to a ``ScenarioModel`` (the plan) and a ``WorkloadModel`` (rate, lengths, scheduler,
SLO); both redraw it in place (marks updated under ``hold_sync``, figures never rebuilt).
A rejected value shows its message and the chart keeps its last good state.
"""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np
from traitlets import TraitError

from kernel_model.serving import serve, capacity
from kernel_model.serving.model_object import WorkloadModel

from . import palette
from ._util import esc, fmt_time
from .base import View, figure, hold, value_axis

VIEWS = ("requests", "latency", "rate")
PHASES = {"queue": "#BAB0AC", "prefill": "#F28E2B", "decode": "#4E79A7"}
PHASE_LABEL = {"queue": "waiting", "prefill": "prefill (to first token)", "decode": "decode"}
GANTT_ROWS = 60
SLO_COLOR = palette.ERROR
CURVE_REQUESTS = 300          # requests per run of the rate view's capacity search


def _segments(a, b, n):
    """(x, y) of ``n`` horizontal segments from a[i] to b[i] at height i."""
    x = np.stack([a[:n], b[:n]], axis=1)
    y = np.repeat(np.arange(n, dtype=float)[:, None], 2, axis=1)
    return x, y


def _cdf(x):
    x = np.sort(x[np.isfinite(x)])
    return (x, np.arange(1, len(x) + 1) / max(len(x), 1)) if len(x) else (np.zeros(1),
                                                                           np.zeros(1))


class ServingChart(View):
    """``ServingChart(scenario_model, workload_model)``; see the module docstring.
    ``.result`` is the last ``ServingResult``, ``.curve`` the last ``CapacityResult``."""

    def __init__(self, model=None, workload=None, view="requests", css=True, active=True,
                 **fields):
        if view not in VIEWS:
            raise ValueError(f"view={view!r} is not allowed: one of {', '.join(VIEWS)}")
        self.workload_model = workload if workload is not None else WorkloadModel()
        self._view = view
        self.result = None
        self.curve = None
        self._curve_key = None
        self._active, self._stale = bool(active), False
        super().__init__(model, css, **fields)
        self.workload_model.observe(self._on_workload, "version")

    # ---- widgets --------------------------------------------------------------------------
    def _build(self):
        w = self.workload_model
        self.view_toggle = widgets.ToggleButtons(options=list(VIEWS), value=self._view)
        self.view_toggle.observe(self._on_view, "value")
        self.controls = self._controls(w)
        self.gantt = self._gantt_fig()
        self.latency = self._latency_figs()
        self.rate = self._rate_fig()
        self.legend = widgets.HTML()
        self.panels = {"requests": self.gantt, "latency": widgets.HBox(list(self.latency)),
                       "rate": self.rate}
        # only the shown view is in the page: a figure laid out while hidden gets no size
        # (negative rectangles, console errors)
        self.panel_box = widgets.Box(layout=widgets.Layout(width="100%"))
        self._show()
        self.add_class("nx-serving")
        return [self.controls, self.view_toggle, self.panel_box, self.legend]

    def _controls(self, w):
        lay = dict(style={"description_width": "initial"}, continuous_update=False)
        c = {
            "rate_rps": widgets.FloatLogSlider(value=w.rate_rps, base=10, min=-2, max=3,
                                               description="rate (req/s)", **lay),
            "prompt_tokens": widgets.IntSlider(value=w.prompt_tokens, min=16, max=16384,
                                               step=16, description="prompt tokens", **lay),
            "output_tokens": widgets.IntSlider(value=w.output_tokens, min=1, max=4096,
                                               description="output tokens", **lay),
            "scheduler": widgets.Dropdown(options=["continuous", "chunked", "static"],
                                          value=w.scheduler, description="scheduler"),
            "ttft_slo_s": widgets.FloatText(value=w.ttft_slo_s, description="TTFT p90 SLO (s)",
                                            style=lay["style"], continuous_update=False),
            "tpot_slo_s": widgets.FloatText(value=w.tpot_slo_s, description="TPOT p99 SLO (s)",
                                            style=lay["style"], continuous_update=False),
        }
        self._inputs = c
        for name, box in c.items():
            box.observe(lambda ch, n=name: self._set(n, ch.new), "value")
        return widgets.HBox([widgets.VBox(list(c.values())[:3]),
                             widgets.VBox(list(c.values())[3:])])

    def _gantt_fig(self):
        self.gx, self.gy = bq.LinearScale(min=0.0), bq.LinearScale(reverse=True)
        self.bars = {k: bq.Lines(x=[[0.0, 0.0]], y=[[0.0, 0.0]], colors=[col],
                                 scales={"x": self.gx, "y": self.gy}, stroke_width=5,
                                 labels=[PHASE_LABEL[k]], enable_hover=False)
                     for k, col in PHASES.items()}
        axes = [value_axis(self.gx, "time (s)"),
                bq.Axis(scale=self.gy, side="left", label="request")]
        return figure(list(self.bars.values()), axes, "320px",
                      dict(top=16, bottom=44, left=58, right=16))

    def _latency_figs(self):
        figs = []
        self.cdf = {}
        for key, label in (("ttft", "TTFT (s)"), ("tpot", "TPOT (ms)")):
            xs, ys = bq.LinearScale(min=0.0), bq.LinearScale(min=0.0, max=1.0)
            line = bq.Lines(x=[0.0], y=[0.0], scales={"x": xs, "y": ys},
                            colors=[palette.CATEGORY["compute"]], stroke_width=2)
            slo = bq.Lines(x=[0.0, 0.0], y=[0.0, 1.0], scales={"x": xs, "y": ys},
                           colors=[SLO_COLOR], line_style="dashed", stroke_width=2)
            self.cdf[key] = (xs, line, slo)
            figs.append(figure([line, slo], [value_axis(xs, label),
                                             value_axis(ys, "share of requests", side="left")],
                               "280px", dict(top=16, bottom=44, left=58, right=16)))
        return figs

    def _rate_fig(self):
        self.rx, self.ry, self.ry2 = bq.LogScale(), bq.LinearScale(min=0.0), bq.LogScale()
        sc1, sc2 = {"x": self.rx, "y": self.ry}, {"x": self.rx, "y": self.ry2}
        self.tput = bq.Lines(x=[1.0], y=[0.0], scales=sc1, colors=[palette.TOKENS],
                             marker="circle", marker_size=24, labels=["output tokens/s"])
        self.ttft = bq.Lines(x=[1.0], y=[1.0], scales=sc2, colors=[PHASES["prefill"]],
                             marker="circle", marker_size=24, labels=["p90 TTFT"])
        self.ttft_slo = bq.Lines(x=[1.0, 1.0], y=[1.0, 1.0], scales=sc2, colors=[SLO_COLOR],
                                 line_style="dashed")
        self.knee = bq.Lines(x=[1.0, 1.0], y=[0.0, 1.0], scales=sc1, colors=[SLO_COLOR],
                             stroke_width=2)
        self.knee_label = bq.Label(x=[1.0], y=[0.0], text=[""], scales=sc1, colors=[SLO_COLOR],
                                   x_offset=4, y_offset=-6, default_size=12)
        axes = [value_axis(self.rx, "request rate (req/s)"),
                value_axis(self.ry, "output tokens/s", side="left"),
                bq.Axis(scale=self.ry2, side="right",
                        label="p90 TTFT (s)", color=PHASES["prefill"])]
        return figure([self.tput, self.ttft, self.ttft_slo, self.knee, self.knee_label], axes,
                      "320px", dict(top=16, bottom=44, left=64, right=64))

    @property
    def active(self) -> bool:
        """False while hidden (e.g. an unselected dashboard tab): changes only mark the
        chart stale, and it redraws when it becomes active again."""
        return self._active

    @active.setter
    def active(self, value: bool):
        self._active = bool(value)
        if self._active and self._stale:
            self.refresh()

    def follow(self, tab, index: int):
        """Active only while ``tab`` (an ipywidgets Tab) shows its child ``index``."""
        self.active = tab.selected_index == index
        tab.observe(lambda ch: setattr(self, "active", ch.new == index), "selected_index")

    # ---- events ---------------------------------------------------------------------------
    def _set(self, name, value):
        try:
            setattr(self.workload_model, name, value)
        except TraitError as e:
            self.status.value = (f'<span style="color:{palette.ERROR};font-size:12px">'
                                 f'{esc(e)}</span>')
            self._inputs[name].value = getattr(self.workload_model, name)

    def _on_workload(self, change):
        for name, box in self._inputs.items():
            v = getattr(self.workload_model, name)
            if box.value != v:
                box.value = v
        self.refresh()

    def _on_view(self, change):
        self._view = change.new
        self._show()
        self.refresh()

    def _show(self):
        self.panel_box.children = (self.panels[self._view],)

    # ---- drawing --------------------------------------------------------------------------
    def update(self, res):
        if not self._active:
            self._stale = True
            return
        self._stale = False
        wm = self.workload_model
        sc = res.scenario
        self.result = serve(sc, wm.workload(), slo=wm.slo(), record_steps=False,
                            **wm.serve_kwargs())
        s = self.result.summary
        if self._view == "requests":
            self._draw_gantt()
        elif self._view == "latency":
            self._draw_latency()
        else:
            self._draw_rate(sc)
        met = "meets" if s["slo_met"] else "misses"
        self.set_header("Serving", f"{esc(sc.model)} on {sc.num_gpus} x {esc(sc.gpu)}, "
                        f"{esc(wm.scheduler)}, {wm.rate_rps:.3g} req/s: TTFT p90 "
                        f"{fmt_time(s['ttft_p90_s'])}, TPOT p99 {fmt_time(s['tpot_p99_s'])} "
                        f"({met} the SLO), {s['output_tokens_per_s']:.4g} tok/s")

    def _draw_gantt(self):
        r = self.result.requests
        n = min(GANTT_ROWS, len(r))
        a, st, ft, fin = (r[c].to_numpy() for c in ("arrival_s", "start_s", "first_token_s",
                                                     "finish_s"))
        segs = {"queue": _segments(a, st, n), "prefill": _segments(st, ft, n),
                "decode": _segments(ft, fin, n)}
        with hold(self.gantt, self.gx, self.gy, *self.bars.values()):
            for k, (x, y) in segs.items():
                self.bars[k].x, self.bars[k].y = x, y
                self.bars[k].colors = [PHASES[k]] * n
            self.gx.min, self.gx.max = float(a[0]), float(fin[:n].max())
            self.gy.min, self.gy.max = -1.0, float(n)
        self.legend.value = palette.legend_html(PHASES, PHASE_LABEL)
        self.values = {"rows": n, "queue": segs["queue"][0], "decode": segs["decode"][0]}

    def _draw_latency(self):
        r, wm = self.result.requests, self.workload_model
        parts = {"ttft": (r["ttft_s"].to_numpy(), wm.ttft_slo_s, 1.0),
                 "tpot": (r["tpot_s"].to_numpy() * 1e3, wm.tpot_slo_s * 1e3, 1e3)}
        marks = [m for v in self.cdf.values() for m in v]
        with hold(*self.latency, *marks):
            for key, (x, limit, _) in parts.items():
                xs, line, slo = self.cdf[key]
                cx, cy = _cdf(x)
                line.x, line.y = cx, cy
                slo.x = [limit, limit]
                xs.max = float(max(cx.max(), limit) * 1.1 or 1.0)
        self.legend.value = palette.legend_html(
            {"cdf": palette.CATEGORY["compute"], "slo": SLO_COLOR},
            {"cdf": "share of requests at or below", "slo": "SLO limit"})
        self.values = {"ttft_slo": wm.ttft_slo_s, "tpot_slo": wm.tpot_slo_s}

    def _draw_rate(self, sc):
        wm = self.workload_model
        key = (repr(sc), tuple(v for k, v in wm._values().items() if k != "rate_rps"))
        if key != self._curve_key:
            kw = wm.serve_kwargs()
            reps = kw.pop("replicas")
            self.curve = capacity(sc, wm.workload(), wm.slo(), replicas=reps, tol=0.05,
                                  requests=min(wm.requests, CURVE_REQUESTS), **kw)
            self._curve_key = key
        c = self.curve
        df = c.curve()
        df = df[df["rate_rps"] > 0]
        ttft = np.maximum(df["ttft_p90_s"].to_numpy(), 1e-4)
        top = float(df["output_tokens_per_s"].max() * 1.15 or 1.0)
        knee = c.rate_rps if c.rate_rps > 0 else float(df["rate_rps"].min())
        with hold(self.rate, self.tput, self.ttft, self.ttft_slo, self.knee, self.knee_label,
                  self.ry):
            x = df["rate_rps"].to_numpy()
            self.tput.x, self.tput.y = x, df["output_tokens_per_s"].to_numpy()
            self.ttft.x, self.ttft.y = x, ttft
            self.ttft_slo.x, self.ttft_slo.y = [x.min(), x.max()], [wm.ttft_slo_s] * 2
            self.ry.max = top
            self.knee.x, self.knee.y = [knee, knee], [0.0, top]
            self.knee_label.x, self.knee_label.y = [knee], [top * 0.92]
            self.knee_label.text = [f"capacity {c.rate_rps:.3g} req/s"]
        self.legend.value = palette.legend_html(
            {"t": palette.TOKENS, "f": PHASES["prefill"], "s": SLO_COLOR},
            {"t": "output tokens/s", "f": "p90 TTFT (right axis)", "s": "SLO / capacity"})
        self.values = {"capacity_rps": c.rate_rps, "rates": x}
