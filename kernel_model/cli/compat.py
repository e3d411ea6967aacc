"""``--json-compat``: today's ``--json`` keys plus the old tool's top-level keys, filled from
the new engine, so consumers of the old JSON keep working.

  preset         the --preset name (or the interconnect in use, or "custom-...")
  config         the old flag names and the values this run used
  baseline       ns_per_token, tok_per_sec and the breakdown in ns of the given plan
  baseline_risk  risk of the given --overlap / --group / --bits (see kernel_model.cli.tune)
  tp_comparison  tp1_ns, tp1_tok_per_sec, tp2_ns, tp2_ratio, tp2_overhead_pct, tpn_ns, ...:
                 tpK_ratio = tpK_ns / tp1_ns; tpK_overhead_pct = 100 x (tpK_ns / (tp1_ns / K) - 1),
                 the excess over ideal linear scaling; null where the model cannot shard K ways
  optimized      the optimiser's suggestion (null with --no-opt)
  insights       list of sentences: the insight, warnings and notes
"""
from __future__ import annotations

from .tune import risk


def _ns(res):
    return None if res is None else res.tpot_s * 1e9


def config(a, sc, ov) -> dict:
    return {"tp": sc.tp, "pp": sc.pp, "ep": sc.ep, "micro_batches": sc.micro_batches,
            "preset": a.preset, "algo": sc.algorithm, "bw_gbps": sc.link_spec().bw_gbps,
            "latency_ns": round(sc.link_spec().latency_s * 1e9, 6), "memory_bw_gbps": sc.gpu_spec().hbm_gbps,
            "model": sc.model, "gpu": sc.gpu, "layers": sc.model_spec().layers,
            "comm_ops": a.comm_ops, "ar_bytes": ov.ar_bytes, "ag_bytes": a.ag_bytes,
            "ctx_len": a.ctx_len, "kv_bytes_base": ov.kv_bytes, "no_kv_shard": ov.no_kv_shard,
            "compute_ns": a.compute_ns, "batch_size": sc.batch,
            "moe_experts": sc.model_spec().experts if sc.model_spec().is_moe else 0,
            "active_experts": sc.model_spec().top_k, "group": sc.comm_group, "bits": sc.comm_bits,
            "overlap": sc.overlap, "ttft": a.ttft, "cache_aware": a.cache_aware,
            "max_risk": a.max_risk, "max_group": a.max_group, "no_opt": a.no_opt,
            "prompt_tokens": sc.prompt_tokens, "output_tokens": sc.output_tokens,
            "prefill_factor": a.prefill_factor, "kv_write_ns": a.kv_write_ns,
            "kv_read_ns": a.kv_read_ns}


def tp_comparison(res, scaling) -> dict:
    by = dict(scaling)
    base = by.get(1)
    out = {"tp1_ns": _ns(base), "tp1_tok_per_sec": None if base is None else base.output_tokens_per_s}
    n = res.scenario.tp
    for key, k in (("tp2", 2), ("tpn", n)):
        r = res if k == n else by.get(k)
        out[f"{key}_ns"] = _ns(r)
        out[f"{key}_tok_per_sec"] = None if r is None else r.output_tokens_per_s
        ok = r is not None and base is not None
        out[f"{key}_ratio"] = r.tpot_s / base.tpot_s if ok else None
        out[f"{key}_overhead_pct"] = 100.0 * (r.tpot_s / (base.tpot_s / k) - 1.0) if ok else None
    out["n"] = n
    return out


def document(a, res, scaling, ov, opt, notes) -> dict:
    sc = res.scenario
    d = res.to_dict()
    d["preset"] = a.preset or sc.interconnect
    d["config"] = config(a, sc, ov)
    d["baseline"] = {"ns_per_token": res.tpot_s * 1e9, "tok_per_sec": res.output_tokens_per_s,
                     "ttft_ns": res.ttft_s * 1e9, "bottleneck": res.bottleneck,
                     **{f"{k}_ns": v * 1e9 for k, v in res.breakdown.items()}}
    d["baseline_risk"] = risk(sc.overlap, sc.comm_group, sc.comm_bits)
    d["tp_comparison"] = tp_comparison(res, scaling)
    d["optimized"] = None if opt is None else {
        "group": opt["group"], "bits": opt["bits"], "overlap": opt["overlap"], "risk": opt["risk"],
        "ns_per_token": opt["tpot_s"] * 1e9, "tok_per_sec": opt["tokens_per_s"],
        "speedup": opt["speedup"]}
    d["insights"] = [res.insight] + list(res.warnings) + list(notes)
    return d
