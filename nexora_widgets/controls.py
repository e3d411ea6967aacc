"""``Controls``: dropdowns and sliders linked both ways to a ScenarioModel.

Each control is tied to one model field by a :class:`FieldLink` (a ``traitlets.link``
that never raises into the UI): a change the engine rejects shows its message and puts
the control back; a change that makes other fields invalid (a model whose heads tp does
not divide) moves those fields to the nearest valid value and says so. Sliders of tp, ep,
pp and micro-batches offer only the values the current model accepts.
"""
from __future__ import annotations

import ipywidgets as widgets
import traitlets

from kernel_model import list_gpus, list_interconnects, list_models, list_runtimes
from kernel_model.formats import WEIGHT_FORMATS

from . import palette
from ._util import as_model, esc
from .layout import style

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
PROMPTS = (16, 32, 64, 128, 200, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
OUTPUTS = (1, 16, 32, 64, 128, 200, 256, 512, 1024, 2048, 4096)
BITS = (4, 8, 16)


class FieldLink(traitlets.link):
    """Two-way link ``(model, field) <-> (widget, "value")`` that reports instead of raising.

    widget -> model goes through ``apply(value)`` (default: ``model.set(adapt=True, ...)``);
    a ``TraitError`` calls ``on_error(message)`` and restores the widget. model -> widget
    first calls ``prepare(value)`` so selection widgets can offer the new value.
    """

    def __init__(self, source, target, on_error, apply=None, prepare=None):
        self.on_error, self.apply, self.prepare = on_error, apply, prepare
        super().__init__(source, target)

    def link(self):
        if self.prepare:
            self.prepare(getattr(self.source[0], self.source[1]))
        super().link()

    def _update_target(self, change):             # model -> widget
        if self.updating:
            return
        with self._busy_updating():
            if self.prepare:
                self.prepare(change.new)
            setattr(self.target[0], self.target[1], change.new)

    def _update_source(self, change):             # widget -> model
        if self.updating:
            return
        model, name = self.source
        with self._busy_updating():
            try:
                if self.apply:
                    self.apply(change.new)
                else:
                    setattr(model, name, change.new)
            except traitlets.TraitError as e:
                self.on_error(str(e))
                setattr(self.target[0], self.target[1], getattr(model, name))

    def quiet(self):
        """Context in which the widget may change without touching the model."""
        return self._busy_updating()


def _with_value(options, value) -> tuple:
    """``options`` as a tuple, with ``value`` added in sorted place when it is missing."""
    return tuple(options) if value in options else tuple(sorted({*options, value}))


class Controls(widgets.VBox):
    """Every input of a scenario as a control, bound to ``model`` (a ScenarioModel, a model
    preset name, or None, plus Scenario fields)."""

    def __init__(self, model=None, css: bool = True, **fields):
        self.model = as_model(model, **fields)
        m = self.model
        self.message = widgets.HTML()
        wide = widgets.Layout(width="98%")
        st = {"description_width": "96px"}

        def dd(desc, options, tip):
            return widgets.Dropdown(options=options, description=desc, style=st, layout=wide,
                                    description_allow_html=False, tooltip=tip)

        def sel(desc, options, tip):
            return widgets.SelectionSlider(options=options, description=desc, style=st, layout=wide,
                                           continuous_update=False, tooltip=tip)

        w = {
            "model": dd("model", list_models(), "LLM preset"),
            "gpu": dd("GPU", list_gpus(), "GPU preset"),
            "interconnect": dd("interconnect", list_interconnects(), "link between the GPUs of a node"),
            "tp": sel("tensor par.", m.allowed("tp"), "GPUs sharing each layer (Megatron TP)"),
            "pp": sel("pipeline", m.allowed("pp"), "pipeline stages"),
            "ep": sel("expert par.", m.allowed("ep"), "GPUs holding different experts (MoE)"),
            "micro_batches": sel("micro-batches", m.allowed("micro_batches"), "pipeline micro-batches"),
            "batch": sel("batch", BATCHES, "sequences decoded together"),
            "prompt_tokens": sel("prompt tok.", PROMPTS, "tokens per prompt"),
            "output_tokens": sel("output tok.", OUTPUTS, "tokens generated per sequence"),
            "overlap": widgets.FloatSlider(min=0.0, max=1.0, step=0.05, description="comm overlap",
                                           style=st, layout=wide, continuous_update=False,
                                           readout_format=".2f",
                                           tooltip="share of communication that may hide behind compute"),
            "weight_format": dd("weight format", WEIGHT_FORMATS,
                                "number format of the weights (and of the math: fp8, nvfp4, "
                                "mxfp4 on GPUs with those tensor cores); auto: the closest "
                                "to the weight bits; a format sets the bits"),
            "weight_bits": sel("weight bits", BITS, "bits per weight (a new value returns an "
                                                    "explicit format of other bits to auto)"),
            "kv_bits": sel("KV bits", BITS, "bits per KV-cache element"),
            "comm_bits": sel("comm bits", BITS, "bits per communicated activation"),
            "algorithm": dd("collective", m.allowed("algorithm"), "all-reduce algorithm"),
            "comm_group": widgets.IntSlider(min=1, max=16, description="comm group", style=st,
                                            layout=wide, continuous_update=False,
                                            tooltip="collectives coalesced into one launch"),
            "flash_attention": widgets.Checkbox(description="FlashAttention", indent=False),
            "runtime": dd("runtime", list_runtimes(),
                          "compiled: CUDA graphs / C++ runtime; eager_server: Python server "
                          "without CUDA graphs (TGI < 2.0), host time per step"),
        }
        self.widgets = w
        self.links = {}
        for name, widget in w.items():
            self.links[name] = FieldLink((m, name), (widget, "value"), on_error=self.show_error,
                                         apply=self._applier(name), prepare=self._preparer(name))
        m.observe(self._model_changed, "result")
        m.observe(self._error_changed, "error")
        self._refresh_options()

        def group(title, names):
            return [widgets.HTML(f'<div class="nx-sub" style="margin:6px 0 0 2px"><b>{title}</b></div>')] + \
                   [w[n] for n in names]

        advanced = widgets.VBox([w["algorithm"], w["comm_group"], w["flash_attention"], w["runtime"]])
        self.advanced = widgets.Accordion(children=[advanced], titles=("collectives, kernels, runtime",),
                                          selected_index=None, layout=widgets.Layout(width="98%"))
        kids = [style()] if css else []
        kids += [widgets.HTML('<div class="nx-title">Scenario</div>')]
        kids += group("model & hardware", ["model", "gpu", "interconnect"])
        kids += group("parallelism", ["tp", "pp", "ep", "micro_batches"])
        kids += group("workload", ["batch", "prompt_tokens", "output_tokens"])
        kids += group("precision & overlap", ["weight_format", "weight_bits", "kv_bits", "comm_bits",
                                              "overlap"])
        kids += [self.advanced, self.message]
        super().__init__(children=kids, layout=widgets.Layout(width="330px", min_width="300px",
                                                              margin="4px", padding="6px 8px"))
        self.add_class("nx-card")
        self.add_class("nx-root")
        self.add_class("nx-controls")

    # ---- linking --------------------------------------------------------------------------
    def _applier(self, name):
        def apply(value):
            notes = self.model.set(adapt=True, **{name: value})
            self._show_notes(notes)
        return apply

    def _preparer(self, name):
        def prepare(value):
            widget = self.widgets[name]
            if hasattr(widget, "options") and value not in widget._options_values:
                widget.options = _with_value(widget._options_values, value)
        return prepare

    def _refresh_options(self):
        """Offer only the tp / ep / pp / micro-batch / algorithm values the engine accepts."""
        m = self.model
        for name in ("tp", "ep", "pp", "micro_batches", "algorithm"):
            widget, link = self.widgets[name], self.links[name]
            cur = getattr(m, name)
            allowed = _with_value(m.allowed(name), cur)
            if tuple(widget._options_values) != allowed:
                with link.quiet():
                    widget.options = allowed
                    widget.value = cur
            widget.disabled = len(allowed) <= 1

    def _model_changed(self, change):
        self._refresh_options()
        if not self.model.error:
            self.message.value = ""

    def _error_changed(self, change):
        if change.new:
            self.show_error(change.new)

    # ---- messages -------------------------------------------------------------------------
    def show_error(self, msg: str) -> None:
        self.message.value = (f'<div style="color:{palette.ERROR};font-size:12px;white-space:normal">'
                              f'✖ {esc(msg)}<br><span class="nx-sub">kept the last valid scenario</span></div>')

    def _show_notes(self, notes):
        self.message.value = ('<div style="color:#555;font-size:12px;white-space:normal">'
                              + "<br>".join(f"↻ {esc(n)}" for n in notes) + "</div>") if notes else ""
