"""Where an iteration's time, FLOPs and bytes go: seconds by cause (:func:`breakdown`) and
by phase (:func:`phases`), model and hardware FLOPs (:func:`flop_counts`), and the traffic
of one GPU and of all GPUs (:func:`traffic`)."""
from __future__ import annotations

from ..energy import sent_bytes
from ..schedule import CATEGORIES
from .data_parallel import dp_traffic


def breakdown(P, a, lp, ends, st, pl, dp_exposed, t_opt, opt_compute):
    """Seconds per iteration by cause (the engine's categories): the critical stage's busy
    time, then what waits around it; sums to the iteration time."""
    m, pp, crit = a.m, a.pp, st.crit
    cats_c = {c: 0.0 for c in CATEGORIES}
    nL = st.sizes[crit]
    for pas in ("forward", "backward", "recompute"):
        for c, v in lp[pas].items():
            cats_c[c] += m * nL * v
    for idx, key in ((0, "first"), (pp - 1, "last")):
        if crit == idx:
            for d in ends[key]:
                for c, v in d.items():
                    cats_c[c] += m * v
    cats_c["communication"] += m * pl.z3_mb + dp_exposed
    cats_c["communication"] += pl.p2p_exposed
    cats_c["compute" if opt_compute else "hbm"] += t_opt
    cats_c["launch_overhead"] += P["t_step"]
    cats_c["pipeline_bubble"] = pl.bubble
    return cats_c


def phases(P, a, st, pl, dp_exposed, t_opt):
    """Seconds per iteration by phase (``PHASES``); sums to the iteration time."""
    m, crit = a.m, st.crit
    return {"forward": m * st.fwd[crit], "backward": m * st.bwd[crit],
            "recompute": m * st.rec[crit], "p2p": pl.p2p_exposed,
            "pipeline_bubble": pl.bubble, "dp_communication": dp_exposed + m * pl.z3_mb,
            "optimizer": t_opt + P["t_step"]}


def flop_counts(a, lp, ends, L):
    """(model FLOPs: forward + backward, hardware FLOPs: with recompute) per iteration over
    all GPUs."""
    tp, cp = a.tp, a.cp
    fwd_layer_flops = lp["model_flops"] * tp * cp   # one micro-batch, one layer (per-GPU work x gps / reps)
    lm = ends["lm_flops"] * tp * cp
    samples_mb = a.global_batch / a.micro_batch
    model_flops = samples_mb * 3.0 * (L * fwd_layer_flops + lm)
    rec_model = (lp["model_flops"] if a.recompute == "full" else lp["rec_tot"][0]) * tp * cp
    hardware_flops = model_flops + samples_mb * L * rec_model
    return model_flops, hardware_flops


def _stage_traffic(a, lp, ends, st, s, dpg, dp_kind, opt_bytes_pp, S):
    """FLOPs, HBM bytes and bytes sent (TP, DP, pipeline) per iteration by one GPU of
    stage ``s``."""
    pp, m = a.pp, a.m
    dp_per_param, dp_passes, dp_times = dp_kind
    n = st.sizes[s]
    fl = (lp["fwd_tot"][0] + lp["bwd_tot"][0] + lp["rec_tot"][0]) * n
    hb = (lp["fwd_tot"][1] + lp["bwd_tot"][1] + lp["rec_tot"][1]) * n
    lk = (lp["fwd_tot"][2] + lp["bwd_tot"][2] + lp["rec_tot"][2]) * n
    for idx, key in ((0, "first_tot"), (pp - 1, "last_tot")):
        if s == idx:
            fl, hb, lk = fl + ends[key][0], hb + ends[key][1], lk + ends[key][2]
    nd, ne = st.params[s]
    sh = dpg.shard(nd, ne, a.zero_stage >= 1)
    dpb = dp_times * dpg.over(sent_bytes, nd, ne, dp_per_param, dp_passes)
    sends = (1 if s > 0 else 0) + (1 if s < pp - 1 else 0)
    return {"flops": m * fl + 12.0 * sh, "hbm_bytes": m * hb + opt_bytes_pp * sh,
            "tp_bytes": m * lk, "dp_bytes": dpb, "p2p_bytes": m * S * sends}


def traffic(P, a, lp, ends, st, hops, dpg, opt_bytes_pp):
    """(one GPU of the critical stage: flops, hbm_bytes, link_bytes; all GPUs: flops,
    hbm_bytes, link_bytes within nodes, network_bytes) per iteration, for energy."""
    dp_kind = dp_traffic(a.zero_stage, a.wbytes, a.gbytes, a.m)
    per_stage = [_stage_traffic(a, lp, ends, st, s, dpg, dp_kind, opt_bytes_pp, hops.S)
                 for s in range(a.pp)]
    c = per_stage[st.crit]
    per_gpu = {"flops": c["flops"], "hbm_bytes": c["hbm_bytes"],
               "link_bytes": c["tp_bytes"] + c["dp_bytes"] + c["p2p_bytes"]}
    link, gpn, group, pp = P["link"], P["gpn"], hops.group, a.pp
    cross_dp = group > gpn or link["gpn"] <= 1
    cross_tp = a.tp > gpn or link["gpn"] <= 1
    frac_x = sum(hops.crosses) / (pp - 1) if pp > 1 else 0.0
    tot = {"flops": 0.0, "hbm_bytes": 0.0, "link_bytes": 0.0, "network_bytes": 0.0}
    for t in per_stage:
        tot["flops"] += group * t["flops"]
        tot["hbm_bytes"] += group * t["hbm_bytes"]
        for key, network in (("tp_bytes", cross_tp), ("dp_bytes", cross_dp)):
            tot["network_bytes" if network else "link_bytes"] += group * t[key]
        tot["network_bytes"] += group * t["p2p_bytes"] * frac_x
        tot["link_bytes"] += group * t["p2p_bytes"] * (1 - frac_x)
    return per_gpu, tot
