"""Measurement rows -> scenarios -> stacked closed-form parameters (part of ``validate``).

``scenario_for(row)`` is the definition: the :class:`~kernel_model.Scenario` of one
inference row. ``map_rows`` gives the same result for a whole checked table without a
Scenario per row: rows sharing model, GPU, link, runtime, precision (weight bits, the
row's weight format: :func:`row_format`, KV bits) and plan form a group;
one Scenario per group is checked (at the group's smallest and largest batch / prompt /
output, the only fields that vary inside it) and ``simulate.params`` is built once, then
``B``, ``p``, ``o`` and ``ctx`` become per-row arrays. A group where that shortcut does not
hold (a check that passes at the extremes but not between, or other parameters that
depend on those fields) is mapped row by row, so the result always equals ``scenario_for``.
Saturation rows (``validate_io.SATURATION_METRICS``, batch 0) get ``SATURATION_STATUS``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .calibration import Calibration, numeric_fields
from .runtime import get_runtime
from .scenario import Scenario
from . import tables
from .simulate import params
from .validate_io import METRICS, SATURATION_METRICS, SATURATION_STATUS, Table

GPUS_PER_NODE = 8
GROUP_KEYS = ("model", "gpu", "interconnect", "runtime", "weight_bits", "weight_format",
              "kv_bits", "tp", "pp", "ep")
ROW_FIELDS = ("batch", "prompt_tokens", "output_tokens")
ROW_PARAMS = ("B", "p", "o", "ctx")          # the entries of params() that ROW_FIELDS set


def efficiency_dict(calibration) -> dict | None:
    """``Scenario(efficiency=...)`` overrides from a Calibration, a dict or a profile path."""
    if calibration is None:
        return None
    if isinstance(calibration, Calibration):
        out = {f: getattr(calibration, f) for f in numeric_fields()}
        if calibration.families:
            out["families"] = {k: dict(v) for k, v in calibration.families.items()}
        if calibration.runtimes:
            out["runtimes"] = {k: dict(v) for k, v in calibration.runtimes.items()}
        return out
    if isinstance(calibration, dict):
        return {k: v for k, v in calibration.items() if k != "source"}
    if isinstance(calibration, (str, os.PathLike)):
        from .calibrate import load_profile
        return efficiency_dict(load_profile(calibration))
    raise ValueError(f"calibration={calibration!r} is not allowed: must be a Calibration, "
                     f"a dict of calibration fields or the path of a JSON profile")


def _plan_text(tp, pp, ep) -> str:
    return f"tp={tp} x pp={pp}" + (f" (ep={ep})" if ep > 1 else "")


def scenario_for(row: dict, efficiency: dict | None = None) -> tuple[Scenario, str]:
    """The Scenario of one inference row and a note (data-parallel replicas).

    Raises ``ValueError`` with the reason when the row cannot be simulated.
    """
    tp, pp, ep, n = row["tp"], row["pp"], row["ep"], row["num_gpus"]
    plan = max(tp, ep) * pp
    note = ""
    if n < plan:
        raise ValueError(f"impossible plan: {_plan_text(tp, pp, ep)} needs {plan} GPUs but "
                         f"num_gpus={n}")
    if n % plan:
        raise ValueError(f"num_gpus={n} is not a multiple of the {plan} GPUs of "
                         f"{_plan_text(tp, pp, ep)}")
    if n > plan:
        note = (f"{n // plan} data-parallel replicas of the {plan}-GPU plan "
                f"(per-request latency of one replica)")
    fmt, fmt_reason = row_format(row)
    sc = Scenario(**_kw({**row, "weight_format": fmt}, efficiency),
                  **{f: row[f] for f in ROW_FIELDS})
    if sc.runtime != "compiled":
        note = "; ".join(x for x in (note, f"{sc.runtime} runtime: {row.get('runtime_reason', '')}") if x)
    if fmt_reason:
        note = "; ".join(x for x in (note, f"{fmt} ({fmt_reason})") if x)
    return sc, note


def row_format(row: dict) -> tuple[str, str]:
    """(weight format, reason) of a row: its ``weight_format`` (column), else the format its
    notes name (``formats.format_from_notes``), else "auto" (the closest to weight_bits).
    Raises ``ValueError`` where the notes name a format of other bits than weight_bits."""
    from .formats import format_from_notes
    from .hardware import get_gpu
    if row.get("weight_format") and row["weight_format"] != "auto":
        return row["weight_format"], ("weight_format column" if "notes" in row else "")
    notes = row.get("notes") or ""
    if not notes:
        return "auto", ""
    name, reason = format_from_notes(notes, row["weight_bits"], get_gpu(row["gpu"]))
    return (name, reason) if not reason.startswith("closest") else ("auto", "")


def _kw(row, efficiency) -> dict:
    intra, _, inter = str(row["interconnect"]).partition("+")   # "nvlink4+ib_ndr": multi-node
    return dict(model=row["model"], gpu=row["gpu"], interconnect=intra,
                tp=row["tp"], pp=row["pp"], ep=row["ep"], weight_bits=row["weight_bits"],
                weight_format=row.get("weight_format") or "auto", kv_bits=row.get("kv_bits", 16),
                gpus_per_node=GPUS_PER_NODE, inter_node=inter or "auto",
                runtime=row.get("runtime", "compiled"), efficiency=efficiency)


@dataclass
class Group:
    """Rows (``pos``: positions among the simulated rows) sharing one Scenario but for
    ``ROW_FIELDS`` (``vals``: field -> int array); ``per_row`` when mapped row by row."""
    kw: dict
    pos: np.ndarray
    vals: dict
    per_row: bool = False


@dataclass
class Mapping:
    status: np.ndarray                    # per table row: "ok" or why not simulated
    note: np.ndarray                      # per table row
    inf_index: np.ndarray                 # table rows simulated in closed form
    groups: list = field(default_factory=list)
    families: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    runtimes: np.ndarray = field(default_factory=lambda: np.zeros(0, object))   # profile names
    replicas: np.ndarray = field(default_factory=lambda: np.zeros(0))   # data-parallel copies
    weight_format: np.ndarray = None      # per table row: the format run (simulated rows),
                                          # the weight_format column's otherwise


def _plan_checks(num, rows):
    """Status / replica note per row in ``rows`` from the plan alone (vectorised)."""
    n, tp, pp, ep = (num[c][rows].astype(np.int64) for c in ("num_gpus", "tp", "pp", "ep"))
    plan = np.maximum(tp, ep) * pp
    status = np.full(len(rows), "", dtype=object)
    note = np.full(len(rows), "", dtype=object)
    bad = np.flatnonzero((n < plan) | (n % plan != 0))
    if len(bad):
        combos = pd.DataFrame({"tp": tp[bad], "pp": pp[bad], "ep": ep[bad], "n": n[bad]})
        codes, uniq = pd.factorize(pd.MultiIndex.from_frame(combos))
        texts = []
        for t, p, e, k in uniq:
            try:
                scenario_for({"tp": int(t), "pp": int(p), "ep": int(e), "num_gpus": int(k)})
            except ValueError as err:
                texts.append(f"cannot simulate: {err}")
        status[bad] = np.array(texts, dtype=object)[codes]
    rep = n > plan
    if rep.any():
        key = pd.Series(n[rep] // plan[rep]).astype(str) + "|" + pd.Series(plan[rep]).astype(str)
        codes, uniq = pd.factorize(key)
        texts = np.array([f"{a} data-parallel replicas of the {b}-GPU plan (per-request latency "
                          f"of one replica)" for a, b in (u.split("|") for u in uniq)], dtype=object)
        note[rep] = texts[codes]
    return status, note


def _codes(*cols) -> tuple[np.ndarray, np.ndarray]:
    """(code per row, first row of each code) of the distinct combinations of ``cols``
    (arrays of one length, no missing values); codes in order of first appearance."""
    key, card = np.zeros(len(cols[0]), dtype=np.int64), 1
    for c in cols:
        codes, uniq = pd.factorize(c)
        if card * (len(uniq) + 1) >= 2 ** 62:                     # re-number: no overflow
            key = pd.factorize(key)[0]
            card = int(key.max()) + 1
        key, card = key * (len(uniq) + 1) + codes, card * (len(uniq) + 1)
    key = pd.factorize(key)[0]
    first = np.full(int(key.max()) + 1 if len(key) else 0, len(key), dtype=np.int64)
    np.minimum.at(first, key, np.arange(len(key)))
    return key, first


def _row_formats(tab: Table, rows: np.ndarray):
    """(format, reason, error) per row of ``rows``: :func:`row_format` once per distinct
    (weight_format column, notes, weight_bits, GPU)."""
    if not len(rows):
        return (np.zeros(0, dtype=object),) * 3
    gpu = tab.text["gpu"].to_numpy(dtype=object)
    code, first = _codes(tab.weight_format[rows], tab.notes[rows],
                         tab.num["weight_bits"][rows], gpu[rows])
    out = []
    for i in rows[first]:
        try:
            out.append(row_format({"weight_format": tab.weight_format[i], "notes": tab.notes[i],
                                   "weight_bits": int(tab.num["weight_bits"][i]),
                                   "gpu": gpu[i]}) + ("",))
        except ValueError as e:
            out.append(("", "", f"cannot simulate: {e}"))
    arr = np.array(out, dtype=object).reshape(-1, 3)[code]
    return arr[:, 0], arr[:, 1], arr[:, 2]


def _notes(plan_note, rt, rt_why, fmt, fmt_why) -> np.ndarray:
    """The note of each simulated row: replicas; runtime and why; format and why (as
    :func:`scenario_for`), built once per distinct combination."""
    code, first = _codes(plan_note, rt, rt_why, fmt, fmt_why)
    texts = []
    for i in first:
        parts = [plan_note[i], f"{rt[i]} runtime: {rt_why[i]}" if rt[i] != "compiled" else "",
                 f"{fmt[i]} ({fmt_why[i]})" if fmt_why[i] else ""]
        texts.append("; ".join(x for x in parts if x))
    return np.array(texts, dtype=object)[code] if len(code) else np.zeros(0, dtype=object)


def _split(cols) -> list[np.ndarray]:
    """Row positions of each distinct combination of ``cols``, in order of first appearance
    (each ascending)."""
    code, _ = _codes(*cols)
    order = np.argsort(code, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(code[order])) + 1)


INT_KEYS = ("weight_bits", "kv_bits", "tp", "pp", "ep")


def map_rows(tab: Table, rows: np.ndarray, runtimes, efficiency) -> Mapping:
    """Map the inference rows ``rows`` (known metric) of a checked table (see module doc)."""
    df, num = tab.text, tab.num
    n_all = len(df)
    status = np.full(n_all, "", dtype=object)
    note = np.full(n_all, "", dtype=object)
    sat = ~tab.is_train & df["metric"].isin(SATURATION_METRICS).to_numpy()
    status[sat] = SATURATION_STATUS
    wf = np.where(tab.is_train, None, tab.weight_format).astype(object)
    if not len(rows):
        return Mapping(status=status, note=note, inf_index=np.zeros(0, dtype=int),
                       weight_format=wf)
    st, nt = _plan_checks(num, rows)
    if tab.link_note is not None:
        ln = tab.link_note[rows]
        nt = np.where(ln == "", nt, np.where(nt == "", ln, nt + "; " + ln))
    status[rows], note[rows] = st, nt
    cand = rows[st == ""]
    fmt, why, ferr = _row_formats(tab, cand)
    status[cand[ferr != ""]] = ferr[ferr != ""]
    fmt_of, why_of = np.full(n_all, "", dtype=object), np.full(n_all, "", dtype=object)
    fmt_of[cand], why_of[cand] = fmt, why
    cand = cand[ferr == ""]
    rt, rt_why = runtimes
    text = {c: df[c].to_numpy(dtype=object) for c in ("model", "gpu", "interconnect")}
    cols = [text[c][cand] for c in ("model", "gpu", "interconnect")] + [rt[cand], fmt_of[cand]]
    ok_rows, groups_rows = [], []
    for idx in (_split(cols + [num[c][cand] for c in INT_KEYS]) if len(cand) else []):
        r = cand[idx]
        first = r[0]
        kw = _kw({**{c: text[c][first] for c in text}, "runtime": rt[first],
                  "weight_format": fmt_of[first], **{c: int(num[c][first]) for c in INT_KEYS}},
                 efficiency)
        vals = {c: num[c][r].astype(np.int64) for c in ROW_FIELDS}
        good, msgs = _check_group(kw, vals)
        status[r] = np.where(good, "ok", msgs)
        ok_rows.append(r[good])
        groups_rows.append((kw, r, good, msgs is not None))
    inf_index = np.sort(np.concatenate(ok_rows)) if ok_rows else np.zeros(0, dtype=int)
    where = np.full(n_all, -1, dtype=np.int64)
    where[inf_index] = np.arange(len(inf_index))
    groups = []
    fam, rts = np.empty(len(inf_index), dtype=object), np.empty(len(inf_index), dtype=object)
    for kw, r, good, per_row in groups_rows:
        r = r[good]
        if not len(r):
            continue
        g = Group(kw=kw, pos=where[r], vals={c: num[c][r].astype(np.int64) for c in ROW_FIELDS},
                  per_row=per_row)
        groups.append(g)
        sc = Scenario(**kw, **{c: int(g.vals[c][0]) for c in ROW_FIELDS})
        fam[g.pos], rts[g.pos] = sc.gpu_spec().family, get_runtime(sc.runtime).name
        wf[r] = sc.weight_format_spec().name
    note[status != "ok"] = ""                  # notes describe simulated rows only
    ii = inf_index
    if len(ii):
        note[ii] = _notes(note[ii], rt[ii], rt_why[ii], fmt_of[ii], why_of[ii])
    tp, pp, ep = (num[c][ii] for c in ("tp", "pp", "ep"))
    replicas = num["num_gpus"][ii] / (np.maximum(tp, ep) * pp)
    return Mapping(status=status, note=note, inf_index=inf_index, groups=groups,
                   families=fam, runtimes=rts, replicas=replicas, weight_format=wf)


def _check_group(kw, vals):
    """(ok per row, None) when one Scenario check at the extremes covers the group;
    else (ok per row, status per row) from a Scenario per row."""
    lo = {c: int(v.min()) for c, v in vals.items()}
    hi = {c: int(v.max()) for c, v in vals.items()}
    n = len(vals["batch"])
    errs = []
    for at in (lo, hi):
        try:
            Scenario(**kw, **at)
            errs.append(None)
        except ValueError as e:
            errs.append(str(e))
    if errs == [None, None]:
        return np.ones(n, dtype=bool), None
    if errs[0] is not None and errs[0] == errs[1]:
        # the same reason at both extremes: the row fields' checks are bounds, so every
        # row in between meets the same one (a reason naming a row value would differ)
        return np.zeros(n, dtype=bool), np.full(n, f"cannot simulate: {errs[0]}", dtype=object)
    good = np.zeros(n, dtype=bool)
    msgs = np.full(n, "ok", dtype=object)
    for j in range(n):
        try:
            Scenario(**kw, **{c: int(vals[c][j]) for c in ROW_FIELDS})
            good[j] = True
        except ValueError as e:
            msgs[j] = f"cannot simulate: {e}"
    return good, msgs


def _same(a, b, skip=()) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        if k in skip:
            continue
        if k == "link":
            if not _same(a[k], b[k]):
                return False
        elif not (a[k] == b[k] or (a[k] != a[k] and b[k] != b[k])):
            return False
    return True


def stack_params(groups: list, n: int, efficiency=None, override=False) -> dict | None:
    """The stacked ``simulate.params`` of the simulated rows (arrays of length ``n``).
    ``override``: build with ``efficiency`` instead of each group's own."""
    if not groups or n == 0:
        return None
    P = {}
    for g in groups:
        kw = dict(g.kw, efficiency=efficiency) if override else g.kw
        rows = _group_params(g, kw)
        for Pi, sel in rows:
            if not P:
                P = {k: np.empty(n) for k in Pi if k != "link"}
                P["link"] = {k: np.empty(n) for k in Pi["link"]}
            for k, v in Pi.items():
                if k == "link":
                    for lk, lv in v.items():
                        P["link"][lk][sel] = lv
                else:
                    P[k][sel] = v
    return P


def _group_params(g: Group, kw):
    """[(params, positions)]: once for the group with row arrays, or one per row."""
    def at(j):
        return params(Scenario(**kw, **{c: int(g.vals[c][j]) for c in ROW_FIELDS}))
    if not g.per_row:
        P0 = at(0)
        if len(g.pos) == 1 or _same(P0, at(len(g.pos) - 1), skip=ROW_PARAMS):
            # the same derivation as params(), with the row fields as arrays
            T = dict(Scenario(**kw, **{c: int(g.vals[c][0]) for c in ROW_FIELDS}).tables())
            T.update({c: g.vals[c].astype(float) for c in ROW_FIELDS})
            return [(tables.derive(T), g.pos)]
        g.per_row = True
    return [(at(j), g.pos[j]) for j in range(len(g.pos))]


def metric_scale(metrics: np.ndarray) -> tuple[np.ndarray, dict]:
    """Per-row scale to the file's unit, and {metric: boolean selection}."""
    sel = {m: metrics == m for m in METRICS}
    scale = np.ones(len(metrics))
    for m, (_, s, _) in METRICS.items():
        scale[sel[m]] = s
    return scale, sel
