"""``plan_capacity``: which split of N GPUs serves the most requests per GPU under an SLO."""
from __future__ import annotations

import math

from ..hardware import get_gpu
from ..scenario import Scenario
from .capacity import capacity, _shape
from .config import parse_slo, DEFAULT_SLO, ServeConfig

COLUMNS = ("tp", "pp", "replicas", "weight_bits", "kv_bits", "scheduler", "capacity_rps",
           "goodput_rps_per_gpu", "output_tokens_per_s", "output_tokens_per_s_per_gpu",
           "ttft_p90_s", "tpot_p99_s", "mean_batch", "kv_cache_tokens", "note")


def _powers(n):
    return [k for k in (1, 2, 4, 8, 16, 32, 64) if k <= n and n % k == 0]


def candidate_plans(model, gpu, num_gpus, interconnect=None, weight_bits=(16, 8),
                    weight_format="auto"):
    """(tp, pp, replicas, weight_bits) splits of ``num_gpus`` that fit in memory with room
    for KV, memory-checked in one stacked evaluation (``kernel_model.sweep``). An explicit
    ``weight_format`` (``nvfp4``, ``q4_k_m``, ...) replaces the ``weight_bits`` search."""
    from ..sweep import sweep
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 1:
        raise ValueError(f"num_gpus={num_gpus!r} is not allowed: must be a whole number >= 1")
    if weight_format != "auto":
        from ..formats import get_format
        weight_bits = (get_format(weight_format).bits,)
    link = interconnect or get_gpu(gpu).native_link
    splits = [(tp, pp) for tp in _powers(num_gpus) for pp in _powers(num_gpus // tp)]
    plans = []
    for tp, pp in splits:
        ic = "none" if tp * pp == 1 else link
        grid = {"model": [model], "gpu": [gpu], "interconnect": [ic], "tp": [tp], "pp": [pp],
                "micro_batches": [pp], "batch": [pp], "weight_bits": list(weight_bits),
                "weight_format": [weight_format], "prompt_tokens": [1024], "output_tokens": [1]}
        df = sweep(grid, invalid="drop")
        for _, r in df.iterrows():
            # weights + activations leave at least a tenth of the memory for KV
            if r["weights_bytes"] + r["activations_bytes"] < 0.8 * r["capacity_bytes"]:
                plans.append((tp, pp, num_gpus // (tp * pp), int(r["weight_bits"]), ic))
    return plans


def _one(args):
    (model, gpu, ic, tp, pp, reps, wb, sched, w, slo, kw) = args
    kw = dict(kw)
    fmt, runtime = kw.pop("weight_format", "auto"), kw.pop("runtime", "compiled")
    kv = kw.pop("kv_bits", None)
    sc = Scenario(model=model, gpu=gpu, interconnect=ic, tp=tp, pp=pp, weight_bits=wb,
                  weight_format=fmt, kv_bits=(16 if wb == 16 else 8) if kv is None else kv,
                  runtime=runtime)
    try:
        c = capacity(sc, w, slo, scheduler=sched, replicas=reps, **kw)
    except ValueError as e:
        return None, str(e)
    s = c.summary
    return dict(tp=tp, pp=pp, replicas=reps, weight_bits=wb, kv_bits=sc.kv_bits, scheduler=sched,
                capacity_rps=c.rate_rps, goodput_rps_per_gpu=c.rate_rps_per_gpu,
                output_tokens_per_s=c.output_tokens_per_s,
                output_tokens_per_s_per_gpu=c.output_tokens_per_s / (tp * pp * reps),
                ttft_p90_s=s["ttft_p90_s"], tpot_p99_s=s["tpot_p99_s"],
                mean_batch=s["mean_batch"], kv_cache_tokens=s["kv_blocks"] * 16.0,
                note=c.reason), ""


def plan_capacity(model, gpu, num_gpus, slo=None, workload=None, interconnect=None,
                  weight_bits=(16, 8), schedulers=("continuous", "chunked"),
                  gpu_hour_usd=None, target_rps=None, tol=0.05, requests=400,
                  client=None, progress=False, weight_format="auto", runtime="compiled",
                  kv_bits=None, **serve_kw):
    """Capacity of every plan for ``model`` on ``num_gpus`` x ``gpu`` under ``slo`` (default
    ``DEFAULT_SLO``), best goodput per GPU first (pandas DataFrame, columns ``COLUMNS``;
    ``usd_per_m_output_tokens`` with ``gpu_hour_usd``; ``gpus_for_target`` with
    ``target_rps``: GPUs of this plan's shape that serve that rate). ``client``: a
    ``dask.distributed`` Client to run the plans on (``client.map``); ``progress=True``
    shows a bar. ``weight_format`` (not ``"auto"``: every plan runs that format, in place of
    the ``weight_bits`` search), ``runtime`` (a serving runtime profile) and ``kv_bits``
    (None: 16 with 16-bit weights, else 8, the FP8 KV cache serving stacks pair with
    quantised weights) hold for every plan. ``serve_kw`` (max_batch, max_batched_tokens,
    kv_cache_fraction, admission) go to ``capacity``."""
    import pandas as pd
    slo = parse_slo(DEFAULT_SLO if slo is None else slo)
    w = _shape(workload, requests)
    for s in schedulers:
        ServeConfig(scheduler=s)
    if gpu_hour_usd is not None and not (isinstance(gpu_hour_usd, (int, float))
                                         and gpu_hour_usd > 0):
        raise ValueError(f"gpu_hour_usd={gpu_hour_usd!r} is not allowed: must be > 0 ($/hour)")
    Scenario(model=model, gpu=gpu, weight_format=weight_format, runtime=runtime,   # names checked
             kv_bits=16 if kv_bits is None else kv_bits)
    kw = dict(serve_kw, tol=tol, requests=requests, weight_format=weight_format, runtime=runtime,
              kv_bits=kv_bits)
    jobs = [(model, gpu, ic, tp, pp, reps, wb, sched, w, slo, kw)
            for tp, pp, reps, wb, ic in candidate_plans(model, gpu, num_gpus, interconnect,
                                                        weight_bits, weight_format)
            for sched in schedulers]
    if not jobs:
        what = (f"weight_format={weight_format!r}" if weight_format != "auto"
                else f"weight_bits in {tuple(weight_bits)}")
        raise ValueError(f"{model} does not fit on {num_gpus} x {gpu} with {what}: use more "
                         f"GPUs or fewer weight bits")
    if client is not None:
        results = client.gather(client.map(_one, jobs, pure=False))
    else:
        from ..progress import progress_bar
        bar = progress_bar(len(jobs), desc="plans", unit="plan") if progress else None
        results = []
        for j in jobs:
            results.append(_one(j))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    rows = [r for r, _ in results if r is not None]
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    if gpu_hour_usd is not None:
        usd_s = gpu_hour_usd * num_gpus / 3600.0
        df["usd_per_m_output_tokens"] = [usd_s / t * 1e6 if t > 0 else math.inf
                                         for t in df["output_tokens_per_s"]]
    if target_rps is not None:
        g = df["tp"] * df["pp"]
        per_rep = df["capacity_rps"] / df["replicas"]
        df["gpus_for_target"] = [int(math.ceil(target_rps / c) * k) if c > 0 else None
                                 for c, k in zip(per_rep, g)]
    df = df.sort_values(["goodput_rps_per_gpu", "output_tokens_per_s"], ascending=False,
                        kind="stable").reset_index(drop=True)
    df.attrs["slo"] = slo
    df.attrs["skipped"] = [e for r, e in results if r is None]
    return df
