"""The pipeline: layers, busy time and parameters of every stage (:func:`stage_times`),
the sends between stages (:func:`pipeline_hops`) and the 1F1B / GPipe time of one
iteration's micro-batches (:func:`pipeline_time`)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import collectives as coll
from ..simulate import _f


def _stage_sizes(L, pp):
    """Layers per pipeline stage: ceil(L / pp) each, the last stage the rest."""
    first = math.ceil(L / pp)
    sizes = [first] * (pp - 1) + [L - first * (pp - 1)] if pp > 1 else [L]
    if sizes[-1] < 1:
        base, extra = divmod(L, pp)
        sizes = [base + (1 if i < extra else 0) for i in range(pp)]
    return sizes


def _params_per_gpu(P, layers, first, last):
    """(dense, expert) parameters held by one GPU of a stage with ``layers`` layers (before
    ZeRO); the first stage holds the embedding, the last the LM head (one stage: both, or
    one tied matrix)."""
    tp, gps, ep, h, phi, mats = P["tp"], P["gps"], P["ep"], P["h"], P["phi"], P["mats"]
    attn = (P["w_qkv"] + P["w_o"]) / tp
    dense = mats * h * P["ffn"] / tp
    experts = P["E"] / ep * mats * h * P["f_e"] / (gps / ep)
    shared = mats * h * P["f_s"] / tp + h * P["E"]
    dense_part = layers * (attn + (1 - phi) * dense + phi * shared + 2 * h)
    n_vocab = P["embed_mats"] if P["pp"] == 1 else float(first) + float(last)
    return dense_part + n_vocab * (P["V"] * h / tp), layers * phi * experts


@dataclass
class Stages:
    """Every pipeline stage: layers, seconds per micro-batch (forward, backward, recompute,
    their sum ``busy``), (dense, expert) parameters per GPU; ``crit`` the busiest stage."""
    sizes: list
    fwd: list
    bwd: list
    rec: list
    busy: list
    crit: int
    params: list


def stage_times(P, lp, ends, L, pp) -> Stages:
    """Busy seconds per micro-batch and parameters per GPU of each of ``pp`` stages of ``L``
    layers, from the per-layer passes ``lp`` and the ``ends``."""
    sizes = _stage_sizes(L, pp)
    t_f = sum(lp["forward"].values())
    t_b = sum(lp["backward"].values())
    t_r = sum(lp["recompute"].values())
    e_ff, e_fb = (sum(d.values()) for d in ends["first"])
    e_lf, e_lb = (sum(d.values()) for d in ends["last"])
    fwd_s, bwd_s, rec_s = [], [], []
    for s, n in enumerate(sizes):
        first, last = s == 0, s == pp - 1
        fwd_s.append(n * t_f + (e_ff if first else 0.0) + (e_lf if last else 0.0))
        bwd_s.append(n * t_b + (e_fb if first else 0.0) + (e_lb if last else 0.0))
        rec_s.append(n * t_r)
    stage = [fwd_s[s] + bwd_s[s] + rec_s[s] for s in range(pp)]
    crit = int(np.argmax(stage))
    stage_params = [_params_per_gpu(P, n, s == 0, s == pp - 1) for s, n in enumerate(sizes)]
    return Stages(sizes, fwd_s, bwd_s, rec_s, stage, crit, stage_params)


@dataclass
class Hops:
    """Sends between stages: GPUs per stage (``group``), which boundaries cross nodes,
    bytes per send per GPU (``S``), seconds per hop, their round-trip sum and the worst."""
    group: int
    crosses: list
    S: float
    hop: list
    total: float
    worst: float


def pipeline_hops(a, P) -> Hops:
    """Seconds of one micro-batch's activation (or gradient) send across each stage
    boundary: activations forward, gradients backward, each TP rank its share."""
    tp, cp, link, gpn = a.tp, a.cp, P["link"], P["gpn"]
    group = tp * cp * a.dp
    stages_per_node = int(gpn // group) if (group < gpn and link["gpn"] > 1) else 1
    crosses = [(s + 1) % stages_per_node == 0 for s in range(a.pp - 1)]   # boundary s -> s+1
    S = a.micro_batch * a.seq_len / cp * P["h"] * P["cb"] / tp
    t_in = _f(coll.p2p(S, False, link, P["c_coll"]))
    t_x = _f(coll.p2p(S, True, link, P["c_coll"]))
    hop = [t_x if x else t_in for x in crosses]
    return Hops(group, crosses, S, hop, 2.0 * sum(hop), max(hop, default=0.0))


@dataclass
class Pipeline:
    """Seconds of the pipeline: per stage per micro-batch (with ZeRO-3's ``z3_mb``; split
    into forward ``f_mb`` and backward ``b_mb``), per iteration (``pipe``), the critical
    stage's share (``busy``), 1F1B steady-state hops, exposed sends and the bubble."""
    stage_mb: list
    f_mb: list
    b_mb: list
    pipe: float
    busy: float
    steady: float
    z3_mb: float
    p2p_exposed: float
    bubble: float


def pipeline_time(a, st: Stages, hops: Hops, z3_mb) -> Pipeline:
    """Seconds of the fill, steady state and drain of ``a.m`` micro-batches through the
    stages ``st`` (1F1B or GPipe), each stage ``z3_mb`` seconds slower per micro-batch."""
    m, pp, schedule = a.m, a.pp, a.schedule
    stage_mb = [t + z3_mb for t in st.busy]
    t_crit = max(stage_mb)
    steady = max(0, m - pp + 1) * 2.0 * hops.worst if (schedule == "1f1b" and pp > 1) else 0.0
    # ZeRO-3 time split between a stage's forward and backward in proportion to their work
    f_mb = [f + (z3_mb * f / (f + b) if f + b else 0.0) for f, b in zip(st.fwd, st.bwd)]
    b_mb = [t - f for t, f in zip(stage_mb, f_mb)]           # backward incl. recompute
    if schedule == "gpipe" and pp > 1:
        # every forward, then every backward: two flow shops of m identical micro-batches,
        # each the sum over stages plus (m - 1) times its slowest stage
        pipe = sum(stage_mb) + hops.total + (m - 1) * (max(f_mb) + max(b_mb))
    else:
        pipe = (m - 1) * t_crit + sum(stage_mb) + hops.total + steady
    busy = m * stage_mb[st.crit]
    p2p_exposed = min(pipe - busy, hops.total + steady)
    return Pipeline(stage_mb, f_mb, b_mb, pipe, busy, steady, z3_mb, p2p_exposed,
                    pipe - busy - p2p_exposed)
