"""Summaries and the text report of a ``validate`` table (part of ``validate``).

``summarize`` (MAPE overall / per source / per metric, TP scaling, exclusions),
``worst_rows`` (largest |error| with the predicted time's breakdown), ``targets`` (the issue 5
limits) and ``report`` (what ``nexora validate`` prints: the summary and the worst rows;
the full table goes to ``--csv``).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .simulate import simulate
from .validate_map import efficiency_dict, scenario_for
from .validate_io import SATURATION_METRICS

SATURATION_TARGET = 20.0           # issue 14: MAPE of the saturation-throughput rows, percent

PLAN_COLUMNS = ("num_gpus", "tp", "pp", "ep", "batch", "prompt_tokens", "output_tokens",
                "weight_bits", "kv_bits")
# issue 5 targets, percent
TARGET_OVERALL, TARGET_SOURCE, TARGET_TTFT, TARGET_TP_SCALING = 12.0, 20.0, 20.0, 15.0


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
    TP are averaged. Sweeps come in the order of their first row."""
    cols = list(TP_KEYS) + ["tp_min", "tp_max", "measured_speedup", "predicted_speedup", "diff_pct"]
    ok = df[(df["status"] == "ok") & (df["kind"] == "inference")]
    keys = list(TP_KEYS)
    if ok.empty:
        return pd.DataFrame(columns=cols)
    sweep_id = ok.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    m = (ok.assign(_sweep=sweep_id).groupby(["_sweep", "tp"], sort=True)
         [["measured", "predicted"]].mean().reset_index())
    g = m.groupby("_sweep")["tp"]
    n_tp = g.transform("size")
    lo = m[(m["tp"] == g.transform("min")) & (n_tp >= 2)].set_index("_sweep")
    hi = m[(m["tp"] == g.transform("max")) & (n_tp >= 2)].set_index("_sweep")
    if lo.empty:
        return pd.DataFrame(columns=cols)
    first = ok.assign(_sweep=sweep_id).drop_duplicates("_sweep").set_index("_sweep")
    first = first.loc[lo.index, keys]
    ms = lo["measured"] / hi.loc[lo.index, "measured"]
    ps = lo["predicted"] / hi.loc[lo.index, "predicted"]
    out = first.reset_index(drop=True)
    for c in keys:                              # plain ints, as the groups' keys
        if str(out[c].dtype) == "Int64" and not out[c].isna().any():
            out[c] = out[c].astype(np.int64)
    out["tp_min"] = lo["tp"].astype(int).to_numpy()
    out["tp_max"] = hi.loc[lo.index, "tp"].astype(int).to_numpy()
    out["measured_speedup"] = ms.to_numpy(dtype=float)
    out["predicted_speedup"] = ps.to_numpy(dtype=float)
    out["diff_pct"] = ((ps - ms) / ms * 100).to_numpy(dtype=float)
    return out[cols].reset_index(drop=True)


def _plan_label(d: pd.DataFrame) -> pd.Series:
    """'h100-sxm tp 8' per row (with ' pp N' where the row has pipeline stages)."""
    pp = d["pp"].fillna(1).astype(int) if "pp" in d else pd.Series(1, index=d.index)
    return (d["gpu"].astype(str) + " tp " + d["tp"].astype(int).astype(str)
            + np.where(pp > 1, " pp " + pp.astype(str), ""))


def summarize(df: pd.DataFrame) -> dict:
    """Error statistics of a ``validate`` table (percent).

    Keys: ``overall`` (MAPE of every ok row with a fixed batch), ``rows`` / ``ok`` (counts),
    ``by_source`` and ``by_metric`` (DataFrames: rows, mape, bias = mean signed error,
    max_abs; ``by_metric`` includes saturation rows), ``saturation`` (rows, mape, by_source
    and by_gpu_tp of the saturation-throughput rows, predicted by the serving model; issue 14
    target 20 %),
    ``tp_scaling`` (see :func:`tp_scaling`), ``excluded`` (id, source, metric, status).
    """
    all_ok = df[df["status"] == "ok"]
    sat = all_ok[all_ok["metric"].isin(SATURATION_METRICS)]
    ok = all_ok[~all_ok["metric"].isin(SATURATION_METRICS)]
    return {
        "rows": int(len(df)), "ok": int(len(all_ok)),
        "saturation": {"rows": int(len(sat)),
                       "mape": float(sat["error_pct"].abs().mean()) if len(sat) else float("nan"),
                       "by_source": _group_stats(sat, "source"),
                       "by_gpu_tp": _group_stats(sat.assign(gpu_tp=_plan_label(sat)), "gpu_tp")},
        "overall": float(ok["error_pct"].abs().mean()) if len(ok) else float("nan"),
        "bias": float(ok["error_pct"].mean()) if len(ok) else float("nan"),
        "by_source": _group_stats(ok, "source"),
        "by_metric": _group_stats(all_ok, "metric"),
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
        if r["metric"] in SATURATION_METRICS:          # a serving run, not one static batch
            out.append({"id": r["id"], "source": r["source"], "model": r["model"],
                        "tp": int(r["tp"]), "batch": 0, "prompt_tokens": int(r["prompt_tokens"]),
                        "output_tokens": int(r["output_tokens"]), "metric": r["metric"],
                        "unit": r["unit"], "measured": r["measured"], "predicted": r["predicted"],
                        "error_pct": r["error_pct"]})
            continue
        row = {c: (int(r[c]) if c in PLAN_COLUMNS else r[c]) for c in
               ("model", "gpu", "interconnect", "runtime", "weight_format") + PLAN_COLUMNS}
        sc, _ = scenario_for(row, eff)
        res = simulate(sc)
        bd, tot = ((res.ttft_breakdown, res.ttft_s) if r["metric"] == "ttft_ms"
                   else (res.breakdown, res.tpot_s))
        rec = {"id": r["id"], "source": r["source"], "model": r["model"], "tp": int(r["tp"]),
               "batch": int(r["batch"]), "prompt_tokens": int(r["prompt_tokens"]),
               "output_tokens": int(r["output_tokens"]), "metric": r["metric"],
               "unit": r["unit"], "measured": r["measured"], "predicted": r["predicted"],
               "error_pct": r["error_pct"]}
        rec.update({k: 100.0 * v / tot for k, v in bd.items()})
        rec["prefill_pct"] = (100.0 * res.ttft_s / res.e2e_s if r["metric"] == "e2e_latency_s"
                              else np.nan)
        rec["fits"] = res.fits
        out.append(rec)
    return pd.DataFrame(out)


def targets(summary: dict) -> pd.DataFrame:
    """The issue's targets against a summary: target, value (%), limit (%), passed."""
    rows = ([("overall MAPE", summary["overall"], TARGET_OVERALL)]
            if math.isfinite(summary["overall"]) else [])
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


def _fmt(x, nd=4):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{nd}g}"


def _capped(frame: pd.DataFrame, limit: int, what: str, **kw) -> list[str]:
    lines = [frame.head(limit).to_string(index=False, **kw)]
    if len(frame) > limit:
        lines.append(f"  ... and {len(frame) - limit:,} more {what} (see the summary / --csv)")
    return lines


def _worst_block(df, n, calibration) -> list[str]:
    w = worst_rows(df, n, calibration)
    if not len(w):
        return []
    w = w.reindex(columns=list(w.columns) + [c for c in ("compute", "hbm", "communication",
                                                          "launch_overhead", "pipeline_bubble",
                                                          "prefill_pct", "fits")
                                              if c not in w.columns])
    w = w.rename(columns={"launch_overhead": "launch", "pipeline_bubble": "bubble",
                          "communication": "comm", "prompt_tokens": "prompt",
                          "output_tokens": "output"})
    pct = lambda v: "-" if v is None or not np.isfinite(float(v)) else f"{float(v):.0f}"
    return ["", f"Worst {len(w)} rows by |error| (full table: --csv); where the model puts the "
                f"time (% of the prefill for ttft, of a decode step otherwise; prefill = % of e2e)",
            w[["id", "model", "tp", "batch", "prompt", "output", "metric", "measured",
               "predicted", "error_pct", "compute", "hbm", "comm", "launch", "bubble",
               "prefill_pct", "fits"]]
            .to_string(index=False, na_rep="-", formatters={
                "measured": _fmt, "predicted": _fmt,
                "error_pct": "{:+.1f}".format, "compute": pct, "hbm": pct, "comm": pct,
                "launch": pct, "bubble": pct, "prefill_pct": pct})]


def _excluded_block(ex: pd.DataFrame, limit: int) -> list[str]:
    lines = ["", f"Excluded rows ({len(ex):,}): not simulated, not in the MAPE"]
    if len(ex) > limit:
        reasons = (ex["status"].str.replace(r"^cannot simulate: ", "", regex=True)
                   .str.split(r";| \(", regex=True).str[0]
                   .str.replace(r"\d+", "N", regex=True).value_counts())
        lines.append("  by reason (numbers as N):")
        lines += [f"  {c:>9,}  {r}" for r, c in reasons.head(limit).items()]
        lines.append(f"  first {limit}:")
    for _, r in ex.head(limit).iterrows():
        lines.append(f"  {r['id']} ({r['source']}, {r['metric']}): {r['status']}")
    if len(ex) > limit:
        lines.append(f"  ... and {len(ex) - limit:,} more (see --csv)")
    return lines


def report(df: pd.DataFrame, summary: dict | None = None, calibration=None,
           worst: int = 10, limit: int = 20) -> str:
    """The text that ``nexora validate`` prints (``calibration``: the one ``df`` used): the
    summary (MAPE overall, per source and metric, TP scaling, targets), the ``worst`` rows
    by |error| with where the model puts their time, and the excluded rows (at most
    ``limit`` listed, with counts per reason). The full per-row table is ``df`` (``--csv``)."""
    s = summary or summarize(df)
    lines = [f"{s['ok']:,} of {s['rows']:,} rows simulated", ""]
    fmt = {"mape": "{:.1f}".format, "bias": "{:+.1f}".format, "max_abs": "{:.1f}".format}
    if math.isfinite(s["overall"]):
        lines.append(f"MAPE overall: {s['overall']:.1f} %  (mean signed error {s['bias']:+.1f} %)")
    else:
        lines.append("MAPE overall: no fixed-batch row simulated")
    sat = s.get("saturation", {})
    if sat.get("rows"):
        lines.append(f"Saturation throughput (serving model, {sat['rows']} rows): "
                     f"MAPE {sat['mape']:.1f} % (target {SATURATION_TARGET:g} %)")
    blocks = [(s["by_source"], "MAPE per source (%)"), (s["by_metric"], "MAPE per metric (%)")]
    if sat.get("rows") and (len(sat["by_source"]) > 1 or len(sat.get("by_gpu_tp", ())) > 1):
        blocks += [(sat["by_source"], "Saturation rows per source (%)"),
                   (sat.get("by_gpu_tp", pd.DataFrame()), "Saturation rows per GPU and plan (%)")]
    for table, title in blocks:
        if len(table):
            lines += ["", title] + _capped(table.reset_index(), limit, "rows", formatters=fmt)
    tps = s["tp_scaling"]
    if len(tps):
        tt = tps[["source", "model", "batch", "prompt_tokens", "output_tokens", "metric",
                  "tp_min", "tp_max", "measured_speedup", "predicted_speedup", "diff_pct"]]
        lines += ["", "TP scaling (speed-up from tp_min to tp_max; diff % of measured)"]
        lines += _capped(tt, limit, "sweeps", formatters={"measured_speedup": "{:.2f}".format,
                                                          "predicted_speedup": "{:.2f}".format,
                                                          "diff_pct": "{:+.1f}".format})
    tg = targets(s)
    if len(tg):
        lines += ["", "Targets (issue 5)"]
        for _, r in tg.head(limit).iterrows():
            lines.append(f"  {'PASS' if r['passed'] else 'FAIL'}  {r['target']}: "
                         f"{_fmt(r['value'], 3)} % (limit {r['limit']:g} %)")
        if len(tg) > limit:
            rest = tg.iloc[limit:]
            lines.append(f"  ... and {len(rest)} more: {int(rest['passed'].sum())} pass, "
                         f"{int((~rest['passed']).sum())} fail")
    if s["ok"] and worst > 0:
        lines += _worst_block(df, worst, calibration)
    lines += _excluded_block(s["excluded"], limit)
    return "\n".join(lines)
