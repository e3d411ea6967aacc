"""Compose kernels into a decode step and a prefill: layers, stages, micro-batches.

All functions are vectorised over the arrays in ``P`` (see ``simulate.params``), so the
sweep and ``simulate()`` share one closed form.

Pipeline model (per pass, ``m`` micro-batches, stage times t_s, transfers between stages):
  decode step  = max(m * t_crit, sum_s t_s + transfers) + host
                 (a micro-batch's next token needs it to pass every stage; each stage
                 serves all m micro-batches);
  prefill      = sum_s t_s + transfers + (m - 1) * t_crit + host
                 (fill and drain, GPipe-style forward);
  host         = step_overhead_s (+ eager_server_step_s on the "eager_server" runtime), host
                 time per forward pass, + host_per_seq_s x the sequences sampled in the pass
                 (the runtime's Python engine loop), counted with the launch overhead.
The breakdown is the critical stage's busy time by cause, plus exposed transfers
(communication) and idle time (pipeline_bubble); its parts add up to the total.
"""
from __future__ import annotations

from . import xp as np   # numpy, with a pure-float branch for one scenario

from . import collectives as coll
from .kernels import (LAYER_KERNELS, HEAD_KERNELS, TAIL_KERNELS, KIND, layer_work,
                      head_tail_work, kernel_times)

CATEGORIES = ("compute", "hbm", "communication", "launch_overhead", "pipeline_bubble")


def _sum(times, names, idx):
    total = 0.0
    for n in names:
        total = total + times[n][idx]
    return total


def phase(P, link, prefill, mix=None):
    """Times of one decode step (prefill=False) or of the prefill (True).

    ``mix=(tokens, last, layer_work)`` of one micro-batch replaces the work of a uniform
    batch (a mixed decode + prefill-chunk pass, ``kernel_model.serving.predictor``).

    Returns a dict with per-kernel times (``kt``) and work (``work``) of one layer / head /
    tail, the comm hidden per layer, the transfer times, the total and its breakdown.
    """
    m, pp, L = P["m"], P["pp"], P["L"]
    b = P["B"] / m                                       # sequences per micro-batch
    if mix is not None:
        tokens, last, work = mix[0], mix[1], dict(mix[2])
    elif prefill:
        tokens, ctx, last = b * P["p"], P["p"], b
    else:
        tokens, ctx, last = b, P["ctx"], b
    if mix is None:
        work = layer_work(P, tokens, b, ctx, prefill)
    work.update(head_tail_work(P, tokens / (P["gps"] / P["tp"]), last))
    kt = kernel_times(P, work, link, LAYER_KERNELS + HEAD_KERNELS + TAIL_KERNELS)

    comm_l = _sum(kt, LAYER_KERNELS, 4)
    mm = [n for n in LAYER_KERNELS if KIND[n] in ("gemm", "attention")]
    gemm_l = _sum(kt, mm, 1) + _sum(kt, mm, 2)          # math and memory time, no launch gaps
    hidden = np.minimum(P["overlap"] * comm_l, gemm_l)  # comm hidden behind concurrent math
    layer = {
        "compute": _sum(kt, LAYER_KERNELS, 1),
        "hbm": _sum(kt, LAYER_KERNELS, 2),
        "launch_overhead": _sum(kt, LAYER_KERNELS, 3),
        "communication": comm_l - hidden,
    }
    head = {c: _sum(kt, HEAD_KERNELS, i) for c, i in
            (("compute", 1), ("hbm", 2), ("launch_overhead", 3), ("communication", 4))}
    tail = {c: _sum(kt, TAIL_KERNELS, i) for c, i in
            (("compute", 1), ("hbm", 2), ("launch_overhead", 3), ("communication", 4))}
    t_layer = sum(layer.values())
    t_head = sum(head.values())
    t_tail = sum(tail.values())

    L_first = np.ceil(L / pp)
    L_last = L - (pp - 1) * L_first
    L_last = np.where(L_last < 1, np.floor(L / pp), L_last)   # uneven splits
    t_first = np.where(pp > 1, L_first * t_layer + t_head, L * t_layer + t_head + t_tail)
    t_last = L_last * t_layer + t_tail
    first_crit = (pp <= 1) | (t_first >= t_last)
    t_crit = np.where(first_crit, t_first, t_last)
    crit = {}
    for c in layer:
        f = np.where(pp > 1, L_first * layer[c] + head[c], L * layer[c] + head[c] + tail[c])
        crit[c] = np.where(first_crit, f, L_last * layer[c] + tail[c])

    # transfers between stages: activations of the micro-batch, each TP rank its share
    n_nodes = np.ceil(P["gps"] * pp / P["gpn"])
    n_cross = np.minimum(pp - 1, n_nodes - 1)
    S = tokens / (P["gps"] / P["tp"]) * P["h"] * P["cb"] / P["tp"]
    t_in = coll.p2p(S, False, link, P["c_coll"])
    t_x = coll.p2p(S, True, link, P["c_coll"])
    transfers = np.where(pp > 1, (pp - 1 - n_cross) * t_in + n_cross * t_x, 0.0)
    cycle = L * t_layer + t_head + t_tail + transfers

    busy = m * t_crit
    if prefill:
        # fill and drain: cycle + (m - 1) t_crit, written as busy + extra so that the idle
        # time is exactly 0 with one stage (cycle == t_crit) and never negative
        extra = np.where(pp > 1, np.maximum(cycle - t_crit, 0.0), 0.0)
        core = busy + extra
    else:
        core = np.maximum(busy, cycle)
        extra = core - busy                                 # >= 0 exactly; 0 when pp == 1
    p2p_exposed = np.minimum(transfers, extra)
    host = P["t_step"] + P["server"] * P["t_server"] + P["t_seq"] * (m * last)
    total = core + host
    bd = {c: m * crit[c] for c in crit}
    bd["communication"] = bd["communication"] + p2p_exposed
    bd["launch_overhead"] = bd["launch_overhead"] + host
    bd["pipeline_bubble"] = extra - p2p_exposed
    return dict(kt=kt, work=work, hidden=hidden, t_in=t_in, t_x=t_x, total=total, host=host,
                breakdown=bd, tokens=tokens, L_first=L_first)
