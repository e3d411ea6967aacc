"""``Compare``: one scenario side by side on several interconnect presets (table + bars),
like the old tool's ``--compare``."""
from __future__ import annotations

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from kernel_model import Scenario, get_interconnect
from kernel_model.hardware import TYPICAL_GPU
from kernel_model.model_object import ScenarioModel, adapt_scenario
from kernel_model.insight import LABELS

from . import palette
from ._util import esc, plan_book
from .base import View, figure, highlight, hold, tpot_bars

CATS = tuple(palette.CATEGORY)
DEFAULT_PRESETS = ("pcie4_bad", "pcie4_good", "pcie5_good", "nvlink", "nvlink4", "nvlink5")


def compare_plans(base: Scenario, presets, typical_gpu: bool) -> list[tuple[str, Scenario | None, str]]:
    """(preset, scenario or None, note) for each preset: ``base`` over that link, on the
    preset's typical GPU when ``typical_gpu`` (the old CLI's pairing), else on base.gpu."""
    out = []
    cur = base.to_dict()
    for p in presets:
        ch = {"interconnect": p}
        if typical_gpu:
            ch["gpu"] = TYPICAL_GPU.get(p, base.gpu)
        if all(cur[k] == v for k, v in ch.items()):      # the base itself: nothing to adapt
            out.append((p, base, ""))
            continue
        try:
            out.append((p, adapt_scenario(cur, ch), ""))
        except ValueError as e:
            out.append((p, None, str(e)))
    return out


def with_current(presets, sc: Scenario) -> list[str]:
    """``presets`` and, last, the scenario's own link where it is not among them (an MI300X's
    ``infinity_fabric``, an H800's ``nvlink4_h800``): the chart always shows the current plan
    beside the others. One GPU (``none``) adds nothing."""
    presets = list(presets)
    if sc.interconnect != "none" and sc.interconnect not in presets:
        presets.append(sc.interconnect)
    return presets


class Compare(View):
    """``Compare(["pcie4_bad", "nvlink", "nvlink4", "nvlink5"], tp=8, model="llama-2-70b")``.

    ``model`` may also be a ScenarioModel to follow (the dashboard does this). GPUs: with
    ``gpu`` given (or a followed model) every preset runs on that GPU; otherwise each preset
    runs on its typical GPU (``hardware.TYPICAL_GPU``), as the old ``--compare`` did; the
    toggle switches between the two.
    """

    def __init__(self, presets=None, model=None, css: bool = True, **fields):
        if isinstance(presets, str):               # "nvlink" or "pcie4_bad,nvlink": names, not letters
            presets = [p.strip() for p in presets.split(",") if p.strip()]
        presets = list(presets or DEFAULT_PRESETS)
        for p in presets:
            get_interconnect(p)                    # ValueError naming the closest presets
        self.presets = presets
        typical = "gpu" not in fields and not isinstance(model, ScenarioModel)
        self.gpu_mode = widgets.ToggleButtons(
            options=[("same GPU", "same"), ("typical GPU per link", "typical")],
            value="typical" if typical else "same")
        self.gpu_mode.style.button_width = "150px"
        super().__init__(model, css=css, **fields)
        self.gpu_mode.observe(lambda ch: self.refresh(), "value")

    def _build(self):
        plan_book(self.model).register(("compare", id(self)), self._plans, self._signature)
        self.xs, self.ys, self.bars, ax_y = tpot_bars("link", "-")
        ax_x = bq.Axis(scale=self.xs, tick_rotate=-30, tick_style={"text-anchor": "end"},
                       label="interconnect preset", label_offset="58px")
        self.fig = figure([self.bars], [ax_x, ax_y], "300px", dict(top=12, bottom=78, left=58, right=12))
        self.fig.add_class("nx-compare")
        # the table keeps its natural width (flex-basis auto): beside the chart when both fit,
        # below it otherwise, and scrolls rather than clips when even a full row is too narrow
        self.table = widgets.HTML(layout=widgets.Layout(flex="0 1 auto", min_width="0",
                                                        max_width="100%", overflow="auto"))
        self.table.add_class("nx-compare-table")
        self.legend = widgets.HTML(palette.legend_html(palette.CATEGORY, palette.CATEGORY_LABEL))
        left = widgets.VBox([self.fig, self.legend], layout=widgets.Layout(flex="1 1 320px", min_width="300px"))
        return [self.gpu_mode, widgets.HBox([left, self.table], layout=widgets.Layout(
            flex_flow="row wrap", width="100%", align_items="flex-start"))]

    def _plans(self, sc):
        plans = compare_plans(sc, with_current(self.presets, sc), self.gpu_mode.value == "typical")
        return plans, [p for _, p, _ in plans if p is not None]

    def _signature(self):
        return self.gpu_mode.value

    def update(self, res):
        base = res.scenario
        typical = self.gpu_mode.value == "typical"
        plans, ev = plan_book(self.model).get(res, ("compare", id(self)))
        ok = [(p, sc) for p, sc, _ in plans if sc is not None]
        head = ["link", *(["GPU"] if typical else []), "GB/s", "µs/hop", "TTFT ms", "TPOT ms",
                "tokens/s", "comm", "bound by", *(["GB/GPU"] if typical else []), "fits"]
        rows = []
        if ok:
            y = np.array([ev["breakdown"][c] for c in CATS]) * 1e3
            names = [p for p, _ in ok]
            cur = [p == base.interconnect and sc.gpu == base.gpu for p, sc in ok]
            with hold(self.fig, self.bars, self.xs, self.ys):
                self.xs.domain = names
                self.bars.x, self.bars.y = names, y
                self.bars.opacities = highlight(cur)
                self.ys.max = float(y.sum(axis=0).max() * 1.08 or 1.0)
            self.values = {"presets": names, "tpot_s": ev["tpot_s"], "ttft_s": ev["ttft_s"],
                           "output_tokens_per_s": ev["output_tokens_per_s"],
                           "communication_s": ev["breakdown"]["communication"]}
            for i, (p, sc) in enumerate(ok):
                link = get_interconnect(p)
                tpot = ev["tpot_s"][i]
                comm = ev["breakdown"]["communication"][i] / tpot if tpot > 0 else 0.0
                fits = bool(ev["fits"][i])
                rows.append(
                    f'<tr class="{"cur" if cur[i] else ""}"><td>{esc(p)}</td>'
                    + (f"<td>{esc(sc.gpu)}</td>" if typical else "") +
                    f"<td>{link.bw_gbps:g}</td><td>{link.latency_s * 1e6:g}</td>"
                    f"<td>{ev['ttft_s'][i] * 1e3:.2f}</td><td>{tpot * 1e3:.3f}</td>"
                    f"<td>{ev['output_tokens_per_s'][i]:,.1f}</td><td>{comm:.0%}</td>"
                    f"<td>{LABELS[int(ev['bottleneck_code'][i])].lower().replace('-bound', '')}</td>"
                    + (f"<td>{ev['memory']['total'][i] / 1e9:.1f}</td>" if typical else "") +
                    f'<td style="color:{"inherit" if fits else palette.ERROR}">{"yes" if fits else "no"}</td></tr>')
        for p, sc, note in plans:
            if sc is None:
                rows.append(f'<tr><td>{esc(p)}</td><td colspan="{len(head) - 1}" style="text-align:left;'
                            f'color:{palette.ERROR}">{esc(note)}</td></tr>')
        self.table.value = ('<table class="nx-table"><tr>' + "".join(f"<th>{h}</th>" for h in head)
                            + "</tr>" + "".join(rows) + "</table>")
        self.set_header("Compare interconnects",
                        f"{esc(base.model)}, tp={base.tp} pp={base.pp}, batch {base.batch}")
