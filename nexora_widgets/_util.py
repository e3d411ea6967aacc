"""Shared helpers: binding a view to a ScenarioModel, unit formatting, vectorised sweeps."""
from __future__ import annotations

import html
import sys
import weakref

import numpy as np

from kernel_model import Scenario
from kernel_model.model_object import ScenarioModel

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


# ---- vectorised evaluation of several scenarios ---------------------------------------------
def evaluate_many(scenarios: list[Scenario]) -> dict:
    """``simulate.evaluate`` of several scenarios at once (numbers only, no timeline).

    Returns the evaluate dict with numpy arrays of len(scenarios) (breakdowns and memory as
    dicts of arrays).
    """
    Ps = [_sim.params(sc) for sc in scenarios]
    P = {}
    for k, v in Ps[0].items():
        if k == "link":
            P[k] = {kk: np.array([p["link"][kk] for p in Ps], dtype=float) for kk in v}
        else:
            P[k] = np.array([p[k] for p in Ps], dtype=float)
    out = _sim.evaluate(P)
    n = len(scenarios)

    def per_plan(v, dtype=float):            # a scalar where no plan differs -> n values
        return np.broadcast_to(np.asarray(v, dtype=dtype), (n,)).copy()

    res = {k: per_plan(out[k]) for k in ("tpot_s", "ttft_s", "e2e_s", "output_tokens_per_s")}
    res["fits"] = per_plan(out["fits"], None)
    res["bottleneck_code"] = per_plan(out["bottleneck_code"], None)
    for key in ("breakdown", "ttft_breakdown", "memory"):
        res[key] = {c: per_plan(v) for c, v in out[key].items()}
    return res


def _take(ev: dict, sl: slice) -> dict:
    """The rows ``sl`` of an :func:`evaluate_many` result."""
    return {k: ({kk: vv[sl] for kk, vv in v.items()} if isinstance(v, dict) else v[sl])
            for k, v in ev.items()}


class PlanBook:
    """The plans that the charts bound to one ScenarioModel evaluate besides its result
    (TP scaling, interconnect comparison), evaluated together: one stacked ``evaluate()``
    per result for all of them.

    A chart registers ``plans(scenario) -> (anything, [Scenario, ...])`` and a ``signature()``
    of its own settings (e.g. a toggle); :meth:`get` returns its (anything, evaluation).
    When the result changes, the first chart to ask evaluates every registered chart's
    plans at once; a chart whose signature changed (its toggle moved) is evaluated alone.
    """

    def __init__(self):
        self._providers = {}              # key -> (weak method plans, weak method signature)
        self._res = None                  # weak reference to the result the entries are for
        self._entries = {}                # key -> (signature, anything, evaluation)
        self.evaluations = 0              # stacked evaluate() calls made (for tests/benchmarks)

    def register(self, key, plans, signature) -> None:
        self._providers[key] = (weakref.WeakMethod(plans), weakref.WeakMethod(signature))

    def get(self, res, key):
        if self._res is None or self._res() is not res:
            self._res, self._entries = weakref.ref(res), {}
        entry = self._entries.get(key)
        sig = self._providers[key][1]()()
        if entry is not None and entry[0] == sig:
            return entry[1], entry[2]
        todo = {}
        for k, (plans, signature) in list(self._providers.items()):
            p, s = plans(), signature()
            if p is None:                            # its chart is gone
                del self._providers[k]
                continue
            if k == key or k not in self._entries:
                todo[k] = (s(), *p(res.scenario))
        stack = [sc for _, _, scs in todo.values() for sc in scs]
        ev = evaluate_many(stack) if stack else None
        self.evaluations += ev is not None
        i = 0
        for k, (s, obj, scs) in todo.items():
            self._entries[k] = (s, obj, _take(ev, slice(i, i + len(scs))) if scs else None)
            i += len(scs)
        entry = self._entries[key]
        return entry[1], entry[2]


_BOOKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def plan_book(model: ScenarioModel) -> PlanBook:
    """The :class:`PlanBook` shared by every chart bound to ``model``."""
    book = _BOOKS.get(model)
    if book is None:
        book = _BOOKS[model] = PlanBook()
    return book
