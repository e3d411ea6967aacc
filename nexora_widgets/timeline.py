"""``TimelineChart``: a Gantt view of one decode step (or of the prefill), kernel by kernel.

Lanes: the compute stream and the communication stream of each pipeline stage (stage 0 on
top). Every kernel / collective is one horizontal bar from its start to its end (ms);
bars are drawn as segments of one ``bqplot.Lines`` mark (one curve per color, NaN-separated)
so a step of 1000+ kernels updates in one message; an invisible ``Scatter`` of the kernels'
midpoints carries the tooltips (name, layer, µs, FLOPs, bytes, bound).
"""
from __future__ import annotations

import weakref

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import pandas as pd

from kernel_model import timeline as _engine_tl

from . import palette
from ._util import fmt_bytes, fmt_flops, fmt_time
from .base import View, figure, hold, value_axis

_TL_COLS = ("stage", "stream", "micro_batch", "layer", "name", "kind", "start_s", "end_s",
            "duration_s", "flops", "bytes", "bound")
_NONE = (np.zeros(0), np.zeros(0), np.array([], dtype=str))     # no micro-batch labels


def lane_layout(pp: int) -> tuple[int, int]:
    """(lanes, pixels per lane) for ``pp`` stages: two lanes (compute, comm) per stage."""
    n = 2 * pp
    px = 44 if n <= 4 else (30 if n <= 8 else 20)
    return n, px


def lane_y(stage, stream, n_lanes: int):
    """y of each row's lane: stage 0's compute lane on top, each stage's comm lane below it."""
    return (n_lanes - 1 - (2 * stage + (stream == "comm"))).astype(float)


def lane_ticks(pp: int) -> dict:
    """y tick labels of the ``2 * pp`` lanes ("compute" / "comm", by stage when pp > 1)."""
    n = 2 * pp
    ticks = {}
    for s in range(pp):
        stage = f"stage {s} " if pp > 1 else ""
        ticks[str(n - 1 - 2 * s)] = stage + "compute"
        ticks[str(n - 2 - 2 * s)] = stage + "comm"
    return ticks


def group_styles(groups, colors: dict, labels: dict) -> dict:
    """{group: (color, label)}: the palette's groups in its order, then any other value of
    ``groups`` (a kind the palette lacks) in ``palette.OTHER`` under its own name."""
    known = {k: (c, labels.get(k, k)) for k, c in colors.items()}
    for k in sorted(set(np.unique(groups).tolist()) - set(known)):
        known[k] = (palette.OTHER, str(k))
    return known


def kernel_tips(name, layer, dur_s, flops, byts, bound, kind=None, aggregated=None):
    """Tooltip text per kernel: name (layer) · µs · FLOPs · bytes · what bounds it; an
    aggregated block (``kind == "aggregate"``) names the micro-batches it stands for.

    Vectorised: the head is the name joined with a cached " (layer l)" suffix, and layers
    repeat the same kernels, so each distinct (time, FLOPs, bytes, bound) tail is formatted
    once (rows grouped by one lexsort), then heads and tails are joined."""
    name, layer = np.asarray(name, dtype=str), np.asarray(layer).astype(np.int64)
    n = len(name)
    if n == 0:
        return np.array([], dtype=str)
    heads = np.char.add(name, _layer_suffixes(int(layer.max()))[np.where(layer < 0, 0, layer + 1)])
    bound = np.asarray(bound, dtype=str)
    cols = (np.asarray(dur_s, dtype=float), np.asarray(flops, dtype=float),
            np.asarray(byts, dtype=float), bound)
    order = np.lexsort(cols[::-1])
    new = np.zeros(n, dtype=bool)            # where a sorted row differs from the one before
    new[0] = True
    for c in cols:
        cs = c[order]
        new[1:] |= cs[1:] != cs[:-1]
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.cumsum(new) - 1
    first = order[new]
    tails = [f" · {d * 1e6:.1f} µs · {fmt_flops(f)} · {fmt_bytes(b)} · "
             f"{palette.BOUND_LABEL.get(o, o)}"
             for d, f, b, o in zip(*(c[first].tolist() for c in cols))]
    out = np.char.add(heads, np.array(tails, dtype=str)[inv])
    agg = (np.flatnonzero(np.asarray(kind) == "aggregate") if kind is not None and aggregated
           else ())
    if len(agg):
        out = out.tolist()
        for i in agg.tolist():
            o = bound[i].item()
            out[i] = (f"micro-batches {aggregated[0]}–{aggregated[1]}, one block (mostly "
                      f"{palette.BOUND_LABEL.get(o, o)}) · {float(dur_s[i]) * 1e3:.3f} ms · "
                      f"{fmt_flops(flops[i])} · {fmt_bytes(byts[i])}")
        return np.array(out, dtype=str)
    return out.astype(f"<U{max(1, int(np.char.str_len(out).max()))}")


_SUFFIXES: list = [np.array([""])]    # [0]: "" (no layer), [l + 1]: " (layer l)"


def _layer_suffixes(max_layer: int):
    """The cached array ["", " (layer 0)", ..., " (layer max_layer)"]."""
    if len(_SUFFIXES[0]) < max_layer + 2:
        _SUFFIXES[0] = np.array([""] + [f" (layer {l})" for l in range(max(max_layer, 0) + 1)])
    return _SUFFIXES[0]


BAR_HALF = 0.36          # half the height of a bar, in lanes (bars fill 72 % of a lane)


def segments(start, end, y, groups, keys, half=BAR_HALF):
    """Per key of ``keys``: x and y of NaN-separated filled rectangles, padded to one 2-D
    array.

    Returns (x, y) of shape (len(keys), 5 * max count + 1); row k draws the rows where
    ``groups == keys[k]`` as [start, end, end, start, NaN] by [y - half, y - half, y + half,
    y + half, NaN], filled (the fill closes each rectangle): bar heights are in data units,
    so lanes never overlap whatever height the browser gives the figure. The last point of
    every row is one defined point at y = -1, below the lanes (clipped; a path of one point
    draws nothing): bqplot places a curve's label at its last point and writes
    ``translate(x, undefined)`` into the page when that point is NaN, and a curve of NaN
    only becomes ``d="null"``. So in the page each curve's path has one "M" per bar plus one.
    """
    idx = [np.flatnonzero(groups == k) for k in keys]
    width = 5 * max((len(i) for i in idx), default=0) + 1
    X = np.zeros((len(keys), width))
    Y = np.full((len(keys), width), np.nan)
    Y[:, -1] = -1.0
    for r, i in enumerate(idx):
        n = len(i)
        if n:
            s, e, lo, hi = start[i], end[i], y[i] - half, y[i] + half
            for c, (xs, ys) in enumerate(((s, lo), (e, lo), (e, hi), (s, hi))):
                X[r, c:5 * n:5], Y[r, c:5 * n:5] = xs, ys
            X[r, 4:5 * n:5] = s                      # NaN in y breaks the path; x stays finite
            X[r, -1] = e[-1]
    return X, Y


_CODES = {"stream": _engine_tl.STREAMS, "name": _engine_tl.NAMES, "kind": _engine_tl.KINDS,
          "bound": _engine_tl.BOUNDS}
_CODES = {k: np.array(v, dtype=str) for k, v in _CODES.items()}


def _columns(res, phase: str) -> dict:
    """The ``phase`` rows of the result's timeline as numpy columns (names as str arrays):
    straight from the engine's columns, without building the DataFrame when nobody has."""
    parts = getattr(res, "_timeline_parts", None)
    if getattr(res, "_timeline", None) is None and parts is not None:
        c = _engine_tl.columns(*parts)
        m = c["phase"] == _engine_tl.PHASES.index(phase)
        out = {k: (_CODES[k][c[k][m]] if k in _CODES else c[k][m]) for k in _TL_COLS}
        out["aggregated"] = c["aggregated"]
        return out
    tl = res.timeline
    m = (tl["phase"] == phase).to_numpy()
    out = {k: (np.asarray(tl[k].cat.categories, dtype=str)[tl[k].cat.codes.to_numpy()[m]]
               if isinstance(tl[k].dtype, pd.CategoricalDtype) else tl[k].to_numpy()[m])
           for k in _TL_COLS}
    out["aggregated"] = tl.attrs.get("aggregated")
    return out


_ROWS: dict = {}          # (id(result), phase) -> (weak reference to the result, rows)


def timeline_rows(res, phase: str) -> dict:
    """The ``phase`` rows of ``res.timeline`` as numpy columns (times in ms) and tooltips,
    computed once per result and phase and shared by every chart drawing them."""
    key = (id(res), phase)
    hit = _ROWS.get(key)
    if hit is not None and hit[0]() is res:
        return hit[1]
    c = _columns(res, phase)
    r = {"start": c["start_s"] * 1e3, "end": c["end_s"] * 1e3, "stream": c["stream"],
         "stage": c["stage"].astype(int), "layer": c["layer"].astype(int),
         "mb": c["micro_batch"].astype(int), "bound": c["bound"], "kind": c["kind"],
         "aggregated": c["aggregated"]}
    r["tips"] = kernel_tips(c["name"], r["layer"], c["duration_s"], c["flops"], c["bytes"],
                            c["bound"], r["kind"], r["aggregated"])
    for k in [k for k, (ref, _) in _ROWS.items() if ref() is None] + list(_ROWS)[:-3]:
        _ROWS.pop(k, None)                   # keep the newest few; drop dead results
    _ROWS[key] = (weakref.ref(res), r)
    return r


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
            w.observe(lambda ch: self.refresh(), "value")
        self.xs = bq.LinearScale(min=0.0, max=1.0)
        self.ys = bq.LinearScale(min=-0.5, max=1.5)
        self.ax_x = value_axis(self.xs, "time since the step started (ms)", tick_format=".3~f")
        self.ax_y = bq.Axis(scale=self.ys, side="left", grid_lines="none",
                            tick_values=[0, 1], tick_labels={"0": "comm", "1": "compute"})
        sc = {"x": self.xs, "y": self.ys}
        self.bars = bq.Lines(x=np.zeros((1, 2)), y=np.full((1, 2), -1.0), scales=sc,
                             stroke_width=0.5, fill="inside", fill_colors=["#999"],
                             fill_opacities=[1.0], enable_hover=False, interactions={},
                             colors=["#999"], labels=[""], apply_clip=True)
        # invisible twice over (transparent fill and zero opacity): only its tooltips show
        self.hover = bq.Scatter(x=np.zeros(0), y=np.zeros(0), scales=sc, marker="square",
                                default_size=400, opacities=[0.0], display_names=False,
                                colors=[palette.TRANSPARENT], stroke=palette.TRANSPARENT,
                                names=np.array([], dtype=str),
                                tooltip=bq.Tooltip(fields=["name"], labels=["kernel"]),
                                tooltip_style={"opacity": 0.95, "font-size": "12px"})
        self.mb_labels = bq.Label(x=np.zeros(0), y=np.zeros(0), text=np.array([], dtype=str),
                                  scales=sc, default_size=11, colors=["#444"], align="start",
                                  x_offset=2, y_offset=0, enable_hover=False)
        self.fig = figure([self.bars, self.hover, self.mb_labels], [self.ax_x, self.ax_y], "140px",
                          dict(top=8, bottom=42, left=120, right=16), padding_y=0.0, min_width="300px")
        self.fig.add_class("nx-timeline")
        self.legend = widgets.HTML()
        bar = widgets.HBox([self.phase, self.span, self.color_by],
                           layout=widgets.Layout(flex_flow="row wrap"))
        return [bar, self.fig, self.legend]

    # ---------------------------------------------------------------------------------------
    def _rows(self, res, phase: str) -> dict:
        """The ``phase`` rows of ``res.timeline`` as numpy columns (times in ms) with their
        tooltips, derived once per result and phase for every TimelineChart (``timeline_rows``)."""
        return timeline_rows(res, phase)

    def _draw(self, pp, start, end, y, groups, styles, bar_labels, tips, x_range, x_label,
              mb_labels=_NONE):
        """Bars from ``start`` to ``end`` on lanes ``y`` of ``pp`` stages, one curve per key
        of ``styles`` ({group: (color, label)}); one message per mark."""
        n_lanes, px = lane_layout(pp)
        keys = list(styles)
        X, Y = segments(start, end, y, groups, keys)
        with hold(self.fig, self.bars, self.hover, self.mb_labels, self.xs, self.ys, self.ax_x,
                  self.ax_y):
            self.bars.x, self.bars.y = X, Y
            colors = [styles[k][0] for k in keys]
            self.bars.colors, self.bars.fill_colors, self.bars.labels = colors, colors, bar_labels
            self.bars.fill_opacities = [1.0] * len(keys)
            self.hover.x, self.hover.y, self.hover.names = 0.5 * (start + end), y, tips
            self.hover.default_size = int((0.72 * px) ** 2)
            self.mb_labels.x, self.mb_labels.y, self.mb_labels.text = mb_labels
            self.xs.min, self.xs.max = x_range
            self.ys.min, self.ys.max = -0.5, n_lanes - 0.5
            self.ax_x.label = x_label
            self.ax_y.tick_values = np.arange(n_lanes, dtype=float)
            self.ax_y.tick_labels = lane_ticks(pp)
            self.fig.layout.height = f"{50 + px * n_lanes}px"
        self.legend.value = palette.legend_html({k: c for k, (c, _) in styles.items()},
                                                {k: label for k, (_, label) in styles.items()})

    def update(self, res):
        if self.training is not None:
            self.update_training(self.training)
            return
        sc, phase = res.scenario, self.phase.value
        r = self._rows(res, phase)
        start, end, stage, stream, mb = r["start"], r["end"], r["stage"], r["stream"], r["mb"]
        pp = int(sc.pp)
        y = lane_y(stage, stream, 2 * pp)
        if self.color_by.value == "bound":
            groups, styles = r["bound"], group_styles(r["bound"], palette.bound_colors(),
                                                      palette.BOUND_LABEL)
        else:
            groups, styles = r["kind"], group_styles(r["kind"], palette.KIND, palette.KIND_LABEL)
            if not r["aggregated"]:
                styles.pop("aggregate", None)

        lo, hi = 0.0, (float(end.max()) if len(end) else 1.0)
        if self.span.value == "layer":
            sel = (r["layer"] == 0) & (stage == 0) & (mb == 0)
            if sel.any():
                lo, hi = float(start[sel].min()), float(end[sel].max())
        pad = 0.01 * (hi - lo or 1.0)
        lo = lo - pad if lo > 0 else 0.0

        labels = _NONE                        # micro-batch staircase (pp > 1 or several)
        if pp > 1 or int(sc.micro_batches) > 1:
            first = np.unique(stage * 100000 + mb, return_index=True)[1]
            first = first[stream[first] != "comm"]          # one label per (stage, micro-batch)
            agg = r["aggregated"]
            labels = (start[first], y[first] + 0.42,
                      np.array([f"mb {j}–{agg[1]}" if agg and j == agg[0] else f"mb {j}"
                                for j in mb[first]], dtype=str))

        what = "step" if phase == "decode" else "prefill"
        self._draw(pp, start, end, y, groups, styles, [label for _, label in styles.values()],
                   r["tips"], (lo, hi + pad), f"time since the {what} started (ms)", labels)
        n_c = int((stream == "comm").sum())
        if phase == "decode":
            title, total = "one decode step", f"TPOT {fmt_time(res.tpot_s)}"
        else:
            title, total = "the prefill", f"TTFT {fmt_time(res.ttft_s)}"
        gpus = f"{sc.gpus_per_stage} GPUs per stage" if pp > 1 else f"{res.num_gpus} GPU(s)"
        idle = (f" · then {fmt_time(res.host_s)} of host time ({sc.runtime} runtime), GPUs idle"
                if res.host_s > 0 else "")
        agg = r["aggregated"]
        agg = (f" · micro-batches {agg[0]}–{agg[1]} drawn as one block per stage (of "
               f"{sc.micro_batches})" if agg else "")
        n_k = int((r["kind"] != "aggregate").sum()) - n_c
        self.set_header(f"Timeline of {title}", f"{total} · {n_k} kernels, {n_c} "
                        f"transfers{agg} · {gpus}, one shown{idle} · hover a bar for details")

    def update_training(self, tres):
        """Draw one training iteration: a lane pair per pipeline stage, colored by phase."""
        tl = tres.timeline
        for w in (self.phase, self.span, self.color_by):
            w.layout.display = "none"
        start, end = tl["start_s"].to_numpy(), tl["end_s"].to_numpy()          # seconds
        stage, stream = tl["stage"].to_numpy().astype(int), tl["stream"].to_numpy()
        phase, mb = tl["phase"].to_numpy(), tl["micro_batch"].to_numpy().astype(int)
        cfg = tres.config
        pp = int(cfg.get("pp", int(stage.max()) + 1 if len(stage) else 1))
        styles = group_styles(phase, palette.TRAINING_PHASE, palette.TRAINING_PHASE_LABEL)
        styles = {k: v for k, v in styles.items() if (phase == k).any()}     # present phases only
        tips = np.array([f"{p} · micro-batch {j} · stage {s} · {fmt_time(d)}"
                         for p, j, s, d in zip(phase, mb, stage, end - start)], dtype=str)
        hi = float(end.max()) if len(end) else 1.0
        self._draw(pp, start, end, lane_y(stage, stream, 2 * pp), phase, styles, list(styles),
                   tips, (0.0, 1.01 * hi), "time since the iteration started (s)")
        self.set_header("Timeline of one training iteration",
                        f"{fmt_time(tres.iteration_s)} · {tres.micro_batches} micro-batches x {pp} "
                        f"stage(s), {cfg.get('schedule', '')} · MFU {tres.mfu:.0%} · bubble "
                        f"{tres.bubble_fraction:.0%} · hover a bar for details")
