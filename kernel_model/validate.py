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
A malformed file (missing columns, non-numeric values, no rows) raises ``ValueError``
naming the file, the line and the column.

Plans the model says do not fit in memory are still simulated (the measurement shows the
system ran them, e.g. with a smaller KV pool); the ``note`` column says so.
"""
from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import sys
import types
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .calibration import Calibration, numeric_fields
from .hardware import closest
from .scenario import Scenario
from .runtime import runtime_for_framework
from .simulate import params, evaluate, simulate

# metric -> (result field, scale to the file's unit, unit); "_throughput": batch x output
# tokens x data-parallel replicas / e2e_s (a static batch's whole requests, all GPUs)
METRICS = {"e2e_latency_s": ("e2e_s", 1.0, "s"),
           "tpot_ms": ("tpot_s", 1e3, "ms"),
           "ttft_ms": ("ttft_s", 1e3, "ms"),
           "output_tokens_per_s": ("_throughput", 1.0, "tokens/s")}
TRAINING_METRICS = {"iteration_s": "s"}
# saturation throughput (batch = 0: the engine's own largest batch): the serving model's
SATURATION_METRICS = ("max_output_tokens_per_s",)
SATURATION_STATUS = "saturation throughput: needs the serving model (issue 14)"
ALL_METRICS = tuple(METRICS) + tuple(TRAINING_METRICS) + SATURATION_METRICS

COMMON_COLUMNS = ("id", "source", "gpu", "model", "metric", "value")
INFERENCE_COLUMNS = ("num_gpus", "interconnect", "weight_bits", "tp", "pp", "ep", "batch",
                     "prompt_tokens", "output_tokens")
TRAINING_COLUMNS = ("seq_len", "global_batch", "micro_batch", "dp", "tp", "pp", "recompute",
                    "sequence_parallel")
INFERENCE_INTS = ("num_gpus", "weight_bits", "tp", "pp", "ep", "batch", "prompt_tokens",
                  "output_tokens")
TRAINING_INTS = ("seq_len", "global_batch", "micro_batch", "dp", "tp", "pp")
GPUS_PER_NODE = 8

OUTPUT_COLUMNS = ("id", "source", "framework", "runtime", "kind", "model", "gpu", "interconnect",
                  "num_gpus", "tp", "pp", "ep", "batch", "prompt_tokens", "output_tokens",
                  "weight_bits", "weight_format", "kv_bits", "metric", "unit", "measured", "predicted", "error_pct",
                  "status", "note")
PLAN_COLUMNS = ("num_gpus", "tp", "pp", "ep", "batch", "prompt_tokens", "output_tokens",
                "weight_bits", "kv_bits")

# issue 5 targets, percent
TARGET_OVERALL, TARGET_SOURCE, TARGET_TTFT, TARGET_TP_SCALING = 12.0, 20.0, 20.0, 15.0


# ---- reading ---------------------------------------------------------------------------
def find_measurements(name: str = "measurements.csv") -> str | None:
    """Path of the published measurements file, or None: ``$NEXORA_MEASUREMENTS``, then the
    copy shipped in ``kernel_model/data/``, then ``../shared/data/`` next to the repository."""
    env = os.environ.get("NEXORA_MEASUREMENTS")
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    for p in ([env] if env and name == "measurements.csv" else []) + [
            os.path.join(here, "data", name),
            os.path.join(os.path.dirname(repo), "shared", "data", name)]:
        if p and os.path.isfile(p):
            return p
    return None


def _read(path_or_df) -> tuple[pd.DataFrame, str]:
    """The file as a frame of stripped strings, and a name for error messages."""
    if isinstance(path_or_df, pd.DataFrame):
        df = path_or_df.copy()
        name = "<DataFrame>"
    elif path_or_df is None:
        raise ValueError("no measurements file given (see find_measurements())")
    else:
        name = os.fspath(path_or_df)
        if not os.path.isfile(name):
            raise ValueError(f"{name}: no such measurements file")
        try:
            df = pd.read_csv(name, dtype=str, keep_default_na=False, skipinitialspace=True,
                             encoding="utf-8-sig")
        except pd.errors.EmptyDataError:
            raise ValueError(f"{name}: the file is empty (expected a CSV header with columns "
                             f"{', '.join(COMMON_COLUMNS + INFERENCE_COLUMNS)})") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as e:
            msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            raise ValueError(f"{name}: not a readable CSV file ({msg})") from None
    df.columns = [str(c).strip() for c in df.columns]
    df = df.astype(object).where(pd.notna(df), "")
    df = df.apply(lambda col: col.map(lambda v: str(v).strip()))
    return df.reset_index(drop=True), name


def _where(name, df, i) -> str:
    rid = df.at[i, "id"] if "id" in df.columns else ""
    line = f"line {i + 2}" if name != "<DataFrame>" else f"row {i}"
    return f"{name}: {line}" + (f" (id {rid})" if rid else "")


def _number(name, df, i, col, ok, allowed) -> float:
    """The cell as a finite float passing ``ok``; otherwise ValueError saying what is allowed."""
    s = df.at[i, col]
    try:
        x = float(s)
    except ValueError:
        x = float("nan")
    if not math.isfinite(x) or not ok(x):
        raise ValueError(f"{_where(name, df, i)}: column {col!r} must be {allowed}, got {s!r}")
    return x


def _int(name, df, i, col) -> int:
    return int(_number(name, df, i, col, lambda x: x == int(x) and x >= 1, "a whole number >= 1"))


def _positive(name, df, i, col) -> float:
    return _number(name, df, i, col, lambda x: x > 0, "a number > 0")


def _bool(name, df, i, col) -> bool:
    s = df.at[i, col].lower()
    if s in ("true", "1", "yes", "y", "t"):
        return True
    if s in ("false", "0", "no", "n", "f", ""):
        return False
    raise ValueError(f"{_where(name, df, i)}: column {col!r} must be true or false, "
                     f"got {df.at[i, col]!r}")


def _text(name, df, i, col) -> str:
    s = df.at[i, col]
    if not s:
        raise ValueError(f"{_where(name, df, i)}: column {col!r} is empty")
    return s


def _batch(name, df, i, metric) -> int:
    """The batch; 0 is allowed (and only allowed) on saturation-throughput rows."""
    if metric in SATURATION_METRICS and df.at[i, "batch"] in ("0", "0.0"):
        return 0
    return _int(name, df, i, "batch")


def _precision(name, df, i, r) -> None:
    """``weight_format`` and ``kv_bits`` of an inference row (see :func:`precision_rules`)."""
    from .formats import get_format, kv_bits_from_notes
    notes = df.at[i, "notes"] if "notes" in df.columns else ""
    given = df.at[i, "weight_format"] if "weight_format" in df.columns else ""
    r["notes"], r["weight_format"] = notes, ""
    if given:
        try:
            r["weight_format"] = get_format(given).name
        except ValueError as e:
            raise ValueError(f"{_where(name, df, i)}: column 'weight_format': {e}") from None
    if "kv_bits" in df.columns and df.at[i, "kv_bits"]:
        r["kv_bits"] = int(_number(name, df, i, "kv_bits", lambda x: x in (4, 8, 16),
                                   "one of 4, 8, 16"))
    else:
        r["kv_bits"] = kv_bits_from_notes(notes)[0]


def precision_rules() -> str:
    """How a measurements row's precision is read (documented rules, in order)."""
    return ("weight format: the 'weight_format' column if present (a name of "
            "kernel_model.formats.FORMATS or an alias), else the notes' 'weight format: X' "
            "field, else the first format the notes name (NVFP4, MXFP4, AWQ, GPTQ, FP8, INT8, "
            "BF16, FP16), else the closest to weight_bits (16: fp16; 8: fp8 on GPUs with FP8 "
            "tensor cores, int8 weight-only elsewhere; 4: int4-awq); a named format must have "
            "weight_bits bits. KV cache: the 'kv_bits' column, else 8 where the notes name an "
            "FP8 KV cache, else 16.")


def read_measurements(path_or_df) -> list[dict]:
    """Parse and check a measurements file; one dict per row (numbers converted).

    Raises ``ValueError`` naming the file, line and column for missing columns,
    non-numeric or non-positive numbers and empty required fields, and for a file
    without rows.
    """
    df, name = _read(path_or_df)
    missing = [c for c in COMMON_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)} "
                         f"(found: {', '.join(df.columns) or 'none'})")
    if len(df) == 0:
        raise ValueError(f"{name}: no measurement rows (only a header)")
    is_train = df["metric"].isin(tuple(TRAINING_METRICS))
    need = []
    if (~is_train).any():
        need += [c for c in INFERENCE_COLUMNS if c not in df.columns]
    if is_train.any():
        need += [c for c in TRAINING_COLUMNS if c not in df.columns and c not in need]
    if need:
        kind = "inference" if (~is_train).any() else "training"
        raise ValueError(f"{name}: missing column(s) {', '.join(need)} needed by its "
                         f"{kind} rows (found: {', '.join(df.columns)})")
    rows = []
    for i in range(len(df)):
        r = {"line": i + 2, "id": _text(name, df, i, "id"), "source": _text(name, df, i, "source"),
             "framework": df.at[i, "framework"] if "framework" in df.columns else "",
             "gpu": _text(name, df, i, "gpu"), "model": _text(name, df, i, "model"),
             "metric": _text(name, df, i, "metric"), "value": _positive(name, df, i, "value")}
        if is_train.iloc[i]:
            r["kind"] = "training"
            for c in TRAINING_INTS:
                r[c] = _int(name, df, i, c)
            r["recompute"] = df.at[i, "recompute"] or "none"
            r["sequence_parallel"] = _bool(name, df, i, "sequence_parallel")
            for c in ("layers", "hidden", "heads"):
                if c in df.columns and df.at[i, c]:
                    r[c] = _int(name, df, i, c)
        else:
            r["kind"] = "inference"
            for c in INFERENCE_INTS:
                r[c] = (_batch(name, df, i, r["metric"]) if c == "batch" else _int(name, df, i, c))
            r["interconnect"] = _text(name, df, i, "interconnect")
            _precision(name, df, i, r)
            given = df.at[i, "runtime"] if "runtime" in df.columns else ""
            if given:
                r["runtime"], r["runtime_reason"] = given, "runtime column"
            else:
                r["runtime"], r["runtime_reason"] = runtime_for_framework(r["framework"])
        rows.append(r)
    return rows


# ---- calibration arguments -------------------------------------------------------------
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


# ---- scenarios -------------------------------------------------------------------------
def scenario_for(row: dict, efficiency: dict | None = None) -> tuple[Scenario, str]:
    """The Scenario of one inference row and a note (data-parallel replicas).

    Raises ``ValueError`` with the reason when the row cannot be simulated.
    """
    tp, pp, ep, n = row["tp"], row["pp"], row["ep"], row["num_gpus"]
    plan = max(tp, ep) * pp
    plan_txt = f"tp={tp} x pp={pp}" + (f" (ep={ep})" if ep > 1 else "")
    note = ""
    if n < plan:
        raise ValueError(f"impossible plan: {plan_txt} needs {plan} GPUs but num_gpus={n}")
    if n % plan:
        raise ValueError(f"num_gpus={n} is not a multiple of the {plan} GPUs of {plan_txt}")
    if n > plan:
        note = (f"{n // plan} data-parallel replicas of the {plan}-GPU plan "
                f"(per-request latency of one replica)")
    fmt, fmt_reason = row_format(row)
    sc = Scenario(model=row["model"], gpu=row["gpu"], interconnect=row["interconnect"],
                  tp=tp, pp=pp, ep=ep, batch=row["batch"], prompt_tokens=row["prompt_tokens"],
                  output_tokens=row["output_tokens"], weight_bits=row["weight_bits"],
                  weight_format=fmt, kv_bits=row.get("kv_bits", 16),
                  gpus_per_node=GPUS_PER_NODE, inter_node="auto",
                  runtime=row.get("runtime", "compiled"), efficiency=efficiency)
    if sc.runtime != "compiled":
        note = "; ".join(x for x in (note, f"{sc.runtime} runtime: {row.get('runtime_reason', '')}") if x)
    if fmt_reason:
        note = "; ".join(x for x in (note, f"{fmt} ({fmt_reason})") if x)
    return sc, note


def row_format(row: dict) -> tuple[str, str]:
    """(weight format, reason) of a row: its ``weight_format`` (column), else the format its
    notes name (``formats.format_from_notes``), else "auto" (the closest to weight_bits)."""
    from .formats import format_from_notes
    from .hardware import get_gpu
    if row.get("weight_format") and row["weight_format"] != "auto":
        return row["weight_format"], ("weight_format column" if "notes" in row else "")
    notes = row.get("notes") or ""
    if not notes:
        return "auto", ""
    name, reason = format_from_notes(notes, row["weight_bits"], get_gpu(row["gpu"]))
    return (name, reason) if not reason.startswith("closest") else ("auto", "")


def _stack(Ps: list[dict]) -> dict:
    """Per-row parameter dicts -> one dict of arrays (``evaluate`` is elementwise)."""
    out = {k: np.array([p[k] for p in Ps], dtype=float) for k in Ps[0] if k != "link"}
    out["link"] = {k: np.array([p["link"][k] for p in Ps], dtype=float) for k in Ps[0]["link"]}
    return out


def predict_arrays(P: dict, metrics) -> np.ndarray:
    """Predictions in the file's units for stacked parameters ``P`` and each row's metric."""
    out = evaluate(P)
    out["_throughput"] = P["B"] * P["o"] * P.get("replicas", 1.0) / out["e2e_s"]
    pred = np.empty(len(metrics))
    for m, (key, scale, _) in METRICS.items():
        sel = np.asarray([x == m for x in metrics])
        if sel.any():
            pred[sel] = (np.broadcast_to(np.asarray(out[key], dtype=float), sel.shape) * scale)[sel]
    return pred


@dataclass
class Prepared:
    """A checked measurements file mapped to scenarios, ready to evaluate (or fit)."""
    name: str
    frame: pd.DataFrame                      # output table without predictions
    inf_index: np.ndarray                    # rows of ``frame`` simulated in closed form
    scenarios: list = field(default_factory=list)
    P: dict | None = None                    # stacked parameters of those rows
    metrics: list = field(default_factory=list)
    train_index: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    train_rows: list = field(default_factory=list)


def _metric_status(metric: str) -> str:
    near = closest(metric, ALL_METRICS)
    return (f"unknown metric {metric!r}" + (f"; closest: {', '.join(near)}" if near else "")
            + f" (valid: {', '.join(ALL_METRICS)})")


def prepare(path_or_df, calibration=None) -> Prepared:
    """Read, check and map every row; see the module docstring."""
    rows = read_measurements(path_or_df)
    name = "<DataFrame>" if isinstance(path_or_df, pd.DataFrame) else str(path_or_df)
    eff = efficiency_dict(calibration)
    if eff:
        Calibration().replace(**eff)          # a bad profile is a caller error, not a row status
    recs, scs, metrics, inf_idx, tr_idx, tr_rows = [], [], [], [], [], []
    for i, r in enumerate(rows):
        rec = {c: r.get(c) for c in OUTPUT_COLUMNS}
        rec["measured"] = r["value"]
        rec["predicted"] = np.nan
        rec["error_pct"] = np.nan
        rec["note"] = ""
        rec["interconnect"] = r.get("interconnect", "")
        if r["kind"] == "training":
            rec["unit"] = TRAINING_METRICS[r["metric"]]
            rec["num_gpus"] = r["dp"] * r["tp"] * r["pp"]
            rec["batch"] = r["global_batch"]
            rec["prompt_tokens"] = r["seq_len"]
            rec["status"] = "pending"
            tr_idx.append(i)
            tr_rows.append(r)
        elif r["metric"] in SATURATION_METRICS:
            rec["unit"] = "tokens/s"
            rec["status"] = SATURATION_STATUS
        elif r["metric"] not in METRICS:
            rec["unit"] = ""
            rec["status"] = _metric_status(r["metric"])
        else:
            rec["unit"] = METRICS[r["metric"]][2]
            try:
                sc, note = scenario_for(r, eff)
            except ValueError as e:
                rec["status"] = f"cannot simulate: {e}"
            else:
                rec["status"] = "ok"
                rec["note"] = note
                rec["weight_format"] = sc.weight_format_spec().name
                rec["kv_bits"] = sc.kv_bits
                scs.append(sc)
                metrics.append(r["metric"])
                inf_idx.append(i)
        recs.append(rec)
    frame = pd.DataFrame(recs, columns=list(OUTPUT_COLUMNS))
    for c in PLAN_COLUMNS:
        frame[c] = frame[c].astype("Int64")
    for c in ("measured", "predicted", "error_pct"):
        frame[c] = frame[c].astype(float)
    P = _stack([params(sc) for sc in scs]) if scs else None
    if P is not None:        # data-parallel replicas (output_tokens_per_s counts every GPU)
        P["replicas"] = np.array([r_n / max(sc.tp, sc.ep) / sc.pp for sc, r_n in
                                  zip(scs, frame.loc[inf_idx, "num_gpus"].astype(float))])
    return Prepared(name=name, frame=frame, inf_index=np.asarray(inf_idx, dtype=int),
                    scenarios=scs, P=P, metrics=metrics,
                    train_index=np.asarray(tr_idx, dtype=int), train_rows=tr_rows)


# ---- training rows -------------------------------------------------------------------------
TRAINING_UNAVAILABLE = "training model not available"


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
    kw = {k: row[k] for k in ("model", "gpu", "seq_len", "global_batch", "micro_batch", "dp",
                              "tp", "pp", "recompute", "sequence_parallel")}
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
    if pred_inf is not None and len(prep.inf_index):
        df.loc[prep.inf_index, "predicted"] = pred_inf
    if train and len(prep.train_index):
        fn = training_function()
        for i, r in zip(prep.train_index, prep.train_rows):
            t, status = simulate_training_row(r, efficiency, fn)
            df.at[i, "predicted"] = t
            df.at[i, "status"] = status
    ok = df["status"] == "ok"
    df.loc[ok, "error_pct"] = (df.loc[ok, "predicted"] - df.loc[ok, "measured"]) / df.loc[ok, "measured"] * 100.0
    return df


def _is_collectives(path_or_df) -> bool:
    """A collectives file (format of data/collectives.csv), recognised by its header."""
    if isinstance(path_or_df, pd.DataFrame):
        cols = list(path_or_df.columns)
    else:
        try:
            with open(os.fspath(path_or_df), encoding="utf-8-sig", errors="replace") as f:
                cols = [c.strip() for c in f.readline(65536).split(",")]
        except OSError:
            return False
    return "collective" in cols and "size_bytes" in cols


def validate(path_or_df, calibration=None) -> pd.DataFrame:
    """Simulate every row of a measurements file (path or DataFrame).

    Returns one row per measurement: id, source, framework, kind, the plan, metric, unit,
    measured and predicted (in the metric's unit: s or ms), error_pct (signed,
    (predicted - measured) / measured * 100), status ("ok" or why it was not simulated)
    and note. ``calibration``: a Calibration, a dict of its fields or a JSON profile path
    (see ``kernel_model.calibrate``); None uses the engine's defaults.
    """
    if _is_collectives(path_or_df):        # measured collectives: the collective model alone
        from . import validate_collectives as VC
        df, name = _read(path_or_df)
        return VC.validate_collectives(df, name)
    prep = prepare(path_or_df, calibration)
    pred = predict_arrays(prep.P, prep.metrics) if prep.P is not None else None
    return finish(prep, pred, efficiency_dict(calibration))


# ---- summary -------------------------------------------------------------------------------
def _stats(g: pd.DataFrame) -> pd.Series:
    e = g["error_pct"]
    return pd.Series({"rows": int(len(e)), "mape": float(e.abs().mean()),
                      "bias": float(e.mean()), "max_abs": float(e.abs().max())})


def _group_stats(ok: pd.DataFrame, key: str) -> pd.DataFrame:
    cols = ["rows", "mape", "bias", "max_abs"]
    if ok.empty:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame({k: _stats(g) for k, g in ok.groupby(key, sort=True)}).T[cols]
    out["rows"] = out["rows"].astype(int)
    out.index.name = key
    return out


TP_KEYS = ("source", "framework", "model", "gpu", "weight_bits", "pp", "ep", "batch",
           "prompt_tokens", "output_tokens", "metric")


def tp_scaling(df: pd.DataFrame) -> pd.DataFrame:
    """Speed-up from the smallest to the largest TP of each sweep (same source, framework,
    model, GPU, precision, pp, ep, batch, tokens and metric): measured vs predicted, and
    ``diff_pct`` = (predicted - measured) / measured speed-up * 100. Duplicate rows at one
    TP are averaged."""
    cols = list(TP_KEYS) + ["tp_min", "tp_max", "measured_speedup", "predicted_speedup", "diff_pct"]
    ok = df[(df["status"] == "ok") & (df["kind"] == "inference")]
    out = []
    for key, g in ok.groupby(list(TP_KEYS), sort=False, dropna=False):
        by_tp = g.groupby("tp")[["measured", "predicted"]].mean()
        if len(by_tp) < 2:
            continue
        lo, hi = by_tp.index.min(), by_tp.index.max()
        ms = by_tp.at[lo, "measured"] / by_tp.at[hi, "measured"]
        ps = by_tp.at[lo, "predicted"] / by_tp.at[hi, "predicted"]
        out.append(list(key) + [int(lo), int(hi), float(ms), float(ps), float((ps - ms) / ms * 100)])
    return pd.DataFrame(out, columns=cols)


def summarize(df: pd.DataFrame) -> dict:
    """Error statistics of a ``validate`` table (percent).

    Keys: ``overall`` (MAPE of every ok row), ``rows`` / ``ok`` (counts), ``by_source`` and
    ``by_metric`` (DataFrames: rows, mape, bias = mean signed error, max_abs),
    ``tp_scaling`` (see :func:`tp_scaling`), ``excluded`` (id, source, metric, status).
    """
    ok = df[df["status"] == "ok"]
    return {
        "rows": int(len(df)), "ok": int(len(ok)),
        "overall": float(ok["error_pct"].abs().mean()) if len(ok) else float("nan"),
        "bias": float(ok["error_pct"].mean()) if len(ok) else float("nan"),
        "by_source": _group_stats(ok, "source"),
        "by_metric": _group_stats(ok, "metric"),
        "tp_scaling": tp_scaling(df),
        "excluded": df.loc[df["status"] != "ok", ["id", "source", "metric", "status"]].reset_index(drop=True),
    }


def worst_rows(df: pd.DataFrame, n: int = 10, calibration=None) -> pd.DataFrame:
    """The ``n`` simulated inference rows with the largest |error|, with where the model
    puts the predicted time: percent shares of compute, hbm, communication,
    launch_overhead, pipeline_bubble (of the prefill for ``ttft_ms``, of one decode step
    otherwise) and ``prefill_pct``, the prefill's share of an ``e2e_latency_s``."""
    eff = efficiency_dict(calibration)
    ok = df[(df["status"] == "ok") & (df["kind"] == "inference")]
    ok = ok.loc[ok["error_pct"].abs().sort_values(ascending=False).index[:n]]
    out = []
    for _, r in ok.iterrows():
        row = {c: (int(r[c]) if c in PLAN_COLUMNS else r[c]) for c in
               ("model", "gpu", "interconnect", "runtime", "weight_format") + PLAN_COLUMNS}
        sc, _ = scenario_for(row, eff)
        res = simulate(sc)
        bd, tot = ((res.ttft_breakdown, res.ttft_s) if r["metric"] == "ttft_ms"
                   else (res.breakdown, res.tpot_s))
        rec = {"id": r["id"], "source": r["source"], "model": r["model"], "tp": int(r["tp"]),
               "batch": int(r["batch"]), "prompt_tokens": int(r["prompt_tokens"]),
               "output_tokens": int(r["output_tokens"]), "metric": r["metric"],
               "error_pct": r["error_pct"]}
        rec.update({k: 100.0 * v / tot for k, v in bd.items()})
        rec["prefill_pct"] = (100.0 * res.ttft_s / res.e2e_s if r["metric"] == "e2e_latency_s"
                              else np.nan)
        rec["fits"] = res.fits
        out.append(rec)
    return pd.DataFrame(out)


def targets(summary: dict) -> pd.DataFrame:
    """The issue's targets against a summary: target, value (%), limit (%), passed."""
    rows = [("overall MAPE", summary["overall"], TARGET_OVERALL)]
    for s, r in summary["by_source"].iterrows():
        rows.append((f"MAPE {s}", r["mape"], TARGET_SOURCE))
    bm = summary["by_metric"]
    if "ttft_ms" in bm.index:
        rows.append(("MAPE ttft_ms rows", bm.at["ttft_ms", "mape"], TARGET_TTFT))
    for _, r in summary["tp_scaling"].iterrows():
        if r["tp_min"] == 1 and r["tp_max"] >= 8:
            rows.append((f"TP 1->{r['tp_max']} speed-up {r['source']} {r['model']} b{r['batch']} "
                         f"{r['prompt_tokens']}+{r['output_tokens']}", abs(r["diff_pct"]),
                         TARGET_TP_SCALING))
    t = pd.DataFrame(rows, columns=["target", "value", "limit"])
    t["passed"] = t["value"] <= t["limit"]
    return t


# ---- text report ---------------------------------------------------------------------------
def _fmt(x, nd=4):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{nd}g}"


def report(df: pd.DataFrame, summary: dict | None = None, calibration=None) -> str:
    """The text that ``nexora validate`` prints (``calibration``: the one ``df`` used)."""
    s = summary or summarize(df)
    ok = df[df["status"] == "ok"]
    lines = [f"{s['ok']} of {s['rows']} rows simulated", ""]
    t = pd.DataFrame({
        "id": ok["id"], "source": ok["source"], "metric": ok["metric"], "unit": ok["unit"],
        "measured": ok["measured"].map(_fmt), "predicted": ok["predicted"].map(_fmt),
        "error_%": ok["error_pct"].map(lambda e: f"{e:+.1f}")})
    if len(t):
        lines += [t.to_string(index=False), ""]
    fmt = {"mape": "{:.1f}".format, "bias": "{:+.1f}".format, "max_abs": "{:.1f}".format}
    lines.append(f"MAPE overall: {s['overall']:.1f} %  (mean signed error {s['bias']:+.1f} %)")
    for key, title in (("by_source", "MAPE per source (%)"), ("by_metric", "MAPE per metric (%)")):
        if len(s[key]):
            lines += ["", title, s[key].to_string(formatters=fmt)]
    tps = s["tp_scaling"]
    if len(tps):
        tt = tps[["source", "model", "batch", "prompt_tokens", "output_tokens", "metric",
                  "tp_min", "tp_max", "measured_speedup", "predicted_speedup", "diff_pct"]]
        lines += ["", "TP scaling (speed-up from tp_min to tp_max; diff % of measured)",
                  tt.to_string(index=False, formatters={"measured_speedup": "{:.2f}".format,
                                                          "predicted_speedup": "{:.2f}".format,
                                                          "diff_pct": "{:+.1f}".format})]
    tg = targets(s)
    if len(tg):
        lines += ["", "Targets (issue 5)"]
        for _, r in tg.iterrows():
            lines.append(f"  {'PASS' if r['passed'] else 'FAIL'}  {r['target']}: "
                         f"{_fmt(r['value'], 3)} % (limit {r['limit']:g} %)")
    w = worst_rows(df, 10, calibration) if len(ok) else pd.DataFrame()
    if len(w):
        w = w.rename(columns={"launch_overhead": "launch", "pipeline_bubble": "bubble",
                              "communication": "comm", "prompt_tokens": "prompt",
                              "output_tokens": "output"})
        pct = lambda v: "-" if not np.isfinite(v) else f"{v:.0f}"
        lines += ["", "Worst rows: where the model puts the time (% of the prefill for ttft, "
                      "of a decode step otherwise; prefill = % of e2e)",
                  w[["id", "model", "tp", "batch", "prompt", "output", "metric", "error_pct",
                     "compute", "hbm", "comm", "launch", "bubble", "prefill_pct", "fits"]]
                  .to_string(index=False, formatters={
                      "error_pct": "{:+.1f}".format, "compute": pct, "hbm": pct, "comm": pct,
                      "launch": pct, "bubble": pct, "prefill_pct": pct})]
    ex = s["excluded"]
    lines += ["", f"Excluded rows ({len(ex)}): not simulated, not in the MAPE"]
    for _, r in ex.iterrows():
        lines.append(f"  {r['id']} ({r['source']}, {r['metric']}): {r['status']}")
    return "\n".join(lines)


# ---- command line --------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ValueError(message)           # cli_main adds the "nexora validate: error: " prefix


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nexora validate",
                description="Simulate every row of a measurements CSV and print measured vs "
                            "predicted, the signed error and the MAPE per source / metric.")
    p.add_argument("path", nargs="?",
                   help="measurements CSV (format of shared/data/measurements.csv; default: the "
                        "copy shipped in kernel_model/data/measurements.csv)")
    p.add_argument("--csv", metavar="OUT", help="also write the per-row table to OUT (a new file)")
    p.add_argument("--calibration", metavar="FILE.json",
                   help="calibration profile to apply (written by --fit --save-profile)")
    p.add_argument("--fit", action="store_true",
                   help="fit the calibration parameters to this file first, print them, "
                        "then validate with the fitted values")
    p.add_argument("--save-profile", metavar="OUT.json",
                   help="with --fit: save the fitted calibration profile (a new file)")
    p.add_argument("--params", metavar="NAME,...",
                   help="with --fit: the calibration fields to fit (default: calibrate.DEFAULT_PARAMS); "
                        "field@family fits one GPU family, e.g. launch_overhead_s@hopper; "
                        "field@runtime one serving runtime, e.g. launch_overhead_s@vllm")
    p.add_argument("--force", action="store_true",
                   help="let --csv / --save-profile replace an existing file (never the input)")
    return p


def _check_files(a) -> None:
    """Inputs: regular files under a size limit; outputs: not an input, not an existing file
    unless --force (kernel_model.cli.files). Raises ValueError (one line)."""
    from .cli.files import check_input_file, check_output, MAX_CSV_BYTES, MAX_CONFIG_BYTES
    from .cli.common import BadInput
    try:
        check_input_file("path", a.path, MAX_CSV_BYTES)
        if a.calibration:
            check_input_file("--calibration", a.calibration, MAX_CONFIG_BYTES)
        inputs = [a.path, a.calibration]
        outs = [("--csv", a.csv), ("--save-profile", a.save_profile)]
        for flag, out in outs:
            if out:
                check_output(flag, out, a.force, inputs)
        if a.csv and a.save_profile and os.path.abspath(a.csv) == os.path.abspath(a.save_profile):
            raise BadInput(f"--csv and --save-profile are the same file {a.csv!r}; give two paths")
    except BadInput as e:
        raise ValueError(str(e)) from None


def cli_main(argv=None) -> int:
    """``nexora validate [PATH.csv] [--csv OUT] [--calibration FILE.json] [--fit
    [--params NAME,...] [--save-profile OUT.json]] [--force]``. Without PATH it validates the
    shipped measurements file (and says so). Returns the exit code (0 ok, 2 bad input)."""
    from .cli.common import BadInput
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        a = _parser().parse_args(argv)
        if a.path is None:
            a.path = find_measurements()
            if a.path is None:
                raise ValueError("no PATH given and no shipped measurements.csv found; give the "
                                 "path of a measurements CSV")
            print(f"nexora validate: no PATH given: using the shipped {a.path}", file=sys.stderr)
        if a.save_profile and not a.fit:
            raise ValueError("--save-profile needs --fit")
        if a.params and not a.fit:
            raise ValueError("--params needs --fit")
        _check_files(a)
        from .cli.files import atomic_path
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
                with atomic_path(a.save_profile, "--save-profile") as tmp:
                    save_profile(cal, tmp, rep)
                print(f"calibration profile written to {a.save_profile}\n")
        if _is_collectives(a.path):
            if a.fit or a.calibration:
                raise ValueError("--fit/--calibration apply to inference measurements; a "
                                 "collectives file validates the collective model "
                                 "(tools/fit_collectives.py refits it)")
            from . import validate_collectives as VC
            df = VC.validate_collectives(_read(a.path)[0], a.path)
            print(VC.report(df))
        else:
            df = validate(a.path, calibration=cal)
            print(report(df, calibration=cal))
        if a.csv:
            with atomic_path(a.csv, "--csv") as tmp:
                df.to_csv(tmp, index=False)
            print(f"\ntable written to {a.csv}")
    except SystemExit as e:                 # --help
        return int(e.code or 0)
    except (ValueError, BadInput) as e:
        print(f"nexora validate: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


class _CallableModule(types.ModuleType):
    """This module, callable: ``kernel_model.validate(path)`` is :func:`validate`, and
    ``kernel_model.validate.summarize`` etc. stay reachable."""

    def __call__(self, path_or_df, calibration=None) -> pd.DataFrame:
        return validate(path_or_df, calibration)


sys.modules[__name__].__class__ = _CallableModule

# Command line: ``nexora validate PATH.csv`` or ``python -m kernel_model validate PATH.csv``.
