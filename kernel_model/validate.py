"""Validate the model against published measurements: ``validate(path) -> DataFrame``.

A measurements file (format of ``shared/data/measurements.csv``; see ``shared/REFERENCE.md``)
has one measured point per row. Each row becomes a :class:`~kernel_model.Scenario`:

* ``gpu``, ``model``, ``interconnect`` are preset names (``none`` for one GPU);
* the plan is ``tp`` x ``pp`` (x ``ep`` where ``ep > tp``); plans above 8 GPUs span 8-GPU
  nodes joined by InfiniBand (``gpus_per_node=8``, ``inter_node="auto"``);
* ``num_gpus`` larger than the plan, and a multiple of it, means data-parallel replicas:
  each serves its own requests, so per-request latency is that of one replica (noted in
  the ``note`` column); fewer GPUs than the plan, or not a multiple, cannot be simulated;
* the serving runtime (``kernel_model.runtime``) comes from an optional ``runtime`` column
  ("compiled" or "eager_server"), else from ``framework`` by ``runtime_for_framework``
  (e.g. "HF TGI 1.0.3" is eager_server: TGI decodes as CUDA graphs only from 2.0); others
  are "compiled";
* ``metric`` picks the prediction: ``e2e_latency_s`` -> ``e2e_s`` (s), ``tpot_ms`` ->
  ``tpot_s`` (ms), ``ttft_ms`` -> ``ttft_s`` (ms).

Training rows (``metric == "iteration_s"``, format of ``training_measurements.csv``) go to
``kernel_model.training.simulate_training`` when that exists; otherwise their status says
so. Rows that cannot be simulated (unknown preset, impossible plan, unknown metric) keep
their reason in ``status`` and are left out of every error statistic, never dropped.
A malformed file (missing columns, non-numeric or non-finite values, whole numbers below 1
or above ``validate_io.MAX_INT`` = 1e15, no rows) raises ``ValueError`` naming the file, the
line and the column of the first bad cell; so does a path that is not a regular file or
is over 2 GiB (``kernel_model._files``).

Plans the model says do not fit in memory are still simulated (the measurement shows the
system ran them, e.g. with a smaller KV pool); the ``note`` column says so.

Everything is vectorised (a million rows in seconds; ``benchmarks/bench_validate.py``): the
file is checked column by column (``validate_io``), rows sharing a Scenario but for batch
and tokens get one ``simulate.params`` with per-row arrays (``validate_map``), and the
closed form runs on the stacked arrays in chunks (rows repeating group, batch and tokens
once), with a progress bar on a terminal. The predictions equal one ``simulate()`` per row
(a test checks 1e-9 on the shipped files and on random plans).
Summaries and the printed report live in ``validate_report``; all of it is reachable
as ``kernel_model.validate.<name>``.
"""
from __future__ import annotations

import argparse
import inspect
import math
import os
import sys
import types
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .calibration import Calibration
from .hardware import closest
from .scenario import Scenario
from .simulate import evaluate
from .validate_io import (METRICS, TRAINING_METRICS, ALL_METRICS, COMMON_COLUMNS,  # noqa: F401
                          INFERENCE_COLUMNS, TRAINING_COLUMNS, INFERENCE_INTS, TRAINING_INTS,
                          find_measurements, read_measurements, read_table, runtimes_of,
                          row_dict)
from .validate_map import (GPUS_PER_NODE, efficiency_dict, scenario_for, map_rows,  # noqa: F401
                           stack_params, ROW_FIELDS)
from .validate_report import (PLAN_COLUMNS, TP_KEYS, TARGET_OVERALL, TARGET_SOURCE,  # noqa: F401
                              TARGET_TTFT, TARGET_TP_SCALING, summarize, tp_scaling,
                              worst_rows, targets, report)

OUTPUT_COLUMNS = ("id", "source", "framework", "runtime", "kind", "model", "gpu", "interconnect",
                  "num_gpus", "tp", "pp", "ep", "batch", "prompt_tokens", "output_tokens",
                  "weight_bits", "metric", "unit", "measured", "predicted", "error_pct",
                  "status", "note")
CHUNK = 1 << 16            # rows per evaluate() call: bounded memory, cache-friendly


# ---- prepared rows -------------------------------------------------------------------------
def _stack(Ps: list[dict]) -> dict:
    """Per-row parameter dicts -> one dict of arrays (``evaluate`` is elementwise)."""
    out = {k: np.array([p[k] for p in Ps], dtype=float) for k in Ps[0] if k != "link"}
    out["link"] = {k: np.array([p["link"][k] for p in Ps], dtype=float) for k in Ps[0]["link"]}
    return out


def _take(P: dict, sl) -> dict:
    out = {k: (v[sl] if isinstance(v, np.ndarray) else v) for k, v in P.items() if k != "link"}
    out["link"] = {k: (v[sl] if isinstance(v, np.ndarray) else v) for k, v in P["link"].items()}
    return out


class _Bar:
    """Progress over the stages of one validation (reading, mapping, closed form): a bar
    (``kernel_model.progress``: tqdm on a terminal, HTML in a notebook) when ``mode`` is
    True, or None and the file has more than ``CHUNK`` rows; nothing otherwise."""

    def __init__(self, mode, n, stages=1):
        self.bar = None
        if mode or (mode is None and n > CHUNK):
            from .progress import progress_bar
            self.bar = progress_bar(n * stages, desc="validate", unit="rows")

    def update(self, n, desc=None):
        if self.bar is not None:
            if desc and hasattr(self.bar, "set_description_str"):
                self.bar.set_description_str(f"validate: {desc}")
            self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _closed_form(P: dict, n: int, chunk: int, bar) -> dict:
    """{metric: value in the file's unit} for the ``n`` rows of ``P``, ``chunk`` at a time."""
    vals = {m: np.empty(n) for m in METRICS}
    for a in range(0, n, chunk):
        sl = slice(a, min(a + chunk, n))
        out = evaluate(_take(P, sl) if n > chunk else P)
        for m, (key, scale, _) in METRICS.items():
            vals[m][sl] = np.broadcast_to(np.asarray(out[key], dtype=float), (sl.stop - a,)) * scale
        bar.update(sl.stop - sl.start, "closed form")
    return vals


def predict_arrays(P: dict, metrics, progress=False, chunk: int = CHUNK, bar=None,
                   unique=None) -> np.ndarray:
    """Predictions in the file's units for stacked parameters ``P`` and each row's metric,
    evaluated ``chunk`` rows at a time. ``progress``: None shows a bar when there are
    several chunks (on a terminal / in a notebook), True always, False never.
    ``unique``: (first, inverse) when rows repeat: only rows ``first`` are evaluated and
    row i takes the values of ``first[inverse[i]]`` (``evaluate`` is elementwise, so this
    is exact)."""
    metrics = np.asarray(metrics, dtype=object)
    n = len(metrics)
    pred = np.full(n, np.nan)
    own = bar is None
    bar = bar or _Bar(progress, n)
    try:
        if unique is None:
            vals, inv = _closed_form(P, n, chunk, bar), None
        else:
            first, inv = unique
            vals = _closed_form(_take(P, first), len(first), chunk, bar)
            bar.update(n - len(first), "closed form")
        for m, v in vals.items():
            sel = metrics == m
            if sel.any():
                pred[sel] = v[sel] if inv is None else v[inv[sel]]
    finally:
        if own:
            bar.close()
    return pred


def unique_rows(prep) -> tuple[np.ndarray, np.ndarray] | None:
    """(first, inverse) over the simulated rows that share group, batch and tokens, or
    None when fewer than a quarter of them repeat (not worth it)."""
    n = len(prep.inf_index)
    if n < 1000 or prep.P is None:
        return None
    group = np.empty(n, dtype=np.int64)
    for gi, g in enumerate(prep.groups):
        group[g.pos] = gi
    key = pd.DataFrame({"g": group, "b": prep.P["B"], "p": prep.P["p"], "o": prep.P["o"]})
    inv = key.groupby(["g", "b", "p", "o"], sort=False).ngroup().to_numpy()
    nu = int(inv.max()) + 1
    if nu > 0.75 * n:
        return None
    first = np.full(nu, n, dtype=np.int64)
    np.minimum.at(first, inv, np.arange(n))
    return first, inv


@dataclass
class Prepared:
    """A checked measurements file mapped to scenarios, ready to evaluate (or fit)."""
    name: str
    frame: pd.DataFrame                      # output table without predictions
    inf_index: np.ndarray                    # rows of ``frame`` simulated in closed form
    P: dict | None = None                    # stacked parameters of those rows
    metrics: np.ndarray = field(default_factory=lambda: np.zeros(0, object))
    train_index: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    train_rows: list = field(default_factory=list)
    groups: list = field(default_factory=list)        # validate_map.Group, for refits
    families: np.ndarray = field(default_factory=lambda: np.zeros(0, object))  # GPU family per row
    runtimes: np.ndarray = field(default_factory=lambda: np.zeros(0, object))  # runtime per row
    efficiency: dict | None = None

    @property
    def scenarios(self) -> list:
        """One Scenario per simulated row (built on demand: slow for big files)."""
        out = [None] * len(self.inf_index)
        for g in self.groups:
            for j, pos in enumerate(g.pos):
                out[pos] = Scenario(**g.kw, **{c: int(g.vals[c][j]) for c in ROW_FIELDS})
        return out

    def stacked_params(self, efficiency: dict | None) -> dict | None:
        """``P`` rebuilt with ``efficiency`` in place of the prepared one."""
        return stack_params(self.groups, len(self.inf_index), efficiency, override=True)


def _metric_status(metric: str) -> str:
    near = closest(metric, ALL_METRICS)
    return (f"unknown metric {metric!r}" + (f"; closest: {', '.join(near)}" if near else "")
            + f" (valid: {', '.join(ALL_METRICS)})")


def _frame(tab, rts, status, note) -> pd.DataFrame:
    """The output table of a checked file (no predictions yet), column by column."""
    df, num, tr = tab.text, tab.num, tab.is_train
    n = len(df)
    col = lambda c: df[c] if c in df.columns else pd.Series("", index=df.index)   # no copies
    runtime = np.where(tr, None, rts[0]).astype(object)
    out = {"id": col("id"), "source": col("source"), "framework": col("framework"),
           "runtime": runtime, "kind": np.where(tr, "training", "inference").astype(object),
           "model": col("model"), "gpu": col("gpu"),
           "interconnect": col("interconnect").where(~tr, "")}
    ints = {c: num[c].copy() for c in PLAN_COLUMNS}
    ints["num_gpus"] = np.where(tr, num["dp"] * num["tp"] * num["pp"], num["num_gpus"])
    ints["batch"] = np.where(tr, num["global_batch"], num["batch"])
    ints["prompt_tokens"] = np.where(tr, num["seq_len"], num["prompt_tokens"])
    for c in PLAN_COLUMNS:
        out[c] = pd.array(np.where(np.isnan(ints[c]), 0, ints[c]).astype(np.int64),
                          dtype="Int64")
        out[c][np.isnan(ints[c])] = pd.NA
    metric = col("metric")
    unit = metric.map({**{m: u for m, (_, _, u) in METRICS.items()},
                                  **TRAINING_METRICS}).fillna("")
    out.update(metric=metric, unit=unit, measured=num["value"].astype(float),
               predicted=np.full(n, np.nan), error_pct=np.full(n, np.nan),
               status=status, note=note)
    return pd.DataFrame(out, columns=list(OUTPUT_COLUMNS))


def prepare(path_or_df, calibration=None, progress=False, _bar=None) -> Prepared:
    """Read, check and map every row; see the module docstring."""
    tab, name = read_table(path_or_df)
    bar = _bar(len(tab)) if _bar else _Bar(progress, len(tab), 2)
    bar.update(len(tab), "read")
    eff = efficiency_dict(calibration)
    if eff:
        Calibration().replace(**eff)          # a bad profile is a caller error, not a row status
    metric = tab.text["metric"].to_numpy(dtype=object)
    known = np.isin(metric, list(METRICS))
    inf_rows = np.flatnonzero(~tab.is_train & known)
    rts = runtimes_of(tab)
    mp = map_rows(tab, inf_rows, rts, eff)
    status, note = mp.status, mp.note
    status[tab.is_train] = "pending"
    unknown = np.flatnonzero(~tab.is_train & ~known)
    if len(unknown):
        codes, uniq = pd.factorize(metric[unknown])
        status[unknown] = np.array([_metric_status(u) for u in uniq], dtype=object)[codes]
    frame = _frame(tab, rts, status, note)
    train_index = np.flatnonzero(tab.is_train)
    bar.update(len(tab), "mapped")
    if not _bar:
        bar.close()
    return Prepared(name=name, frame=frame, inf_index=mp.inf_index,
                    P=stack_params(mp.groups, len(mp.inf_index)),
                    metrics=metric[mp.inf_index], train_index=train_index,
                    train_rows=[row_dict(tab, int(i)) for i in train_index],
                    groups=mp.groups, families=mp.families, runtimes=mp.runtimes,
                    efficiency=eff)


# ---- training rows -------------------------------------------------------------------------
TRAINING_UNAVAILABLE = "training model not available"
TRAINING_KEYS = ("model", "gpu", "seq_len", "global_batch", "micro_batch", "dp", "tp", "pp",
                 "recompute", "sequence_parallel")       # what simulate_training is given


def training_function():
    """``kernel_model.training.simulate_training`` or None when it does not exist."""
    try:
        from . import training
    except ImportError:
        return None
    fn = getattr(training, "simulate_training", None)
    return fn if callable(fn) else None


def _iteration_s(out):
    if isinstance(out, (int, float, np.floating)) and not isinstance(out, bool):
        return float(out)
    if isinstance(out, dict):
        v = out.get("iteration_s")
    else:
        v = getattr(out, "iteration_s", None)
    return None if v is None else float(v)


def simulate_training_row(row: dict, efficiency: dict | None = None, fn=None):
    """(iteration_s, status) of one training row through ``simulate_training``."""
    fn = fn or training_function()
    if fn is None:
        return np.nan, TRAINING_UNAVAILABLE
    kw = {k: row[k] for k in TRAINING_KEYS}
    try:
        sig = inspect.signature(fn)
        takes_all = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        names = set(sig.parameters)
    except (TypeError, ValueError):
        takes_all, names = True, set()
    if efficiency:
        if takes_all or "efficiency" in names:
            kw["efficiency"] = dict(efficiency)
        elif "calibration" in names:
            kw["calibration"] = Calibration().replace(**efficiency)
    if not takes_all:
        kw = {k: v for k, v in kw.items() if k in names}
    try:
        t = _iteration_s(fn(**kw))
    except ValueError as e:
        return np.nan, f"cannot simulate: {e}"
    except Exception as e:                      # a broken training model must not stop validation
        return np.nan, f"training model failed: {type(e).__name__}: {e}"
    if t is None or not math.isfinite(t) or t <= 0:
        return np.nan, "training model returned no iteration_s"
    return t, "ok"


# ---- validate ------------------------------------------------------------------------------
def finish(prep: Prepared, pred_inf: np.ndarray | None, efficiency: dict | None = None,
           train=True) -> pd.DataFrame:
    """The output table: ``prep.frame`` with predictions and signed errors filled in."""
    df = prep.frame.copy()
    pred = df["predicted"].to_numpy(dtype=float).copy()
    status = df["status"].to_numpy(dtype=object).copy()
    if pred_inf is not None and len(prep.inf_index):
        pred[prep.inf_index] = pred_inf
    if train and len(prep.train_index):
        fn = training_function()
        seen = {}                                  # identical rows are simulated once
        for i, r in zip(prep.train_index, prep.train_rows):
            key = tuple(r[k] for k in TRAINING_KEYS)
            if key not in seen:
                seen[key] = simulate_training_row(r, efficiency, fn)
            pred[i], status[i] = seen[key]
    meas = df["measured"].to_numpy(dtype=float)
    ok = status == "ok"
    err = np.full(len(df), np.nan)
    err[ok] = (pred[ok] - meas[ok]) / meas[ok] * 100.0
    df["predicted"], df["status"], df["error_pct"] = pred, status, err
    return df


def validate(path_or_df, calibration=None, progress=None) -> pd.DataFrame:
    """Simulate every row of a measurements file (path or DataFrame).

    Returns one row per measurement: id, source, framework, kind, the plan, metric, unit,
    measured and predicted (in the metric's unit: s or ms), error_pct (signed,
    (predicted - measured) / measured * 100), status ("ok" or why it was not simulated)
    and note. ``calibration``: a Calibration, a dict of its fields or a JSON profile path
    (see ``kernel_model.calibrate``); None uses the engine's defaults. ``progress``: None
    shows a bar for big files (on a terminal), True always, False never.
    """
    bar = None

    def make(n):
        nonlocal bar
        bar = _Bar(progress, n, 3)
        return bar
    try:
        prep = prepare(path_or_df, calibration, _bar=make)
        pred = None
        if prep.P is not None:
            bar.update(len(prep.frame) - len(prep.metrics), "closed form")
            pred = predict_arrays(prep.P, prep.metrics, bar=bar, unique=unique_rows(prep))
    finally:
        if bar is not None:
            bar.close()
    return finish(prep, pred, prep.efficiency)


# ---- command line --------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ValueError(f"nexora validate: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nexora validate",
                description="Simulate every row of a measurements CSV and print measured vs "
                            "predicted, the signed error and the MAPE per source / metric.")
    p.add_argument("path", help="measurements CSV (format of shared/data/measurements.csv)")
    p.add_argument("--csv", metavar="OUT", help="write the full per-row table to this CSV "
                                                 "(the report shows the summary and the worst rows)")
    p.add_argument("--worst", metavar="N", type=int, default=10,
                   help="how many of the worst rows (largest |error|) to print (default 10)")
    p.add_argument("--calibration", metavar="FILE.json",
                   help="calibration profile to apply (written by --fit --save-profile)")
    p.add_argument("--fit", action="store_true",
                   help="fit the calibration parameters to this file first, print them, "
                        "then validate with the fitted values")
    p.add_argument("--save-profile", metavar="OUT.json",
                   help="with --fit: save the fitted calibration profile")
    p.add_argument("--params", metavar="NAME,...",
                   help="with --fit: the calibration fields to fit (default: calibrate.DEFAULT_PARAMS); "
                        "field@family fits one GPU family, e.g. launch_overhead_s@hopper")
    return p


def _announce(path) -> None:
    """On a terminal, say that a big file is being read (the bar starts after reading)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return
    if size > 8 * 2**20 and sys.stderr.isatty():
        print(f"nexora validate: reading {path} ({size / 2**20:.0f} MiB) ...", file=sys.stderr,
              flush=True)


def cli_main(argv=None) -> int:
    """``nexora validate PATH.csv [--csv OUT] [--calibration FILE.json] [--fit
    [--params NAME,...] [--save-profile OUT.json]]``. Returns the exit code (0 ok, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        a = _parser().parse_args(argv)
        if a.save_profile and not a.fit:
            raise ValueError("--save-profile needs --fit")
        if a.params and not a.fit:
            raise ValueError("--params needs --fit")
        cal = None
        if a.calibration:
            from .calibrate import load_profile
            cal = load_profile(a.calibration)
        if a.fit:
            from .calibrate import fit, save_profile, format_fit
            kw = {}
            if a.params:
                kw["params"] = tuple(x.strip() for x in a.params.split(",") if x.strip())
            cal, rep = fit(a.path, start=cal, **kw)
            print(format_fit(rep))
            print()
            if a.save_profile:
                save_profile(cal, a.save_profile, rep)
                print(f"calibration profile written to {a.save_profile}\n")
        if a.worst < 0:
            raise ValueError(f"--worst {a.worst}: must be a whole number >= 0")
        _announce(a.path)
        df = validate(a.path, calibration=cal, progress=None)
        print(report(df, calibration=cal, worst=a.worst))
        if a.csv:
            try:
                df.to_csv(a.csv, index=False)
            except OSError as e:
                raise ValueError(f"--csv {a.csv}: cannot write ({e.strerror or e})") from None
            print(f"\ntable written to {a.csv}")
    except SystemExit as e:                 # --help
        return int(e.code or 0)
    except ValueError as e:
        print(f"nexora validate: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


class _CallableModule(types.ModuleType):
    """This module, callable: ``kernel_model.validate(path)`` is :func:`validate`, and
    ``kernel_model.validate.summarize`` etc. stay reachable."""

    def __call__(self, path_or_df, calibration=None, progress=None) -> pd.DataFrame:
        return validate(path_or_df, calibration, progress)


sys.modules[__name__].__class__ = _CallableModule

# Command line: ``nexora validate PATH.csv`` or ``python -m kernel_model validate PATH.csv``.
