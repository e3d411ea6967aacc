"""Stacked evaluation: T laid out over the axes of a grid (or along one axis for a list of
scenarios), then ``simulate.evaluate`` once per chunk for every model / GPU / link at once.

Every entry of ``T`` is an array whose shape is 1 except on the grid axes it depends on
(model facts on the model axis and the layer / expert override axes, link facts on the
gpu / interconnect / inter_node axes, a plan field on its own axis), or a Python float
when it depends on no axis of length > 1. ``tables.derive`` turns it into ``P`` and
``evaluate`` broadcasts: each intermediate is computed only over the axes it depends on,
and the result comes out in ``itertools.product`` order over the grid's keys.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import fields as _dc_fields, MISSING

import numpy as np

from . import tables, rules

from .tables import TABLES, MODEL_DEPS, LINK_DEPS, model_spec as _spec


def defaults() -> dict:
    from .scenario import Scenario
    return {f.name: (None if f.default is MISSING else f.default) for f in _dc_fields(Scenario)}


def table(keys, vals, base, deps, fn):
    """Rows of ``fn`` over the grid axes in ``deps`` (length > 1), as arrays shaped for
    broadcasting over the grid; Python floats when no such axis. Also returns the flat
    index of each combination (an int array of the same layout, or 0) and the combinations."""
    axes = [i for i, k in enumerate(keys) if k in deps and len(vals[k]) > 1]
    fixed = {d: (vals[d][0] if d in vals else base[d]) for d in deps}
    combos, rows = [], []
    for idx in itertools.product(*(range(len(vals[keys[a]])) for a in axes)):
        kw = dict(fixed)
        kw.update({keys[a]: vals[keys[a]][j] for a, j in zip(axes, idx)})
        combos.append(kw)
        rows.append(fn(**kw))
    if not axes:
        return dict(rows[0]), 0, combos
    shape = [1] * len(keys)
    for a in axes:
        shape[a] = len(vals[keys[a]])
    out = {name: np.array([r[name] for r in rows], dtype=float).reshape(shape) for name in rows[0]}
    return out, np.arange(len(rows), dtype=np.int32).reshape(shape), combos


def axis_array(keys, key, values):
    """The values of grid key ``key`` as a float array along its axis (a float if one)."""
    if len(values) == 1:
        return float(values[0])
    shape = [1] * len(keys)
    shape[keys.index(key)] = len(values)
    return np.asarray(values, dtype=float).reshape(shape)


def build_T(keys, vals):
    """T over the grid, plus what the error messages need: (T, index arrays, combos)."""
    base = defaults()
    T, index, combos = {}, {}, {}
    for deps, fn in TABLES:
        rows, idx, cmb = table(keys, vals, base, deps, fn)
        T.update(rows)
        index[deps], combos[deps] = idx, cmb
    for f in tables.PLAN_FIELDS:
        T[f] = axis_array(keys, f, vals[f]) if f in vals else float(base[f])
    for f in ("link_bw_gbps", "link_latency_us"):
        if f in vals:
            T[f] = axis_array(keys, f, vals[f])
    return T, index, combos


def error_codes(keys, vals, T, index, combos):
    """(message code array over the grid's axes (0: valid), sorted list of messages; index
    0 is "")."""
    code = rules.plan_codes(T)
    if not np.any(code):
        return np.zeros(np.shape(code), dtype=np.int16), [""]
    mi, li = index[MODEL_DEPS], index[LINK_DEPS]
    nm, nl = len(combos[MODEL_DEPS]), len(combos[LINK_DEPS])
    key = np.asarray(code, dtype=np.int64) * (nm * nl) + np.asarray(mi) * nl + np.asarray(li)
    used = np.flatnonzero(np.bincount(key.ravel(), minlength=1))
    msgs, lut = [""], np.zeros(int(used.max()) + 1, dtype=np.int16)
    for u in used:
        c, rest = divmod(int(u), nm * nl)
        if c == 0:
            continue
        m, l = divmod(rest, nl)
        mc, lc = combos[MODEL_DEPS][m], combos[LINK_DEPS][l]
        spec = _spec(**mc)
        row = tables.model_row(spec)
        ctx = {"model": spec.name, "nh": row["nh"], "nkv": row["nkv"], "L": row["L"],
               "E": row["E"], "k": row["k"], "interconnect": lc["interconnect"], "fmt_bits": 0}
        text = rules.plan_message(c, ctx)
        if text not in msgs:
            msgs.append(text)
        lut[u] = msgs.index(text)
    # sorted messages ("" first): the same categories whichever part of a grid is swept
    order = sorted(range(len(msgs)), key=msgs.__getitem__)
    rank = np.empty(len(msgs), dtype=np.int16)
    rank[order] = np.arange(len(msgs), dtype=np.int16)
    return rank[lut][key], [msgs[i] for i in order]


def chunks(shape, target):
    """Index tuples splitting an array of ``shape`` into C-contiguous blocks of <= ~target
    elements (leading axes single indices, one axis a range, trailing axes whole)."""
    k = len(shape)
    s = k
    while s > 0 and math.prod(shape[s - 1:]) <= target:
        s -= 1
    if s == 0:
        yield tuple(slice(None) for _ in shape)
        return
    trail = math.prod(shape[s:])
    step = max(1, target // trail)
    for lead in np.ndindex(*shape[:s - 1]):
        for a in range(0, shape[s - 1], step):
            yield tuple(slice(i, i + 1) for i in lead) + (slice(a, min(a + step, shape[s - 1])),) \
                + tuple(slice(None) for _ in shape[s:])


def take(P, sl):
    """The block ``sl`` of every array in ``P`` (and ``P["link"]``); size-1 axes stay whole."""
    def cut(a):
        if isinstance(a, np.ndarray) and a.ndim:
            return a[tuple(s if n > 1 else slice(None) for s, n in zip(sl, a.shape))]
        return a
    out = {k: cut(v) for k, v in P.items() if k != "link"}
    out["link"] = {k: cut(v) for k, v in P["link"].items()}
    return out


def scenarios_T(scenarios) -> dict:
    """T of a list of Scenarios stacked along one axis (length n)."""
    rows = [sc.tables() for sc in scenarios]
    out = {}
    for k in rows[0]:
        col = [r[k] for r in rows]
        first = col[0]
        out[k] = first if all(c == first for c in col) else np.array(col, dtype=float)
    return out


def evaluate_scenarios(scenarios) -> dict:
    """Every headline number of a list of scenarios (Scenario objects or dicts) in ONE
    stacked ``evaluate()``: for views that show several scenarios at once (a scaling chart
    over tp, a comparison of interconnects) and must not run the closed form per point.

    Returns numpy arrays of length n (``tpot_s ttft_s e2e_s output_tokens_per_s num_gpus
    fits``), ``breakdown`` / ``ttft_breakdown`` / ``memory`` dicts of such arrays,
    ``bottleneck`` / ``dominant`` lists of labels, and ``P`` / ``raw`` (the derived
    parameters and ``evaluate``'s own output, for per-kernel views such as a roofline).
    Row i equals ``simulate(scenarios[i])`` (to 1e-12; a test checks it).
    """
    from .scenario import Scenario
    from .simulate import evaluate
    from .insight import LABELS
    from .schedule import CATEGORIES
    scs = [s if isinstance(s, Scenario) else Scenario.from_dict(s) for s in scenarios]
    if not scs:
        raise ValueError("evaluate_scenarios needs at least one scenario")
    n = len(scs)
    P = tables.derive(scenarios_T(scs))
    with np.errstate(all="ignore"):
        r = evaluate(P)

    def vec(x, dtype=float):
        return np.broadcast_to(np.asarray(x, dtype=dtype), (n,)).copy()

    bott, dom = vec(r["bottleneck_code"], int), vec(r["dominant_code"], int)
    return {
        "tpot_s": vec(r["tpot_s"]), "ttft_s": vec(r["ttft_s"]), "e2e_s": vec(r["e2e_s"]),
        "output_tokens_per_s": vec(r["output_tokens_per_s"]),
        "num_gpus": np.array([sc.num_gpus for sc in scs]),
        "fits": vec(r["fits"], bool),
        "breakdown": {c: vec(r["breakdown"][c]) for c in CATEGORIES},
        "ttft_breakdown": {c: vec(r["ttft_breakdown"][c]) for c in CATEGORIES},
        "memory": {k: vec(v) for k, v in r["memory"].items()},
        "bottleneck": [LABELS[i] for i in bott], "dominant": [CATEGORIES[i] for i in dom],
        "bottleneck_code": bott,
        "scenarios": scs, "P": P, "raw": r,
    }


def row(tree, i: int):
    """Row ``i`` of a stacked ``P`` or ``evaluate`` output (nested dicts / tuples / lists of
    length-n arrays and of Python scalars shared by every row), as the length-1 case holds
    it: arrays become Python scalars, everything else is kept."""
    t = type(tree)
    if t is float:
        return tree
    if t is np.ndarray:
        return tree.item() if tree.ndim == 0 else tree[i].item()
    if t is dict:
        return {k: row(v, i) for k, v in tree.items()}
    if t is tuple or t is list:
        return t([row(v, i) for v in tree])
    return row(np.asarray(tree), i) if isinstance(tree, np.ndarray) else tree


def result_of(ev: dict, i: int = 0):
    """``simulate(ev["scenarios"][i])`` built from row ``i`` of an :func:`evaluate_scenarios`
    output, without evaluating again (equal to it to 1e-12; a test checks it)."""
    from .simulate import result_from
    return result_from(ev["scenarios"][i], row(ev["P"], i), row(ev["raw"], i))


def take_rows(ev: dict, sl: slice) -> dict:
    """The rows ``sl`` of an :func:`evaluate_scenarios` output (the headline numbers and
    ``scenarios``; ``P`` / ``raw`` are left out)."""
    return {k: ({kk: vv[sl] for kk, vv in v.items()} if isinstance(v, dict) else v[sl])
            for k, v in ev.items() if k not in ("P", "raw")}
