"""Shared helpers: binding a view to a ScenarioModel, unit formatting, plans evaluated with the result."""
from __future__ import annotations

import html
import sys
import weakref

from kernel_model import Scenario
from kernel_model.model_object import ScenarioModel
from kernel_model.stack import evaluate_scenarios, take_rows

_sim = sys.modules["kernel_model.simulate"]       # the module (the package exports the function)


def as_model(model=None, **fields) -> ScenarioModel:
    """A ScenarioModel to bind a view to.

    ``model`` may be a ScenarioModel (shared; ``fields`` are then applied to it), a model
    preset name (``"llama-2-70b"``), a Scenario, or None (defaults + ``fields``).
    """
    if isinstance(model, ScenarioModel):
        if fields:
            model.set(**fields)
        return model
    if isinstance(model, Scenario):
        return ScenarioModel(model, **fields)
    if model is not None:
        fields["model"] = model
    return ScenarioModel(**fields)


# ---- formatting (inputs in SI units: seconds, bytes, FLOPs) -------------------------------
_PREFIXES = (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3))


def fmt_time(s: float) -> str:
    """Seconds -> '11.65 ms' / '850.0 µs' / '1.23 s'."""
    s = float(s)
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def _fmt_si(x: float, unit: str) -> str:
    """``x`` ``unit``s with a decimal prefix and 3 significant digits: '1.5 GB', '12 B'."""
    x = float(x)
    for prefix, f in _PREFIXES:
        if x >= f:
            return f"{x / f:.3g} {prefix}{unit}"
    return f"{x:.0f} {unit}"


def fmt_bytes(b: float) -> str:
    """Bytes -> '1.5 GB' / '640 kB' / '12 B' (decimal prefixes)."""
    return _fmt_si(b, "B")


def fmt_flops(f: float) -> str:
    """FLOPs -> '2.1 TFLOP' / '340 MFLOP' / '12 FLOP'."""
    return _fmt_si(f, "FLOP")


def esc(x) -> str:
    """``x`` as text safe inside HTML."""
    return html.escape(str(x))


# ---- plans evaluated together with the result ---------------------------------------------
class PlanBook:
    """The plans that the charts bound to one ScenarioModel show besides its result (TP
    scaling, interconnect comparison), evaluated in the model's own stacked ``evaluate()``
    of each new result (``ScenarioModel.add_plan_provider``): one evaluation per change.

    A chart registers ``plans(scenario) -> (anything, [Scenario, ...])`` and a ``signature()``
    of its own settings (e.g. a toggle); :meth:`get` returns its (anything, evaluation).
    A chart whose plans were not in the model's evaluation (it was built after the change,
    or its signature changed: its toggle moved) is evaluated alone, in one stacked call.
    """

    def __init__(self, model: ScenarioModel):
        self._providers = {}              # key -> (weak method plans, weak method signature)
        self._res = None                  # weak reference to the result the entries are for
        self._entries = {}                # key -> (signature, anything, evaluation)
        self._offered = (None, {})        # (scenario, todo) last handed to the model
        self._model = weakref.ref(model)
        self.evaluations = 0              # own stacked evaluate() calls (for tests/benchmarks)
        model.add_plan_provider(self._offer)

    def register(self, key, plans, signature) -> None:
        self._providers[key] = (weakref.WeakMethod(plans), weakref.WeakMethod(signature))

    def _live(self):
        """(key, plans, signature) of every chart still alive (forgets the others)."""
        for k, (plans, signature) in list(self._providers.items()):
            p, s = plans(), signature()
            if p is None:
                del self._providers[k]
                continue
            yield k, p, s

    def _offer(self, sc) -> list:
        """Every chart's plans for ``sc``, for the model to evaluate with its result."""
        todo = {}
        for k, p, s in self._live():
            try:
                todo[k] = (s(), *p(sc))
            except ValueError:               # that chart reports it when it asks (get)
                continue
        self._offered = (sc, todo)
        return [x for _, _, scs in todo.values() for x in scs]

    def _fill(self, todo: dict, ev) -> None:
        i = 0
        for k, (s, obj, scs) in todo.items():
            self._entries[k] = (s, obj, take_rows(ev, slice(i, i + len(scs))) if scs else None)
            i += len(scs)

    def get(self, res, key):
        if self._res is None or self._res() is not res:
            self._res, self._entries = weakref.ref(res), {}
            model = self._model()
            ev = model.plan_evaluation(self._offer, res) if model is not None else None
            if ev is not None and self._offered[0] is res.scenario:
                self._fill(self._offered[1], ev)
        entry = self._entries.get(key)
        sig = self._providers[key][1]()()
        if entry is not None and entry[0] == sig:
            return entry[1], entry[2]
        todo = {k: (s(), *p(res.scenario)) for k, p, s in self._live()
                if k == key or k not in self._entries}
        stack = [sc for _, _, scs in todo.values() for sc in scs]
        ev = evaluate_scenarios(stack) if stack else None
        self.evaluations += ev is not None
        self._fill(todo, ev)
        entry = self._entries[key]
        return entry[1], entry[2]


_BOOKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def plan_book(model: ScenarioModel) -> PlanBook:
    """The :class:`PlanBook` shared by every chart bound to ``model``."""
    book = _BOOKS.get(model)
    if book is None:
        book = _BOOKS[model] = PlanBook(model)
    return book
