"""Saturation throughput: every request queued at t = 0 (``trtllm-bench``, vLLM's offline
benchmark), and its check against the ``batch = 0`` rows of a measurements file.

``max_throughput(scenario, prompt_tokens, output_tokens, max_batch=...)`` runs ``serve``
with ``requests`` equal requests arriving at once; the batch is limited by the KV cache
(the memory model) and by ``max_batch``; the figure is output tokens over the makespan,
as those tools report it.

``validate_saturation(df)`` predicts each ``metric == "max_output_tokens_per_s"`` row with
``batch == 0``: the scenario from the row's columns (pipeline rows run ``pp`` micro-batches),
the weight format and KV precision from its notes where the engine has precision formats
(else ``weight_bits``, with an 8-bit KV cache for 8- and 4-bit checkpoints, as FP8 / NVFP4
serving checkpoints keep), the runtime from its framework;
``max_batch`` from the notes' ``max_batch=N`` where stated (vLLM's max-num-seqs), else
``DEFAULT_MAX_BATCH`` (TensorRT-LLM's default engine batch); TensorRT-LLM rows admit with
``admission="reserve"`` (its default capacity policy, GUARANTEED_NO_EVICT, reserves prompt +
output per request), the others optimistically (vLLM).
"""
from __future__ import annotations

import math
import re

import numpy as np

from ..scenario import Scenario
from .config import ServeConfig
from .entities import Trace
from .simulator import Plan, run_plan, _scenario
from .workload import Workload

DEFAULT_MAX_BATCH = 2048          # TensorRT-LLM max_batch_size default
DEFAULT_MAX_TOKENS = 8192         # TensorRT-LLM max_num_tokens default
METRIC = "max_output_tokens_per_s"
_MAX_BATCH = re.compile(r"max_batch\s*=\s*(\d+)")


def max_throughput(scenario, prompt_tokens, output_tokens, max_batch=DEFAULT_MAX_BATCH,
                   scheduler="chunked", max_batched_tokens=DEFAULT_MAX_TOKENS,
                   kv_cache_fraction=0.9, requests=None, detail=False, admission="optimistic"):
    """Output tokens/s of one replica of ``scenario`` with every request queued at t = 0.

    ``requests`` (default: three batches' worth, at least 500, at most 6000) equal requests
    of ``prompt_tokens`` + ``output_tokens``. ``detail=True`` returns (tokens/s, ServingResult).
    """
    sc = _scenario(scenario)
    for name, v in (("prompt_tokens", prompt_tokens), ("output_tokens", output_tokens)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name}={v!r} is not allowed: must be a whole number >= 1")
    cfg = ServeConfig(scheduler, max_batch, max_batched_tokens, 1, kv_cache_fraction,
                      admission=admission)
    plan = Plan(sc, cfg, prompt_tokens, prompt_tokens + output_tokens)
    fit = plan.kv_tokens / (prompt_tokens + output_tokens / 2.0 + 8)
    n = requests or int(min(max(3 * min(max_batch, fit), 500), 6000))
    trace = Trace(np.zeros(n), np.full(n, prompt_tokens), np.full(n, output_tokens))
    w = Workload(requests=n, trace=trace)
    res = run_plan(plan, w, trace, {}, record_steps=detail)
    tps = res.summary["output_tokens_per_s"]
    return (tps, res) if detail else tps


def _precision(row, wb):
    """(weight-format fields, kv_bits) of a row. The format from its notes where the engine
    knows precision formats (``kernel_model.formats``), else ``weight_bits`` alone. The KV
    cache: 8-bit for 8- and 4-bit checkpoints (the FP8 / NVFP4 checkpoints these serving
    benchmarks run, quantised with NVIDIA ModelOpt or AMD Quark, store the KV cache in FP8:
    ``kv_cache_quant_algo: FP8``), or where the notes say FP8 KV; else 16-bit."""
    kv = 8 if wb <= 8 else 16
    try:
        from .. import formats
    except ImportError:
        return {}, kv
    from ..hardware import get_gpu
    notes = str(row.get("notes", "") or "")
    name = formats.format_from_notes(notes, wb, get_gpu(row["gpu"]))[0]
    return {"weight_format": name}, min(kv, formats.kv_bits_from_notes(notes)[0])


def _int(row, key):
    """A whole-number column of a row; missing or empty -> 1."""
    v = row.get(key, 1)
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return 1
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{key}={v!r} is not allowed: must be a whole number") from None
    if f != int(f):
        raise ValueError(f"{key}={v!r} is not allowed: must be a whole number")
    return int(f)


def scenario_for_row(row, efficiency=None) -> tuple[Scenario, dict]:
    """(Scenario, max_throughput options: max_batch, admission) of one saturation row (see
    the module docstring)."""
    from ..runtime import runtime_for_framework
    wb = int(row["weight_bits"])
    ic = "none" if int(row["num_gpus"]) == 1 else row["interconnect"]
    fields = set(Scenario.field_names())
    kw = dict(model=row["model"], gpu=row["gpu"], interconnect=ic, tp=_int(row, "tp"),
              pp=_int(row, "pp"), ep=_int(row, "ep"), weight_bits=wb)
    fmt, kw["kv_bits"] = _precision(row, wb)
    kw.update({k: v for k, v in fmt.items() if k in fields})
    if row.get("framework"):
        kw["runtime"] = runtime_for_framework(str(row["framework"]))[0]
    if efficiency:
        kw["efficiency"] = efficiency
    m = _MAX_BATCH.search(str(row.get("notes", "")))
    trt = "tensorrt" in str(row.get("framework", "")).lower().replace("-", "")
    opts = {"max_batch": int(m.group(1)) if m else DEFAULT_MAX_BATCH,
            "admission": "reserve" if trt else "optimistic"}
    return Scenario(**kw), opts


def _predict_row(r, efficiency=None):
    rec = {k: r[k] for k in ("id", "gpu", "model", "num_gpus", "weight_bits",
                             "prompt_tokens", "output_tokens") if k in r}
    rec["measured"] = float(r["value"])
    try:
        sc, opts = scenario_for_row(r, efficiency)
        rec.update(opts, weight_format=sc.weight_format, kv_bits=int(sc.kv_bits))
        rec["predicted"] = max_throughput(sc, int(r["prompt_tokens"]), int(r["output_tokens"]),
                                          **opts)
        rec["error"] = rec["predicted"] / rec["measured"] - 1.0
        rec["status"] = "ok"
    except ValueError as e:
        rec.update(predicted=math.nan, error=math.nan, status=str(e).split(";")[0])
    return rec


def validate_saturation(df, progress=None, client=None, efficiency=None):
    """Predicted vs measured saturation rows of a measurements DataFrame.

    Returns a DataFrame (one row per ``batch == 0`` ``max_output_tokens_per_s`` row): id,
    gpu, model, num_gpus, weight_bits, prompt_tokens, output_tokens, max_batch, the
    precision the scenario ran with (weight_format, kv_bits), measured, predicted, error
    (predicted / measured - 1), status ("ok" or why it was skipped).
    ``df.attrs["mape"]`` is the mean absolute error of the predicted rows. ``progress``: a
    bar with ``update(n)``; ``client``: a ``dask.distributed`` Client to spread the rows."""
    import pandas as pd
    rows = df[(df["batch"] == 0) & (df["metric"] == METRIC)]
    recs = [r for _, r in rows.iterrows()]
    if client is not None:                      # a dask.distributed Client
        import functools
        out = client.gather(client.map(functools.partial(_predict_row, efficiency=efficiency),
                                       recs, pure=False))
    else:
        out = []
        for r in recs:
            out.append(_predict_row(r, efficiency))
            if progress is not None:
                progress.update(1)
    res = pd.DataFrame(out)
    ok = res["status"] == "ok" if len(res) else []
    res.attrs["mape"] = float(res.loc[ok, "error"].abs().mean()) if len(res) else math.nan
    return res
