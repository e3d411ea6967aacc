"""Fit the calibration parameters to a measurements file; save and load profiles.

    cal, rep = fit("measurements.csv")          # bounded derivative-free search (numpy only)
    save_profile(cal, "my_cluster.json", rep)
    km.simulate(model=..., efficiency=efficiency_dict(load_profile("my_cluster.json")))
    validate("measurements.csv", calibration="my_cluster.json")

Only the named, physical :class:`~kernel_model.calibration.Calibration` fields are fitted,
the same values for every row (no per-row or per-source factors): differences between
GPUs and links come from their own specs. Each field has physically sensible bounds
(``BOUNDS``): efficiencies are fractions of the datasheet peak, overheads are µs-scale.

The search works in a unit cube (log scale for the overheads and the roofline exponent):
a compass / pattern search (each coordinate up and down, halving the step when nothing
improves) followed by a bounded Nelder-Mead polish. The loss is the MAPE (%) of the rows
that can be simulated, or the mean |log(predicted / measured)| (``loss="log"``).
"""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd

from . import calibration as _calmod
from .calibration import Calibration
from .scenario import Scenario
from .runtime import get_runtime, RUNTIMES
from .simulate import params
from . import validate as V
from .calibrate_search import _to_unit, _from_unit, pattern_search, nelder_mead

# name: (low, high, scale, unit, meaning)
BOUNDS = {
    "flops_efficiency": (0.3, 1.0, "lin", "fraction", "achieved / dense peak FLOP/s of GEMMs"),
    "attention_efficiency": (0.3, 1.0, "lin", "fraction", "achieved / peak FLOP/s of attention"),
    "hbm_efficiency": (0.3, 0.95, "lin", "fraction", "achieved / peak HBM bandwidth"),
    "launch_overhead_s": (0.5e-6, 30e-6, "log", "s", "gap per kernel launch"),
    "collective_overhead_s": (1e-6, 100e-6, "log", "s", "fixed cost per collective call"),
    "collective_step_s": (0.0, 40e-6, "lin", "s", "extra latency per collective algorithm step"),
    "direct_allreduce_max_bytes": (6.4e4, 6.4e7, "log", "bytes", "largest one/two-shot all-reduce"),
    "step_overhead_s": (0.0, 2e-3, "lin", "s", "host work per decode step"),
    "eager_server_step_s": (0.0, 50e-3, "lin", "s", "host time per forward pass, eager_server runtime"),
    "roofline_exponent": (1.0, 10.0, "log", "", "n in (compute^n + memory^n)^(1/n)"),
}
DEFAULT_PARAMS = ("flops_efficiency", "attention_efficiency", "hbm_efficiency",
                  "launch_overhead_s", "collective_overhead_s", "step_overhead_s",
                  "eager_server_step_s", "roofline_exponent")
LOSSES = ("mape", "log")
PROFILE_FORMAT = "nexora-calibration"


def numeric_fields() -> list[str]:
    return _calmod.numeric_fields()


def engine_default() -> Calibration:
    """The calibration the engine uses now (``kernel_model.calibration.DEFAULT``)."""
    return _calmod.DEFAULT


# ---- profiles ------------------------------------------------------------------------------
def make_calibration(values: dict, source: str | None = None, base: Calibration | None = None) -> Calibration:
    """A Calibration from ``values`` (field -> number) over ``base`` (engine default);
    unknown fields and out-of-range values raise ``ValueError`` naming them."""
    base = base or engine_default()
    kw = {k: v for k, v in values.items() if k != "source"}
    kw = {k: (float(v) if isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) else v)
          for k, v in kw.items()}
    cal = base.replace(**kw)
    if source is not None:
        cal = cal.replace(source=source)
    return cal


def _jsonable(x):
    if isinstance(x, pd.DataFrame):
        return x.to_dict(orient="records")
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def save_profile(cal: Calibration, path, report: dict | None = None) -> str:
    """Write ``cal`` (and, if given, the fit report) as a JSON calibration profile."""
    if not isinstance(cal, Calibration):
        raise ValueError(f"save_profile needs a Calibration, got {type(cal).__name__}")
    doc = {"format": PROFILE_FORMAT, "version": 1, "calibration": cal.to_dict(),
           "units": {k: BOUNDS[k][3] for k in numeric_fields() if k in BOUNDS}}
    if report:
        doc["fit"] = _jsonable({k: v for k, v in report.items() if k != "frame"})
    path = os.fspath(path)
    try:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
    except OSError as e:
        raise ValueError(f"{path}: cannot write calibration profile ({e.strerror or e})") from None
    return path


def load_profile(path) -> Calibration:
    """Read a JSON calibration profile (``{"calibration": {field: value}}`` or a flat
    ``{field: value}``); missing fields keep the engine's defaults."""
    from ._files import read_text_file, MAX_CONFIG_BYTES
    path = os.fspath(path)
    try:
        text = read_text_file(path, MAX_CONFIG_BYTES, "calibration profile")
    except ValueError as e:
        msg = str(e)
        if msg.endswith("does not exist"):
            msg = f"{path}: no such calibration profile"
        raise ValueError(msg) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if isinstance(doc, dict) and "calibration" in doc:
        values = doc["calibration"]
    else:
        values = doc
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a calibration profile must be a JSON object of "
                         f"calibration fields ({', '.join(numeric_fields())})")
    try:
        return make_calibration(values, source=str(values.get("source") or f"profile {path}"))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


# ---- how calibration fields enter the closed form ------------------------------------------
_KEYS = None


def calibration_keys() -> dict:
    """{Calibration field: key of ``simulate.params`` that holds it verbatim, or None}.

    Found by perturbing each field on a reference scenario, so the fast path follows the
    engine; a field that does not map one-to-one is refitted through ``params`` (slow path).
    """
    global _KEYS
    if _KEYS is not None:
        return _KEYS
    ref = Scenario(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=2)
    base = params(ref)
    cur = ref.calibration()
    keys = {}
    for f in numeric_fields():
        v0 = float(getattr(cur, f))
        v = v0 * 0.9 if f.endswith("efficiency") else v0 * 1.5 + 1.25e-6
        Pv = params(ref.replace(efficiency={f: v}))
        changed = [k for k in base if k != "link" and not np.array_equal(base[k], Pv[k])]
        link_changed = any(base["link"][k] != Pv["link"][k] for k in base["link"])
        ok = (len(changed) == 1 and not link_changed and float(Pv[changed[0]]) == v
              and float(base[changed[0]]) == v0)
        keys[f] = changed[0] if ok else None
    _KEYS = keys
    return keys


class Objective:
    """Loss of a calibration on a prepared measurements file (vectorised)."""

    def __init__(self, prep: V.Prepared, loss: str = "mape", include_training: bool = True,
                 families: dict | None = None, runtimes: dict | None = None):
        if loss not in LOSSES:
            raise ValueError(f"loss={loss!r} is not allowed (valid: {', '.join(LOSSES)})")
        self.prep, self.loss = prep, loss
        self.keys = calibration_keys()
        self.families = families or {}       # per-family overrides kept from the start
        self.runtimes = runtimes or {}       # per-runtime overrides kept from the start
        self.row_family = np.asarray(prep.families, dtype=object)
        self.row_runtime = np.asarray(prep.runtimes, dtype=object)      # profile names
        codes, names = pd.factorize(self.row_runtime)
        rts = [get_runtime(r) for r in names]
        # per-kernel floor of runtimes without graphs (runtime.launch_gap)
        self.launch_floor = np.array([0.0 if rt.graphs else rt.eager_launch_s
                                      for rt in rts] or [0.0])[codes]
        self.host_rows = np.array([rt.host_per_pass for rt in rts] or [False], dtype=bool)[codes]
        meas = prep.frame["measured"].to_numpy(dtype=float)
        self.meas_inf = meas[prep.inf_index]
        self.train_fn = V.training_function() if include_training else None
        self.meas_train = meas[prep.train_index] if self.train_fn else np.zeros(0)
        self.evaluations = 0

    @property
    def n_rows(self) -> int:
        return len(self.meas_inf) + len(self.meas_train)

    def efficiency(self, values: dict) -> dict:
        """``values`` (fields, ``field@family`` for one GPU family, ``field@runtime`` for one
        runtime profile) as a Scenario ``efficiency`` dict: flat fields plus ``families`` and
        ``runtimes`` (the start's, updated)."""
        flat = {k: v for k, v in values.items() if "@" not in k}
        over = {"families": {f: dict(o) for f, o in self.families.items()},
                "runtimes": {r: dict(o) for r, o in self.runtimes.items()}}
        for k, v in values.items():
            if "@" in k:
                name, where = k.split("@", 1)
                kind = "families" if where in _calmod.FAMILIES else "runtimes"
                over[kind].setdefault(where, {})[name] = float(v)
        return {**flat, **{k: o for k, o in over.items() if o}}

    def predictions(self, values: dict) -> tuple[np.ndarray, np.ndarray]:
        """(inference predictions, training predictions) in the file's units."""
        prep = self.prep
        eff = self.efficiency(values)
        flat = {k: v for k, v in eff.items() if k not in ("families", "runtimes")}
        groups = [(self.row_family, eff.get("families", {})),
                  (self.row_runtime, eff.get("runtimes", {}))]      # Calibration.resolve order
        pred_inf = np.zeros(0)
        if prep.P is not None:
            used = set(flat) | {k for _, g in groups for o in g.values() for k in o}
            if any(self.keys.get(k) is None for k in used):
                P = prep.stacked_params({**(prep.efficiency or {}), **eff})
            else:
                P = dict(prep.P)
                for k, v in flat.items():
                    P[self.keys[k]] = np.full(len(self.meas_inf), float(v))
                for row_key, g in groups:
                    for name, over in g.items():
                        rows = row_key == name
                        for k, v in over.items():
                            P[self.keys[k]] = np.where(rows, float(v), P[self.keys[k]])
                lk = self.keys.get("launch_overhead_s")
                if lk:
                    P[lk] = np.maximum(P[lk], self.launch_floor)
            pred_inf = V.predict_arrays(P, prep.metrics)
        pred_tr = np.zeros(0)
        if self.train_fn is not None and len(prep.train_rows):
            pred_tr = np.array([V.simulate_training_row(r, eff, self.train_fn)[0]
                                for r in prep.train_rows])
        self.evaluations += 1
        return pred_inf, pred_tr

    def __call__(self, values: dict) -> float:
        pi, pt = self.predictions(values)
        pred = np.r_[pi, pt]
        meas = np.r_[self.meas_inf, self.meas_train]
        good = np.isfinite(pred) & (pred > 0)
        if not good.any():
            return float("inf")
        r = pred[good] / meas[good]
        if self.loss == "log":
            return float(np.mean(np.abs(np.log(r))))
        return float(np.mean(np.abs(r - 1.0)) * 100.0)

    def mape(self, values: dict) -> float:
        pi, pt = self.predictions(values)
        pred = np.r_[pi, pt]
        meas = np.r_[self.meas_inf, self.meas_train]
        good = np.isfinite(pred)
        return float(np.mean(np.abs(pred[good] / meas[good] - 1.0)) * 100.0)


# ---- fit -----------------------------------------------------------------------------------
def _check_params(names, bounds):
    """The names to fit: calibration fields, or ``field@family`` for one GPU family."""
    names = tuple(names)
    valid = numeric_fields()
    from .hardware import closest
    for p in names:
        field, _, fam = str(p).partition("@")
        if field not in valid:
            near = closest(field, valid)
            raise ValueError(f"params: {field!r} is not a calibration field"
                             + (f"; closest: {', '.join(near)}" if near else "")
                             + f" (valid: {', '.join(valid)}; field@family fits one GPU family)")
        if "@" in str(p) and fam not in _calmod.FAMILIES and fam not in RUNTIMES:
            where = tuple(_calmod.FAMILIES) + tuple(RUNTIMES)
            near = closest(fam, where)
            raise ValueError(f"params: {p!r}: {fam!r} is not a GPU family or runtime profile"
                             + (f"; closest: {', '.join(near)}" if near else "")
                             + f" (valid: {', '.join(where)})")
        if field not in bounds:
            raise ValueError(f"params: no bounds for {field!r}; pass bounds={{{field!r}: (low, high)}}")
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"params={names!r}: give each calibration field at most once, at least one")
    return names


def combine(path_or_df):
    """One measurements table from a path, a DataFrame or a list of them (concatenated, the
    columns of all; a file's missing optional columns are empty)."""
    if not isinstance(path_or_df, (list, tuple)):
        return path_or_df
    frames = []
    for x in path_or_df:
        df = x.copy() if isinstance(x, pd.DataFrame) else V._read(x)[0]
        frames.append(df.astype(str))
    return pd.concat(frames, ignore_index=True).fillna("")


def support(obj: Objective, name: str) -> np.ndarray:
    """Which simulated inference rows a fitted name acts on (``field@family``: that family's
    rows, ``field@runtime``: that runtime's; ``eager_server_step_s``: eager-server rows)."""
    field, _, where = name.partition("@")
    rows = np.ones(len(obj.row_family), dtype=bool)
    if where:
        rows &= (obj.row_family if where in _calmod.FAMILIES else obj.row_runtime) == where
    if field == "eager_server_step_s":
        rows &= obj.host_rows
    return rows


def _fit_bounds(bounds: dict | None) -> dict:
    """``BOUNDS`` as {field: (low, high, scale, unit)}, overridden by the caller's ``bounds``."""
    bnd = {k: (lo, hi, sc, unit) for k, (lo, hi, sc, unit, _) in BOUNDS.items()}
    for k, (lo, hi) in (bounds or {}).items():
        if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and 0 <= lo < hi):
            raise ValueError(f"bounds[{k!r}]=({lo!r}, {hi!r}) is not allowed: need 0 <= low < high")
        sc = bnd.get(k, (0, 0, "lin", ""))[2]
        bnd[k] = (float(lo), float(hi), "lin" if (sc == "log" and lo <= 0) else sc,
                  bnd.get(k, (0, 0, "lin", ""))[3])
    return bnd


def _check_support(obj: Objective, prep, names) -> None:
    """Raise ``ValueError`` for a ``field@where`` name that no simulated inference row runs on."""
    for p in names:
        fam = p.partition("@")[2]
        if fam and not support(obj, p).any():
            is_fam = fam in _calmod.FAMILIES
            have = obj.row_family if is_fam else obj.row_runtime
            what = f"a {fam} GPU" if is_fam else f"the {fam} runtime"
            raise ValueError(f"params: {p!r}: {prep.name} has no simulated inference row on "
                             f"{what} ({'families' if is_fam else 'runtimes'} in the file: "
                             f"{', '.join(sorted(set(have))) or 'none'})")


def _start_value(start_cal: Calibration, p: str) -> float:
    """The start value of fitted name ``p`` (its family's or runtime's override, if any)."""
    field, _, fam = p.partition("@")
    over = start_cal.families if fam in _calmod.FAMILIES else start_cal.runtimes
    return float(over.get(fam, {}).get(field, getattr(start_cal, field)))


def _search(obj: Objective, names, bnd: dict, start_cal: Calibration, fixed: dict, max_evals: int):
    """Pattern search then Nelder-Mead in the unit cube: (loss at start, x, loss, values)."""
    def values_of(u):
        vals = dict(fixed)
        for j, p in enumerate(names):
            lo, hi, sc, _ = bnd[p.partition("@")[0]]
            vals[p] = _from_unit(u[j], lo, hi, sc)
        return vals

    cache = {}

    def f(u):
        key = tuple(np.round(u, 12))
        if key not in cache:
            cache[key] = obj(values_of(u))
        return cache[key]

    x0 = []
    for p in names:
        lo, hi, sc, _ = bnd[p.partition("@")[0]]
        v = min(max(_start_value(start_cal, p), lo), hi)
        x0.append(_to_unit(max(v, lo + 1e-12) if sc == "log" else v, lo, hi, sc))
    x0 = np.array(x0)
    loss0 = f(x0)
    x1, _, n1 = pattern_search(f, x0, max_evals=max(10, max_evals // 2))
    x2, loss2, n2 = nelder_mead(f, x1, max_evals=max(10, max_evals - n1))
    return loss0, x2, loss2, values_of(x2)


def _parameter_rows(obj: Objective, prep, names, bnd: dict, start_cal: Calibration,
                    best: dict, x) -> list[dict]:
    """The report's ``parameters`` rows: start, fitted, bounds, at_bound, supporting rows."""
    rows = []
    for j, p in enumerate(names):
        lo, hi, sc, unit = bnd[p.partition("@")[0]]
        sup = support(obj, p)
        srcs = prep.frame["source"].to_numpy()[prep.inf_index][sup]
        rows.append({"name": p, "unit": unit, "start": _start_value(start_cal, p),
                     "fitted": float(best[p]), "low": lo, "high": hi,
                     "at_bound": bool(x[j] <= 1e-3 or x[j] >= 1 - 1e-3),
                     "rows": int(sup.sum()),
                     "sources": ("every source" if sup.all() else ", ".join(sorted(set(srcs))))})
    return rows


def _skipped_notes(obj: Objective, prep, unused, start_cal: Calibration) -> list[str]:
    """The report's notes on the rows and fields that were not fitted."""
    skipped = []
    if len(prep.train_index) and obj.train_fn is None:
        skipped.append(f"{len(prep.train_index)} training rows not fitted: {V.TRAINING_UNAVAILABLE}")
    skipped += [f"{n} not fitted: no row runs on an eager_server runtime (kept {getattr(start_cal, n):g})"
                for n in unused]
    excluded = int((prep.frame["status"] != "ok").sum() - len(prep.train_index))
    if excluded:
        skipped.append(f"{excluded} rows cannot be simulated (see validate)")
    return skipped


def fit(path_or_df, params=DEFAULT_PARAMS, start=None, loss: str = "mape",
        bounds: dict | None = None, max_evals: int = 3000, include_training: bool = True):
    """Fit ``params`` (Calibration fields) to a measurements file; returns (Calibration, report).

    A name ``field@family`` (e.g. ``"launch_overhead_s@hopper"``) fits that field for the
    GPUs of one family only (``Calibration.families``); the file needs rows of that family.
    ``start``: Calibration / dict / profile path to start from (default: the engine's
    calibration), also the values of the fields not fitted. ``bounds``: {field: (low, high)}
    overriding ``BOUNDS``. ``report``: loss and MAPE (%) before / after, rows used,
    evaluations, and ``parameters`` (DataFrame: name, unit, start, fitted, low, high,
    at_bound -- a fitted value on its bound hints at a missing physical term).
    """
    if isinstance(params, str):
        params = (params,)
    bnd = _fit_bounds(bounds)
    names = _check_params(params, bnd)
    start_cal = engine_default()
    if start is not None:
        start_cal = make_calibration(V.efficiency_dict(start))
    prep = V.prepare(combine(path_or_df), start_cal)
    unused = []
    if tuple(params) == DEFAULT_PARAMS and not any(get_runtime(r).host_per_pass
                                                   for r in set(prep.runtimes)):
        unused = ["eager_server_step_s"]          # nothing in the file depends on it
        names = tuple(n for n in names if n not in unused)
    obj = Objective(prep, loss, include_training, families=start_cal.families,
                    runtimes=start_cal.runtimes)
    if obj.n_rows == 0:
        raise ValueError(f"{prep.name}: no row can be simulated, nothing to fit")
    _check_support(obj, prep, names)
    fixed = {k: getattr(start_cal, k) for k in numeric_fields()}
    loss0, x2, loss2, best = _search(obj, names, bnd, start_cal, fixed, max_evals)
    src = (f"fitted by kernel_model.calibrate.fit on {os.path.basename(prep.name)} "
           f"({obj.n_rows} rows, {loss} loss)")
    cal = make_calibration(obj.efficiency(best), source=src, base=start_cal)
    rows = _parameter_rows(obj, prep, names, bnd, start_cal, best, x2)
    skipped = _skipped_notes(obj, prep, unused, start_cal)
    report = {"file": prep.name, "loss": loss, "rows": obj.n_rows,
              "evaluations": obj.evaluations,
              "loss_before": loss0, "loss_after": loss2,
              "mape_before": obj.mape(fixed), "mape_after": obj.mape(best),
              "parameters": pd.DataFrame(rows), "skipped": skipped}
    return cal, report


def format_fit(report: dict) -> str:
    """The fitted parameters as text (what ``nexora validate --fit`` prints)."""
    t = report["parameters"].copy()

    def show(v, unit):
        if unit == "s":
            return f"{v * 1e3:.2f} ms" if v >= 1e-3 else f"{v * 1e6:.2f} µs"
        return f"{v:.3f}"
    lines = [f"Calibration fit on {report['file']}: {report['rows']} rows, "
             f"{report['evaluations']} evaluations, {report['loss']} loss "
             f"{report['loss_before']:.4g} -> {report['loss_after']:.4g}; "
             f"MAPE {report['mape_before']:.1f} % -> {report['mape_after']:.1f} %"]
    for _, r in t.iterrows():
        lines.append(f"  {r['name']:<26} {show(r['start'], r['unit']):>10} -> "
                     f"{show(r['fitted'], r['unit']):>10}   bounds [{show(r['low'], r['unit'])}, "
                     f"{show(r['high'], r['unit'])}]" + ("   AT BOUND" if r["at_bound"] else ""))
        if "rows" in r:
            lines.append(f"  {'':<26} supported by {r['rows']} rows: {r['sources']}")
    lines += [f"  note: {s}" for s in report.get("skipped", [])]
    return "\n".join(lines)
