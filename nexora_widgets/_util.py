"""Shared helpers: binding a view to a ScenarioModel, unit formatting, vectorised sweeps."""
from __future__ import annotations

import html
import sys

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
def fmt_time(s: float) -> str:
    """Seconds -> '11.65 ms' / '850 µs' / '1.23 s'."""
    s = float(s)
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} µs"


def fmt_bytes(b: float) -> str:
    b = float(b)
    for unit, f in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= f:
            return f"{b / f:.3g} {unit}"
    return f"{b:.0f} B"


def fmt_flops(f: float) -> str:
    f = float(f)
    for unit, k in (("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6), ("kFLOP", 1e3)):
        if f >= k:
            return f"{f / k:.3g} {unit}"
    return f"{f:.0f} FLOP"


def esc(x) -> str:
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
    res = {k: np.broadcast_to(np.asarray(out[k], dtype=float), (n,)).copy()
           for k in ("tpot_s", "ttft_s", "e2e_s", "output_tokens_per_s")}
    res["fits"] = np.broadcast_to(np.asarray(out["fits"]), (n,)).copy()
    res["bottleneck_code"] = np.broadcast_to(np.asarray(out["bottleneck_code"]), (n,)).copy()
    for key in ("breakdown", "ttft_breakdown", "memory"):
        res[key] = {c: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()
                    for c, v in out[key].items()}
    return res
