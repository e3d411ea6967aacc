"""``Dashboard``: controls, metric cards, timeline, breakdown, memory, scaling and compare,
all bound to one ScenarioModel."""
from __future__ import annotations

import ipywidgets as widgets

from ._util import as_model
from .breakdown import BreakdownChart
from .cards import MetricCards
from .compare import Compare
from .controls import Controls
from .layout import CSS, Row
from .memory import MemoryChart
from .scaling import ScalingChart
from .serving import ServingChart
from .timeline import TimelineChart

RIGHT_MIN_WIDTH = "620px"

TITLE = ('<div style="display:flex;align-items:baseline;gap:12px;margin:2px 4px 6px 4px">'
         '<span style="font-size:20px;font-weight:700">nexora</span>'
         '<span class="nx-sub" style="font-size:13px">where the time of an LLM token goes on '
         'several GPUs: compute, HBM, communication, launches, pipeline bubbles</span></div>')


class Dashboard(widgets.VBox):
    """``Dashboard()`` or ``Dashboard(model="mixtral-8x7b", interconnect="pcie4_bad", tp=4)``
    or ``Dashboard(scenario_model)``; every part is an attribute (``.controls``,
    ``.cards``, ``.timeline``, ``.breakdown``, ``.memory``, ``.scaling``, ``.compare``,
    ``.serving``: the serving tab)."""

    def __init__(self, model=None, compare_presets=None, title: bool = True, **fields):
        self.model = as_model(model, **fields)
        m = self.model
        self.controls = Controls(m, css=False)
        self.cards = MetricCards(m, css=False)
        self.timeline = TimelineChart(m, css=False)
        self.breakdown = BreakdownChart(m, css=False)
        self.memory = MemoryChart(m, css=False)
        self.scaling = ScalingChart(m, css=False)
        self.compare = Compare(compare_presets, m, css=False)
        self.serving = ServingChart(m, css=False, active=False)
        self.memory.layout.width = "330px"
        # Reflow: the charts take the room beside the controls down to RIGHT_MIN_WIDTH, then
        # go below them (a projector at 1280 x 800, JupyterLab with its side panels open);
        # the breakdown and scaling charts sit side by side only while both keep 380 px.
        left = widgets.VBox([self.controls, self.memory],
                            layout=widgets.Layout(flex="0 0 auto", max_width="100%"))
        right = widgets.VBox([
            self.cards,
            self.timeline,
            Row([self.breakdown, self.scaling], min_child_width="380px"),
            self.compare,
        ], layout=widgets.Layout(flex="1 1 0", min_width="0"))
        right.add_class("nx-charts")
        # the serving chart joins its tab when first shown: figures laid out inside a hidden
        # tab get no size (negative bars and console errors in the browser)
        waiting = widgets.HTML('<div class="nx-sub">the serving simulation runs when this tab is shown</div>')
        tabs = widgets.Tab([right, waiting], titles=("one request", "serving"),
                           layout=widgets.Layout(flex=f"1 1 {RIGHT_MIN_WIDTH}",
                                                 min_width=f"min({RIGHT_MIN_WIDTH}, 100%)"))
        self.serving.follow(tabs, 1)            # simulates only while its tab is shown

        def place(change):
            if change.new == 1 and tabs.children[1] is not self.serving:
                tabs.children = (right, self.serving)
        tabs.observe(place, "selected_index")
        main = widgets.HBox([left, tabs],
                            layout=widgets.Layout(width="100%", align_items="flex-start",
                                                  flex_flow="row wrap"))
        super().__init__([widgets.HTML(CSS + (TITLE if title else "")), main],
                         layout=widgets.Layout(width="100%"))
        self.add_class("nx-root")
