"""Capacity under an SLO, and the plan that serves the most per GPU.

``capacity(scenario, workload, slo)``
    the highest request rate whose simulated run meets every SLO percentile, by bisection
    between 0 and the saturation rate (``max_throughput`` / mean output length);
``plan_capacity(model, gpu, num_gpus, slo)``
    every TP x PP x replicas split of ``num_gpus`` (and weight precisions, schedulers),
    memory-checked at once with the stacked closed form (``kernel_model.sweep``), then
    ``capacity`` per plan; a table sorted by goodput per GPU, with $ per million output
    tokens when ``gpu_hour_usd`` is given and the GPUs a ``target_rps`` needs.

Replicas share the load round-robin, so a plan's capacity is ``replicas`` times the
capacity of one replica (each replica sees every ``replicas``-th request); the search
simulates one replica at ``rate / replicas``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .config import ServeConfig, parse_slo, DEFAULT_SLO
from .simulator import Plan, run_plan, _scenario
from .workload import Workload, LogNormal

CHAT = dict(prompt=LogNormal(161.31, 161.31, 4, 2048), output=LogNormal(337.99, 337.99, 4, 2048))


@dataclass
class CapacityResult:
    rate_rps: float                  # highest rate meeting the SLO (all replicas)
    rate_rps_per_gpu: float
    output_tokens_per_s: float       # at that rate
    summary: dict                    # of the run at that rate (one replica)
    points: list = field(default_factory=list)   # (rate_rps, slo_met, summary) searched
    saturation_rps: float = 0.0
    reason: str = ""

    def curve(self):
        """The searched points as a DataFrame sorted by rate: rate_rps, slo_met,
        throughput_rps, output_tokens_per_s, ttft_p90_s, tpot_p99_s, e2e_p90_s."""
        import pandas as pd
        rows = [dict(rate_rps=r, slo_met=m, **{k: s[k] for k in (
            "throughput_rps", "output_tokens_per_s", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s",
            "tpot_p50_s", "tpot_p90_s", "tpot_p99_s", "e2e_p90_s")}) for r, m, s in self.points]
        return pd.DataFrame(rows).sort_values("rate_rps", kind="stable").reset_index(drop=True)


def _shape(workload, requests):
    if workload is None:
        workload = Workload(rate_rps=1.0, requests=requests or 1000, **CHAT)
    if not isinstance(workload, Workload):
        raise ValueError(f"workload={workload!r} is not allowed: a kernel_model.serving.Workload")
    if workload.closed_loop:
        raise ValueError("capacity needs an open-loop workload (a rate), not users=...")
    return workload


def capacity(scenario, workload=None, slo=None, scheduler="continuous", max_batch=256,
             max_batched_tokens=8192, replicas=1, kv_cache_fraction=0.9, prefix_cache=False,
             tol=0.02, requests=None, progress=None, admission="optimistic") -> CapacityResult:
    """Highest request rate (requests/s, all ``replicas``) at which ``scenario`` serving
    ``workload``'s shape (its lengths and arrival process; default: chat-like lengths, 1000
    Poisson requests) meets ``slo`` (default ``DEFAULT_SLO``), to a relative ``tol``."""
    sc = _scenario(scenario)
    slo = parse_slo(DEFAULT_SLO if slo is None else slo)
    if not slo:
        raise ValueError("slo={} is not allowed: capacity needs at least one limit, "
                         "e.g. {'ttft_p90_s': 1.0}")
    w = _shape(workload, requests)
    if requests:
        from dataclasses import replace
        w = replace(w, requests=int(requests))
    if not 0 < tol < 1:
        raise ValueError(f"tol={tol!r} is not allowed: must be in (0, 1)")
    cfg = ServeConfig(scheduler, max_batch, max_batched_tokens, 1, kv_cache_fraction,
                      bool(prefix_cache), admission=admission)
    trace0 = w.with_rate(1.0).sample()
    plan = Plan(sc, cfg, int(trace0.prompt_tokens.max()),
                int((trace0.prompt_tokens + trace0.output_tokens).max()))
    return _search(plan, w, slo, replicas, tol, progress)


def _run(plan, w, slo, rate):
    wr = w.with_rate(rate)
    return run_plan(plan, wr, wr.sample(), slo, record_steps=False).summary


def _saturation_rps(plan, w, slo):
    """Requests/s one replica completes with every request of the shape queued at once."""
    from .entities import Trace
    tr = w.with_rate(1.0).sample()
    n = len(tr)
    flood = Trace(np.zeros(n), tr.prompt_tokens, tr.output_tokens, tr.prefix_id,
                  tr.prefix_tokens)
    s = run_plan(plan, Workload(requests=n, trace=flood), flood, slo, record_steps=False).summary
    return s["throughput_rps"]


def _search(plan, w, slo, replicas, tol, progress):
    sat = _saturation_rps(plan, w, slo)
    points = []

    def probe(rate):
        s = _run(plan, w, slo, rate)
        points.append((rate * replicas, s["slo_met"], s))
        if progress is not None:
            progress.update(1)
        return s["slo_met"], s

    # the all-at-once run drains its last batch slowly, so the sustainable rate may exceed
    # it: bracket from 1.5x upwards
    hi = 1.5 * sat
    ok, s_hi = probe(hi)
    lo, best = 0.0, None
    while ok:
        if hi > 16 * sat:
            return _result(plan, hi, s_hi, points, sat, replicas,
                           "meets the SLO at every rate tried (16x saturation)")
        lo, best = hi, s_hi
        hi *= 2.0
        ok, s_hi = probe(hi)
    if best is None:
        low = sat * 1e-3
        ok, s_lo = probe(low)
        if not ok:
            return _result(plan, 0.0, s_lo, points, sat, replicas,
                           f"misses the SLO even at {low * replicas:.3g} req/s "
                           f"({_misses(s_lo)})")
        lo, best = low, s_lo
    while (hi - lo) > tol * hi:
        mid = math.sqrt(lo * hi) if hi / lo > 8 else 0.5 * (lo + hi)
        ok, s = probe(mid)
        if ok:
            lo, best = mid, s
        else:
            hi = mid
    return _result(plan, lo, best, points, sat, replicas, "")


def _misses(s):
    return ", ".join(f"{k} {v:.3g} > {s['slo'][k]:g}" for k, v in s["slo_measured"].items()
                     if v > s["slo"][k])


def _result(plan, rate, s, points, sat, replicas, reason):
    gpus = plan.sc.num_gpus * replicas
    return CapacityResult(rate * replicas, rate * replicas / gpus,
                          s["output_tokens_per_s"] * replicas if rate > 0 else 0.0, s, points,
                          sat * replicas, reason)
