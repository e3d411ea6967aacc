"""Summary figures of a serving run: throughput, latency percentiles, batch, KV use, SLO."""
from __future__ import annotations

import numpy as np

from .config import BLOCK_TOKENS

PCTS = (50, 90, 99)


def _pct(x, q):
    x = x[~np.isnan(x)]
    return float(np.percentile(x, q)) if x.size else float("nan")


def slo_check(req, slo):
    """({key: measured}, all met, per-request mask of meeting every threshold)."""
    measured, ok = {}, True
    mask = np.ones(len(req), dtype=bool)
    for key, limit in slo.items():
        metric, p = key[:-2].split("_p")
        x = req[f"{metric}_s"].to_numpy()
        v = _pct(x, float(p))
        measured[key] = v
        ok = ok and (v != v or v <= limit)    # NaN: no request has that figure (1 token)
        mask &= ~(x > limit)               # NaN TPOT (one output token) meets any TPOT limit
    return measured, bool(ok), mask


def summarize(req, steps, slo, num_gpus, area_wait, preemptions, kv_tokens, stats):
    """The ``summary`` dict of a ``ServingResult`` (see ``ServingResult``); ``stats``: the
    replicas' time integrals (busy_s, batch_area, kv_area in token-seconds, kv_max tokens)."""
    first = float(req["arrival_s"].min())
    last = float(req["finish_s"].max())
    duration = max(last - first, 1e-12)
    out_tok = float(req["output_tokens"].sum())
    s = {"requests": int(len(req)), "duration_s": duration, "num_gpus": int(num_gpus),
         "throughput_rps": len(req) / duration, "output_tokens_per_s": out_tok / duration,
         "input_tokens_per_s": float(req["prompt_tokens"].sum()) / duration}
    s["throughput_rps_per_gpu"] = s["throughput_rps"] / num_gpus
    s["output_tokens_per_s_per_gpu"] = s["output_tokens_per_s"] / num_gpus
    for m in ("ttft", "tpot", "e2e", "queue"):
        x = req[f"{m}_s"].to_numpy()
        s[f"{m}_mean_s"] = float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")
        for q in PCTS:
            s[f"{m}_p{q}_s"] = _pct(x, q)
    s["steps"] = int(len(steps))
    s["busy_s"] = stats["busy_s"]
    busy = max(stats["busy_s"], 1e-300)
    s["mean_batch"] = stats["batch_area"] / busy
    s["kv_utilisation_mean"] = stats["kv_area"] / busy / max(kv_tokens, 1e-300)
    s["kv_utilisation_max"] = stats["kv_max"] / max(kv_tokens, 1e-300)
    s["kv_blocks"] = float(kv_tokens) / BLOCK_TOKENS
    s["preemptions"] = int(preemptions)
    s["mean_queue_length"] = area_wait / duration            # Little: = rate * mean queue_s
    measured, met, mask = slo_check(req, slo)
    s["slo"] = dict(slo)
    s["slo_measured"] = measured
    s["slo_met"] = met
    s["goodput_rps"] = float(mask.sum()) / duration
    s["goodput_rps_per_gpu"] = s["goodput_rps"] / num_gpus
    s["goodput_tokens_per_s"] = float(req["output_tokens"].to_numpy()[mask].sum()) / duration
    return s


def summary_table(summary) -> list[tuple[str, str]]:
    """(label, text) rows for printing."""
    s = summary
    rows = [("requests", f"{s['requests']} in {s['duration_s']:.2f} s on {s['num_gpus']} GPU(s)"),
            ("throughput", f"{s['throughput_rps']:.3g} req/s, {s['output_tokens_per_s']:.4g} "
                           f"output tok/s ({s['output_tokens_per_s_per_gpu']:.4g} per GPU)")]
    for m in ("ttft", "tpot", "e2e"):
        rows.append((m.upper(), "  ".join(f"p{q} {s[f'{m}_p{q}_s'] * 1e3:.1f} ms" for q in PCTS)))
    rows.append(("batch", f"mean {s['mean_batch']:.1f} sequences, KV cache "
                          f"{s['kv_utilisation_mean'] * 100:.0f} % (max "
                          f"{s['kv_utilisation_max'] * 100:.0f} %), {s['preemptions']} preemptions"))
    if s["slo"]:
        got = ", ".join(f"{k} {v:.3g} (<= {s['slo'][k]:g})" for k, v in s["slo_measured"].items())
        rows.append(("SLO", ("met: " if s["slo_met"] else "MISSED: ") + got))
        rows.append(("goodput", f"{s['goodput_rps']:.3g} req/s within the SLO"))
    return rows
