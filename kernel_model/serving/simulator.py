"""``serve(scenario, workload, ...) -> ServingResult``: requests over replicas of one plan.

Requests go round-robin to ``replicas`` copies of the scenario's parallel plan (closed
loop: a user's requests always to the same replica); each replica runs
``engine.Replica``. ``disaggregated=(prefill_gpus, decode_gpus)`` splits the GPUs into
instances of the plan that only prefill and instances that only decode (DistServe /
Splitwise): a request's KV moves from its prefill instance to a decode instance over the
node's interconnect (across nodes: the inter-node network) after its first token.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..scenario import Scenario
from ..simulate import params
from .config import (ServeConfig, parse_slo, kv_capacity_tokens, as_float_params,
                     BLOCK_TOKENS, WATERMARK)
from .entities import ServingResult, StepLog
from .engine import Replica
from .metrics import summarize
from .predictor import StepModel
from .workload import Workload



def _scenario(sc):
    if isinstance(sc, Scenario):
        return sc
    if isinstance(sc, dict):
        return Scenario.from_dict(sc)
    raise ValueError(f"scenario={sc!r} is not allowed: a Scenario or a dict of its fields")


class Plan:
    """The numbers one replica of a scenario runs with under a config (shared by serve,
    capacity and max_throughput so that the tables are built once)."""

    def __init__(self, sc, cfg, max_prompt, max_total):
        self.sc, self.cfg = sc, cfg
        self.P = as_float_params(params(sc))
        # activations: of a pass of the token budget (a longer prompt admitted alone, or a
        # static batch's prefill, runs in one pass; its buffers are not counted beyond it)
        pass_tokens = cfg.max_batched_tokens
        if cfg.scheduler == "static":
            self.m = sc.micro_batches
            table = cfg.max_batch * max_total
        else:
            self.m = max(sc.micro_batches, sc.pp)
            table = max(cfg.max_batched_tokens, max_total) + cfg.max_batch
        self.kv_tokens, self.kv_detail = kv_capacity_tokens(self.P, cfg.kv_cache_fraction,
                                                            pass_tokens)
        if self.kv_tokens < BLOCK_TOKENS:
            raise ValueError(
                f"no room for a KV cache: weights {self.kv_detail['weights'] / 1e9:.1f} GB + "
                f"activations {self.kv_detail['activations'] / 1e9:.1f} GB per GPU leave "
                f"nothing of kv_cache_fraction={cfg.kv_cache_fraction} of "
                f"{'what is left of ' if self.P.get('kv_of_free') else ''}"
                f"{self.P['cap'] / 1e9:.1f} GB ({sc.model} on {sc.num_gpus} x {sc.gpu}, "
                f"runtime {sc.runtime}); raise tp/pp or lower "
                f"weight_bits / max_batched_tokens")
        self.step_model = StepModel(self.P, table)

    @property
    def kv_blocks(self):
        return self.kv_tokens / BLOCK_TOKENS


def _check_lengths(trace, plan):
    need = trace.prompt_tokens + trace.output_tokens + BLOCK_TOKENS
    room = plan.kv_tokens * (1.0 - WATERMARK)
    bad = np.flatnonzero(need > room)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"request {i}: prompt_tokens + output_tokens = "
            f"{int(trace.prompt_tokens[i] + trace.output_tokens[i])} tokens do not fit the KV "
            f"cache of one replica ({room:.0f} tokens with kv_cache_fraction="
            f"{plan.cfg.kv_cache_fraction}); shorten the request or raise tp/pp/kv_cache_fraction")


def _request_state(trace, workload):
    n = len(trace)
    nan = [math.nan] * n
    R = {"arrival_s": trace.arrival_s.tolist(), "prompt_tokens": trace.prompt_tokens.tolist(),
         "output_tokens": trace.output_tokens.tolist(), "prefix_id": trace.prefix_id.tolist(),
         "prefix_tokens": trace.prefix_tokens.tolist(), "start_s": list(nan),
         "first_token_s": list(nan), "finish_s": list(nan), "wait_since": list(nan),
         "queue_s": [0.0] * n, "generated": [0] * n, "joined": [0] * n, "state": [0] * n,
         "version": [0] * n, "preemptions": [0] * n, "cached_tokens": [0] * n,
         "replica": [0] * n, "next": [-1] * n, "think_s": 0.0}
    if workload.closed_loop:
        U = min(workload.users, n)
        R["next"] = [j + U if j + U < n else -1 for j in range(n)]
        R["think_s"] = float(workload.think_s)
    return R


def _assign(n, replicas, users):
    """Request ids of each replica: round-robin (closed loop: by user)."""
    owner = (np.arange(n) % users if users else np.arange(n)) % replicas
    return [np.flatnonzero(owner == r).tolist() for r in range(replicas)]


def _transfer_s(plan, tokens, total_gpus):
    """Seconds to move ``tokens`` tokens of KV from a prefill to a decode instance: each GPU
    sends its share in parallel over the node's link, or the network across nodes."""
    P = plan.P
    kvfrac = max(1.0 / P["tp"], 1.0 / P["kv_groups"])
    per_gpu = tokens * math.ceil(P["L"] / P["pp"]) * P["kv_elems"] * kvfrac * P["kvb"]
    link = P["link"]
    cross = total_gpus > link["gpn"]
    bw, lat = (link["bw_x"], link["lat_x"]) if cross else (link["bw"], link["lat"])
    return per_gpu / bw + lat


def _frames(R, steps):
    keys = ("arrival_s", "start_s", "first_token_s", "finish_s", "queue_s", "replica",
            "prompt_tokens", "output_tokens", "preemptions", "cached_tokens")
    req = pd.DataFrame({k: R[k] for k in keys})
    req["ttft_s"] = req["first_token_s"] - req["arrival_s"]
    o = req["output_tokens"].to_numpy()
    tpot = (req["finish_s"] - req["first_token_s"]).to_numpy() / np.maximum(o - 1, 1)
    req["tpot_s"] = np.where(o > 1, tpot, np.nan)
    req["e2e_s"] = req["finish_s"] - req["arrival_s"]
    order = ["arrival_s", "start_s", "first_token_s", "finish_s", "ttft_s", "tpot_s", "e2e_s",
             "queue_s", "replica", "prompt_tokens", "output_tokens", "preemptions",
             "cached_tokens"]
    return req[order], steps.frame()


def serve(scenario, workload, scheduler="continuous", max_batch=256, max_batched_tokens=8192,
          replicas=1, kv_cache_fraction=0.9, prefix_cache=False, disaggregated=None,
          slo=None, record_steps=True, admission="optimistic") -> ServingResult:
    """Simulate ``workload`` (a :class:`Workload`) served by ``scenario``'s plan.

    ``slo``: ``{"ttft_p90_s": 1.0, "tpot_p99_s": 0.05}`` (or the string form) for
    ``summary["slo_met"]`` and the goodput. ``admission``: "optimistic" (vLLM: admit when
    the prompt fits, preempt when the cache overflows) or "reserve" (TensorRT-LLM's
    GUARANTEED_NO_EVICT: admit when prompt + output fit, never preempt). ``record_steps``:
    False skips the per-pass table (faster). See the package docstring for the rest."""
    sc = _scenario(scenario)
    if not isinstance(workload, Workload):
        raise ValueError(f"workload={workload!r} is not allowed: a kernel_model.serving.Workload")
    cfg = ServeConfig(scheduler, max_batch, max_batched_tokens, replicas, kv_cache_fraction,
                      bool(prefix_cache), disaggregated, admission)
    slo = parse_slo(slo)
    trace = workload.sample()
    plan = Plan(sc, cfg, int(trace.prompt_tokens.max()),
                int((trace.prompt_tokens + trace.output_tokens).max()))
    return run_plan(plan, workload, trace, slo, record_steps)


def run_plan(plan, workload, trace, slo, record_steps=True) -> ServingResult:
    """``serve`` on a prepared :class:`Plan` (capacity searches reuse one)."""
    cfg, sc = plan.cfg, plan.sc
    _check_lengths(trace, plan)
    R = _request_state(trace, workload)
    steps = StepLog() if record_steps else None
    n = len(trace)
    if cfg.disaggregated:
        reps, gpus = _run_disaggregated(plan, workload, R, steps, n)
    else:
        users = workload.users if workload.closed_loop else 0
        reps = []
        for r, ids in enumerate(_assign(n, cfg.replicas, users)):
            rep = Replica(plan.step_model, cfg, plan.kv_tokens, plan.m, r, steps=steps)
            for i in ids:
                R["replica"][i] = r
            rep.run(R, ids)
            reps.append(rep)
        gpus = cfg.replicas * sc.num_gpus
    req, st = _frames(R, steps or StepLog())
    stats = {k: sum(getattr(r, k) for r in reps) for k in ("busy_s", "batch_area", "kv_area")}
    stats["kv_max"] = max(r.kv_max for r in reps)
    summary = summarize(req, st, slo, gpus, sum(r.area_wait for r in reps),
                        sum(r.preemptions for r in reps), plan.kv_tokens, stats)
    config = dict(cfg.to_dict(), scenario=sc.to_dict(), workload=workload.describe(),
                  kv_cache_tokens=plan.kv_tokens, micro_batches=plan.m)
    return ServingResult(req, st, summary, config)


def _run_disaggregated(plan, workload, R, steps, n):
    cfg, sc = plan.cfg, plan.sc
    if workload.closed_loop:
        raise ValueError("disaggregated=(...) with a closed-loop workload (users=...) is not "
                         "supported; use an open-loop rate or a trace")
    if cfg.replicas != 1:
        raise ValueError(f"replicas={cfg.replicas} with disaggregated=(...): the pools set "
                         f"the instances; leave replicas=1")
    pg, dg = cfg.disaggregated
    g = sc.num_gpus
    if pg % g or dg % g:
        raise ValueError(f"disaggregated={cfg.disaggregated}: each pool must be a multiple "
                         f"of the plan's {g} GPU(s) (tp={sc.tp}, pp={sc.pp})")
    n_pre, n_dec = pg // g, dg // g
    reps = []
    for r, ids in enumerate(_assign(n, n_pre, 0)):
        rep = Replica(plan.step_model, cfg, plan.kv_tokens, plan.m, r, mode="prefill",
                      pool="prefill", steps=steps)
        rep.run(R, ids)
        reps.append(rep)
    first = np.array(R["first_token_s"])
    D = dict(R)
    D["arrival_s"] = (first + np.array([_transfer_s(plan, p, pg + dg)
                                        for p in R["prompt_tokens"]])).tolist()
    for k in ("queue_s", "state", "version", "joined", "wait_since"):
        D[k] = list(R[k]) if k != "queue_s" else [0.0] * n
    D["generated"] = [1] * n
    D["preemptions"] = [0] * n
    D["finish_s"] = [math.nan] * n
    order = np.argsort(first, kind="stable")
    for r, ids in enumerate(_assign(n, n_dec, 0)):
        ids = [int(order[j]) for j in ids]
        rep = Replica(plan.step_model, cfg, plan.kv_tokens, plan.m, n_pre + r, mode="decode",
                      pool="decode", steps=steps)
        for i in ids:
            R["replica"][i] = n_pre + r
        live = [i for i in ids if R["output_tokens"][i] > 1]
        rep.run(D, live)
        reps.append(rep)
    for i in range(n):
        if R["output_tokens"][i] > 1:
            R["finish_s"][i] = D["finish_s"][i]
            R["queue_s"][i] += D["queue_s"][i]
            R["preemptions"][i] += D["preemptions"][i]
    return reps, pg + dg
