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
  (a profile name: compiled, trtllm, trtllm-pytorch, vllm, sglang, tgi, tgi-eager, or the alias
  eager_server), else from ``framework`` by ``runtime_for_framework`` (e.g. "HF TGI 1.0.3"
  is tgi-eager: TGI decodes as CUDA graphs only from 2.0); unknown frameworks are "compiled";
* the precision: ``weight_format`` (a column, else the notes, else the closest format to
  ``weight_bits``) and ``kv_bits`` (a column, else 8 where the notes name an FP8 KV cache);
  see :func:`precision_rules`;
* ``metric`` picks the prediction: ``e2e_latency_s`` -> ``e2e_s`` (s), ``tpot_ms`` ->
  ``tpot_s`` (ms), ``ttft_ms`` -> ``ttft_s`` (ms), ``output_tokens_per_s`` -> batch x
  output tokens x data-parallel replicas / ``e2e_s`` (tokens/s, every GPU of the row);
* saturation rows (``metric == "max_output_tokens_per_s"``, ``batch = 0``: the engine's own
  largest batch; ``batch = 0`` is allowed on no other row) are kept with status
  ``SATURATION_STATUS`` (``kernel_model.serving.validate_saturation`` predicts them).

A collectives file (``data/collectives.csv``: its header has ``collective`` and
``size_bytes``) goes to ``kernel_model.validate_collectives`` instead.

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
Summaries and the printed report live in ``validate_report``, the command line in
``validate_cli``; all of it is reachable as ``kernel_model.validate.<name>``.
"""
from __future__ import annotations

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
                          SATURATION_METRICS, SATURATION_STATUS, SATURATION_UNIT,
                          find_measurements, read_measurements, read_table, runtimes_of,
                          row_dict, precision_rules, _read)
from .validate_map import (GPUS_PER_NODE, GROUP_KEYS, efficiency_dict, scenario_for,  # noqa: F401
                           row_format, map_rows, stack_params, ROW_FIELDS)
from .validate_cli import _Parser, _parser, _check_files, _announce, cli_main  # noqa: F401
from .validate_report import (PLAN_COLUMNS, TP_KEYS, TARGET_OVERALL, TARGET_SOURCE,  # noqa: F401
                              TARGET_TTFT, TARGET_TP_SCALING, summarize, tp_scaling,
                              worst_rows, targets, report)

OUTPUT_COLUMNS = ("id", "source", "framework", "runtime", "kind", "model", "gpu", "interconnect",
                  "num_gpus", "tp", "pp", "ep", "batch", "prompt_tokens", "output_tokens",
                  "weight_bits", "weight_format", "kv_bits", "metric", "unit", "measured",
                  "predicted", "error_pct", "status", "note")
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
        Pc = _take(P, sl) if n > chunk else P
        out = evaluate(Pc)
        out["_throughput"] = Pc["B"] * Pc["o"] * Pc.get("replicas", 1.0) / out["e2e_s"]
        for m, (key, scale, _) in METRICS.items():
            vals[m][sl] = np.broadcast_to(np.asarray(out[key], dtype=float), (sl.stop - a,)) * scale
        bar.update(sl.stop - sl.start, "closed form")
    return vals


def predict_arrays(P: dict, metrics, progress=False, chunk: int = CHUNK, bar=None,
                   unique=None) -> np.ndarray:
    """Predictions in the file's units for stacked parameters ``P`` (``P["replicas"]``:
    data-parallel copies per row for ``output_tokens_per_s``, default 1) and each row's
    metric, evaluated ``chunk`` rows at a time. ``progress``: None shows a bar when there are
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
    """(first, inverse) over the simulated rows that share group, batch, tokens and
    replicas, or None when fewer than a quarter of them repeat (not worth it)."""
    n = len(prep.inf_index)
    if n < 1000 or prep.P is None:
        return None
    group = np.empty(n, dtype=np.int64)
    for gi, g in enumerate(prep.groups):
        group[g.pos] = gi
    key = pd.DataFrame({"g": group, "b": prep.P["B"], "p": prep.P["p"], "o": prep.P["o"],
                        "r": np.broadcast_to(prep.P.get("replicas", 1.0), (n,))})
    inv = key.groupby(["g", "b", "p", "o", "r"], sort=False).ngroup().to_numpy()
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
    runtimes: np.ndarray = field(default_factory=lambda: np.zeros(0, object))  # runtime profile per row
    replicas: np.ndarray = field(default_factory=lambda: np.zeros(0))  # data-parallel copies per row
    efficiency: dict | None = None
    table: pd.DataFrame | None = None        # the checked file, every cell a stripped string

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
        return _with_replicas(stack_params(self.groups, len(self.inf_index), efficiency,
                                           override=True), self.replicas)


def _with_replicas(P, replicas):
    if P is not None:        # data-parallel replicas (output_tokens_per_s counts every GPU)
        P["replicas"] = np.asarray(replicas, dtype=float)
    return P


def _metric_status(metric: str) -> str:
    near = closest(metric, ALL_METRICS)
    return (f"unknown metric {metric!r}" + (f"; closest: {', '.join(near)}" if near else "")
            + f" (valid: {', '.join(ALL_METRICS)})")


def _frame(tab, rts, status, note, weight_format) -> pd.DataFrame:
    """The output table of a checked file (no predictions yet), column by column."""
    df, num, tr = tab.text, tab.num, tab.is_train
    n = len(df)
    col = lambda c: df[c] if c in df.columns else pd.Series("", index=df.index)   # no copies
    runtime = np.where(tr, None, rts[0]).astype(object)
    out = {"id": col("id"), "source": col("source"), "framework": col("framework"),
           "runtime": runtime, "kind": np.where(tr, "training", "inference").astype(object),
           "model": col("model"), "gpu": col("gpu"),
           "interconnect": col("interconnect").where(~tr, ""), "weight_format": weight_format}
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
                       **{m: SATURATION_UNIT for m in SATURATION_METRICS},
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
    unknown = np.flatnonzero(~tab.is_train & ~known & ~np.isin(metric, SATURATION_METRICS))
    if len(unknown):
        codes, uniq = pd.factorize(metric[unknown])
        status[unknown] = np.array([_metric_status(u) for u in uniq], dtype=object)[codes]
    frame = _frame(tab, rts, status, note, mp.weight_format)
    train_index = np.flatnonzero(tab.is_train)
    bar.update(len(tab), "mapped")
    if not _bar:
        bar.close()
    return Prepared(name=name, frame=frame, inf_index=mp.inf_index,
                    P=_with_replicas(stack_params(mp.groups, len(mp.inf_index)), mp.replicas),
                    metrics=metric[mp.inf_index], train_index=train_index,
                    train_rows=[row_dict(tab, int(i)) for i in train_index],
                    groups=mp.groups, families=mp.families, runtimes=mp.runtimes,
                    replicas=mp.replicas, efficiency=eff, table=tab.text)


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


def _is_collectives(path_or_df) -> bool:
    """A collectives file (format of data/collectives.csv), recognised by its header."""
    if isinstance(path_or_df, pd.DataFrame):
        cols = [str(c).strip() for c in path_or_df.columns]
    else:
        try:
            if not os.path.isfile(path_or_df):       # no FIFO / device opened (would block)
                return False
            with open(os.fspath(path_or_df), encoding="utf-8-sig", errors="replace") as f:
                cols = [c.strip() for c in f.readline(65536).split(",")]
        except (OSError, TypeError, ValueError):
            return False
    return "collective" in cols and "size_bytes" in cols


def validate(path_or_df, calibration=None, progress=None, saturation: bool = True) -> pd.DataFrame:
    """Simulate every row of a measurements file (path or DataFrame).

    Returns one row per measurement: id, source, framework, kind, the plan, the precision
    (weight_format, kv_bits), metric, unit, measured and predicted (in the metric's unit:
    s, ms or tokens/s), error_pct (signed, (predicted - measured) / measured * 100), status
    ("ok" or why it was not simulated) and note. ``calibration``: a Calibration, a dict of
    its fields or a JSON profile path (see ``kernel_model.calibrate``); None uses the
    engine's defaults. ``progress``: None shows a bar for big files (on a terminal), True
    always, False never. A collectives file returns
    ``kernel_model.validate_collectives.validate_collectives``' table. ``saturation``:
    predict the saturation-throughput rows with the serving model (else they keep
    ``SATURATION_STATUS``).
    """
    if _is_collectives(path_or_df):        # measured collectives: the collective model alone
        from . import validate_collectives as VC
        df, name = _read(path_or_df)
        return VC.validate_collectives(df, name)
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
    out = finish(prep, pred, prep.efficiency)
    return with_saturation(out, prep.table, prep.efficiency) if saturation else out


def with_saturation(out: pd.DataFrame, table: pd.DataFrame, efficiency=None) -> pd.DataFrame:
    """Saturation-throughput rows (``batch = 0``, ``max_output_tokens_per_s``) predicted by
    the serving model (``kernel_model.serving.validate_saturation``: every request queued
    at once, the batch limited by KV memory and the engine's own limit). ``table``: the
    checked file, every cell a string (``Prepared.table``); ``out`` has one row per row of
    it, in its order, so the two are matched by position (ids may repeat)."""
    sat = (out["status"] == SATURATION_STATUS).to_numpy()
    if not sat.any():
        return out
    from .serving import validate_saturation
    rows = table[sat].copy()
    for c in ("batch", "tp", "pp", "ep", "num_gpus", "weight_bits", "prompt_tokens",
              "output_tokens", "value"):
        rows[c] = pd.to_numeric(rows[c], errors="coerce")
    # with the interconnect preset the row reading resolved (a generic "pcie", "NVLink 4", a
    # network spelling): both kinds of row read a link the same way
    rows["interconnect"] = out.loc[sat, "interconnect"].to_numpy()
    rows["batch"], rows["metric"] = 0, "max_output_tokens_per_s"
    res = validate_saturation(rows, efficiency=efficiency)
    out = out.copy()
    for i, (_, r) in zip(np.flatnonzero(sat), res.iterrows()):
        if r["status"] == "ok":
            out.at[i, "predicted"] = float(r["predicted"])
            out.at[i, "error_pct"] = (float(r["predicted"]) / out.at[i, "measured"] - 1.0) * 100.0
            out.at[i, "status"] = "ok"
            # the precision the serving model ran (a saturation row's own reading of its notes)
            out.at[i, "weight_format"], out.at[i, "kv_bits"] = r["weight_format"], r["kv_bits"]
            out.at[i, "note"] = ("; ".join(x for x in (out.at[i, "note"], "saturation: serving "
                                 f"model, max_batch {int(r['max_batch'])}") if x))
        else:
            out.at[i, "status"] = f"saturation: {r['status']}"
    return out


class _CallableModule(types.ModuleType):
    """This module, callable: ``kernel_model.validate(path)`` is :func:`validate`, and
    ``kernel_model.validate.summarize`` etc. stay reachable."""

    def __call__(self, path_or_df, calibration=None, progress=None, saturation=True) -> pd.DataFrame:
        return validate(path_or_df, calibration, progress, saturation)


sys.modules[__name__].__class__ = _CallableModule

# Command line: ``nexora validate [PATH.csv]`` or ``python -m kernel_model validate [PATH.csv]``.
