"""``TimelineChart``: a Gantt view of one decode step (or of the prefill), kernel by kernel.

Lanes: the compute stream and the communication stream of each pipeline stage (stage 0 on
top). Every kernel / collective is one horizontal bar from its start to its end (ms);
bars are drawn as segments of one ``bqplot.Lines`` mark (one curve per color, NaN-separated)
so a step of 1000+ kernels updates in one message; an invisible ``Scatter`` of the kernels'
midpoints carries the tooltips (name, layer, µs, FLOPs, bytes, bound).
"""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from . import palette
from ._util import fmt_bytes, fmt_flops, fmt_time
from .base import View, hold

_TL_COLS = ("phase", "stage", "stream", "micro_batch", "layer", "name", "kind", "start_s",
            "end_s", "duration_s", "flops", "bytes", "bound")


def lane_layout(pp: int) -> tuple[int, int]:
    """(lanes, pixels per lane) for ``pp`` stages: two lanes (compute, comm) per stage."""
    n = 2 * pp
    px = 44 if n <= 4 else (30 if n <= 8 else 20)
    return n, px


def segments(start, end, y, groups, keys):
    """Per key of ``keys``: x and y of NaN-separated segments, padded to one 2-D array.

    Returns (x, y) of shape (len(keys), 3 * max count); row k draws the rows where
    ``groups == keys[k]`` as [start, end, NaN] triples.
    """
    idx = [np.flatnonzero(groups == k) for k in keys]
    width = 3 * max(1, max((len(i) for i in idx), default=1))
    X = np.zeros((len(keys), width))
    Y = np.full((len(keys), width), np.nan)
    for r, i in enumerate(idx):
        n = len(i)
        if n:
            X[r, 0:3 * n:3], X[r, 1:3 * n:3] = start[i], end[i]
            Y[r, 0:3 * n:3], Y[r, 1:3 * n:3] = y[i], y[i]
            X[r, 2:3 * n:3] = end[i]          # NaN in y breaks the line; x stays finite
    return X, Y


class TimelineChart(View):
    """Gantt chart of one decode step (or prefill) of ``model`` (a ScenarioModel).

    ``TimelineChart(training_result)`` instead draws one training iteration of a
    ``kernel_model.TrainingResult``: stages x micro-batches, forward / backward / recompute
    blocks on the compute lanes, sends and data-parallel syncs on the comm lanes.
    """

    def __init__(self, model=None, css: bool = True, **fields):
        from kernel_model.training import TrainingResult
        self.training = model if isinstance(model, TrainingResult) else None
        super().__init__(None if self.training is not None else model, css=css, **fields)

    def _build(self):
        self.phase = widgets.ToggleButtons(options=[("decode step", "decode"), ("prefill", "prefill")],
                                           value="decode", tooltips=["one output token", "the prompt (TTFT)"])
        self.span = widgets.ToggleButtons(options=[("whole step", "all"), ("first layer", "layer")],
                                          value="all")
        self.color_by = widgets.ToggleButtons(options=[("by cause", "bound"), ("by kernel kind", "kind")],
                                              value="bound")
        for w in (self.phase, self.span, self.color_by):
            w.style.button_width = "112px"
            w.layout.margin = "0 12px 0 0"
        self.xs = bq.LinearScale(min=0.0, max=1.0)
        self.ys = bq.LinearScale(min=-0.5, max=1.5)
        self.ax_x = bq.Axis(scale=self.xs, label="time since the step started (ms)", grid_lines="dashed",
                            grid_color="#ddd", tick_format=".3~f")
        self.ax_y = bq.Axis(scale=self.ys, side="left", grid_lines="none",
                            tick_values=[0, 1], tick_labels={"0": "comm", "1": "compute"})
        sc = {"x": self.xs, "y": self.ys}
        self.bars = bq.Lines(x=np.zeros((1, 2)), y=np.full((1, 2), np.nan), scales=sc,
                             stroke_width=30.0, enable_hover=False, interactions={},
                             colors=["#999"], labels=[""], apply_clip=True)
        self.hover = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales=sc, marker="square",
                                default_size=400, opacities=[0.0], display_names=False,
                                names=np.array([], dtype=str),
                                tooltip=bq.Tooltip(fields=["name"], labels=["kernel"]),
                                tooltip_style={"opacity": 0.95, "font-size": "12px"})
        self.mb_labels = bq.Label(x=np.zeros(0), y=np.zeros(0), text=np.array([], dtype=str),
                                  scales=sc, default_size=11, colors=["#444"], align="start",
                                  x_offset=2, y_offset=0, enable_hover=False)
        self.fig = bq.Figure(marks=[self.bars, self.hover, self.mb_labels], axes=[self.ax_x, self.ax_y],
                             fig_margin=dict(top=8, bottom=42, left=120, right=16), padding_y=0.0,
                             animation_duration=0,
                             layout=widgets.Layout(width="100%", height="140px", min_width="300px"))
        self.fig.add_class("nx-timeline")
        self.legend = widgets.HTML()
        for w in (self.phase, self.span, self.color_by):
            w.observe(lambda ch: self.refresh(), "value")
        bar = widgets.HBox([self.phase, self.span, self.color_by],
                           layout=widgets.Layout(flex_flow="row wrap"))
        return [bar, self.fig, self.legend]

    # ---------------------------------------------------------------------------------------
    def _columns(self, res):
        """The timeline as numpy columns, cached per result."""
        if getattr(self, "_cols_for", None) is not res:
            tl = res.timeline
            self._cols = {c: tl[c].to_numpy() for c in _TL_COLS}
            self._cols_for = res
        return self._cols

    def update(self, res):
        if self.training is not None:
            self.update_training(self.training)
            return
        sc = res.scenario
        c = self._columns(res)
        m = c["phase"] == self.phase.value
        start, end = c["start_s"][m] * 1e3, c["end_s"][m] * 1e3          # ms
        stage, stream = c["stage"][m].astype(int), c["stream"][m]
        layer, mb = c["layer"][m].astype(int), c["micro_batch"][m].astype(int)
        pp = int(sc.pp)
        n_lanes, px = lane_layout(pp)
        lane = 2 * stage + (stream == "comm")
        y = (n_lanes - 1 - lane).astype(float)                            # stage 0 on top

        if self.color_by.value == "bound":
            groups = c["bound"][m]
            known = {k: (palette.CATEGORY[palette.BOUND[k]], palette.BOUND_LABEL[k]) for k in palette.BOUND}
        else:
            groups = c["kind"][m]
            known = {k: (palette.KIND[k], palette.KIND_LABEL[k]) for k in palette.KIND}
        for k in sorted(set(groups.tolist()) - set(known)):      # a kind the palette lacks
            known[k] = (palette.OTHER, str(k))
        keys = list(known)
        colors = [known[k][0] for k in keys]
        labels = [known[k][1] for k in keys]
        X, Y = segments(start, end, y, groups, keys)

        t_end = float(end.max()) if len(end) else 1.0
        if self.span.value == "layer":
            sel = (layer == 0) & (stage == 0) & (mb == 0)
            lo, hi = (float(start[sel].min()), float(end[sel].max())) if sel.any() else (0.0, t_end)
        else:
            lo, hi = 0.0, t_end
        pad = 0.01 * (hi - lo or 1.0)
        lo = lo - pad if lo > 0 else 0.0

        names = c["name"][m]
        dur, fl, by, bd = c["duration_s"][m], c["flops"][m], c["bytes"][m], c["bound"][m]
        tips = np.array([f"{n}{'' if l < 0 else f' (layer {l})'} · {d * 1e6:.1f} µs · "
                         f"{fmt_flops(f)} · {fmt_bytes(b)} · {palette.BOUND_LABEL.get(o, o)}"
                         for n, l, d, f, b, o in zip(names, layer, dur, fl, by, bd)], dtype=str)

        # micro-batch staircase labels (pp > 1 or several micro-batches)
        if pp > 1 or int(sc.micro_batches) > 1:
            key = stage * 100000 + mb
            first = np.unique(key, return_index=True)[1]
            first = first[stream[first] != "comm"] if len(first) else first
            lx, ly = start[first], y[first] + 0.42
            lt = np.array([f"mb {j}" for j in mb[first]], dtype=str)
        else:
            lx, ly, lt = np.zeros(0), np.zeros(0), np.array([], dtype=str)

        if pp == 1:
            ticks = {str(n_lanes - 1): "compute", str(n_lanes - 2): "comm"}
        else:
            ticks = {}
            for s in range(pp):
                ticks[str(n_lanes - 1 - 2 * s)] = f"stage {s} compute"
                ticks[str(n_lanes - 2 - 2 * s)] = f"stage {s} comm"

        with hold(self.fig, self.bars, self.hover, self.mb_labels, self.xs, self.ys, self.ax_y):
            self.bars.x, self.bars.y = X, Y
            self.bars.colors, self.bars.labels = colors, labels
            self.bars.stroke_width = 0.72 * px
            self.hover.x, self.hover.y, self.hover.names = 0.5 * (start + end), y, tips
            self.hover.default_size = int((0.72 * px) ** 2)
            self.mb_labels.x, self.mb_labels.y, self.mb_labels.text = lx, ly, lt
            self.xs.min, self.xs.max = lo, hi + pad
            self.ys.min, self.ys.max = -0.5, n_lanes - 0.5
            self.ax_y.tick_values = np.arange(n_lanes, dtype=float)
            self.ax_y.tick_labels = ticks
            self.fig.layout.height = f"{50 + px * n_lanes}px"

        n_k = int((stream != "comm").sum())
        n_c = int((stream == "comm").sum())
        if self.phase.value == "decode":
            what, total = "one decode step", f"TPOT {fmt_time(res.tpot_s)}"
        else:
            what, total = "the prefill", f"TTFT {fmt_time(res.ttft_s)}"
        per = f"{sc.gpus_per_stage} GPUs per stage, one shown" if pp > 1 else f"{res.num_gpus} GPU(s), one shown"
        self.set_header(f"Timeline of {what}",
                        f"{total} · {n_k} kernels, {n_c} transfers · {per} · hover a bar for details")
        self.legend.value = palette.legend_html(dict(zip(labels, colors)))

    def update_training(self, tres):
        """Draw one training iteration: a lane pair per pipeline stage, colored by phase."""
        tl = tres.timeline
        for w in (self.phase, self.span, self.color_by):
            w.layout.display = "none"
        start, end = tl["start_s"].to_numpy(), tl["end_s"].to_numpy()          # seconds
        stage, stream = tl["stage"].to_numpy().astype(int), tl["stream"].to_numpy()
        phase, mb = tl["phase"].to_numpy(), tl["micro_batch"].to_numpy().astype(int)
        pp = int(tres.config.get("pp", int(stage.max()) + 1 if len(stage) else 1))
        n_lanes, px = lane_layout(pp)
        y = (n_lanes - 1 - (2 * stage + (stream == "comm"))).astype(float)
        known = dict(palette.TRAINING_PHASE)
        for k in sorted(set(phase.tolist()) - set(known)):
            known[k] = palette.OTHER
        keys = [k for k in known if (phase == k).any()]
        X, Y = segments(start, end, y, phase, keys)
        tips = np.array([f"{p} · micro-batch {j} · stage {s} · {fmt_time(d)}"
                         for p, j, s, d in zip(phase, mb, stage, end - start)], dtype=str)
        ticks = {}
        for s in range(pp):
            ticks[str(n_lanes - 1 - 2 * s)] = f"stage {s} compute"
            ticks[str(n_lanes - 2 - 2 * s)] = f"stage {s} comm"
        hi = float(end.max()) if len(end) else 1.0
        with hold(self.fig, self.bars, self.hover, self.mb_labels, self.xs, self.ys, self.ax_x, self.ax_y):
            self.bars.x, self.bars.y = X, Y
            self.bars.colors = [known[k] for k in keys]
            self.bars.labels = keys
            self.bars.stroke_width = 0.72 * px
            self.hover.x, self.hover.y, self.hover.names = 0.5 * (start + end), y, tips
            self.hover.default_size = int((0.72 * px) ** 2)
            self.mb_labels.x, self.mb_labels.y, self.mb_labels.text = np.zeros(0), np.zeros(0), np.array([], dtype=str)
            self.xs.min, self.xs.max = 0.0, 1.01 * hi
            self.ys.min, self.ys.max = -0.5, n_lanes - 0.5
            self.ax_x.label = "time since the iteration started (s)"
            self.ax_y.tick_values = np.arange(n_lanes, dtype=float)
            self.ax_y.tick_labels = ticks
            self.fig.layout.height = f"{50 + px * n_lanes}px"
        cfg = tres.config
        self.set_header("Timeline of one training iteration",
                        f"{fmt_time(tres.iteration_s)} · {tres.micro_batches} micro-batches x {pp} "
                        f"stage(s), {cfg.get('schedule', '')} · MFU {tres.mfu:.0%} · bubble "
                        f"{tres.bubble_fraction:.0%} · hover a bar for details")
        self.legend.value = palette.legend_html({palette.TRAINING_PHASE_LABEL.get(k, k): known[k] for k in keys})
