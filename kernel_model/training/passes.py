"""One micro-batch through one GPU: forward, backward and recompute of a transformer layer
(:func:`_layer_passes`) and of the embedding / LM head at the pipeline's ends
(:func:`_ends`), in seconds by cause, with their FLOPs and bytes."""
from __future__ import annotations

from .. import collectives as coll
from ..energy import sent_bytes, link_bytes
from ..kernels import LAYER_KERNELS, KIND, ACT_BYTES, layer_work, head_tail_work, kernel_times
from ..simulate import _f
from .constants import BWD_FLOPS, BWD_BYTES, FLASH_BWD_ATTENTION, PLAIN_BWD_ATTENTION
from .costs import _by_cause, _collective, _elementwise, _group_link


def micro_batch_passes(a, sc, P):
    """(:func:`_layer_passes`, :func:`_ends`) of one micro-batch of the inputs ``a`` on one
    GPU: seconds by cause per layer and at the ends."""
    tp, cp, link, gpn = a.tp, a.cp, P["link"], P["gpn"]
    gps = sc.gpus_per_stage
    reps = gps / tp                                 # attention replicas in a stage group
    tokens = a.micro_batch * a.seq_len / cp * reps  # tokens through one stage group's layer
    seqs = a.micro_batch / cp * reps
    link_cp = _group_link(link, gpn // tp if tp < gpn else 1)
    lp = _layer_passes(P, link, link_cp, tokens, seqs, float(a.seq_len), a.sp, a.flash,
                       a.recompute, cp)
    ends = _ends(P, link, a.micro_batch * a.seq_len / cp, a.sp)
    return lp, ends


def _layer_passes(P, link, link_cp, tokens, seqs, ctx, sp, flash, recompute, cp):
    """Per-layer, per-micro-batch times of forward, backward and recompute on one GPU.

    Returns dict pass -> {category: seconds}, ``<pass>_tot`` -> (FLOPs, HBM bytes, bytes
    sent over links) and ``model_flops`` (GEMM and attention FLOPs of the forward).
    """
    tp = P["tp"]
    work = layer_work(P, tokens, seqs, ctx, True)
    if sp:   # sequence parallelism: norms (and dropout) run on 1/tp of the tokens
        for n in ("attn_norm", "mlp_norm"):
            f, b, c = work[n]
            work[n] = (f / tp, b / tp, c)
    att_bwd = FLASH_BWD_ATTENTION if flash else PLAIN_BWD_ATTENTION
    bwork = {}
    for n in LAYER_KERNELS:
        f, b, c = work[n]
        kind = KIND[n]
        if kind == "comm":
            bwork[n] = (f, b, c)
        elif kind == "attention":
            bwork[n] = (att_bwd * f, BWD_BYTES[kind] * b, c)
        else:
            bwork[n] = (BWD_FLOPS[kind] * f, BWD_BYTES[kind] * b, c)
    kt_f = kernel_times(P, work, link, LAYER_KERNELS)
    kt_b = kernel_times(P, bwork, link, LAYER_KERNELS)

    # context parallelism: ring exchange of K/V (forward) and dK/dV (backward), hidden
    # behind the attention kernel it feeds
    kvfrac = max(1.0 / tp, 1.0 / P["kv_groups"])
    kv_bytes = tokens * cp / (P["gps"] / tp) * P["kv_elems"] * kvfrac * ACT_BYTES
    t_cp = _collective(coll.allgather, kv_bytes, cp, link_cp, P["c_coll"])

    def cats(kt):
        """Seconds by cause of a pass: TP communication partly hidden behind its math, plus
        the context-parallel exchange the attention kernel does not hide."""
        d = _by_cause(kt, LAYER_KERNELS)
        math_ = sum(_f(kt[n][0]) for n in LAYER_KERNELS if KIND[n] in ("gemm", "attention"))
        hidden = min(P["overlap"] * d["communication"], math_)
        d["communication"] = (d["communication"] - hidden
                              + max(0.0, t_cp - _f(kt["attention"][0])))
        return d

    def totals(w, names, extra_link):
        """(FLOPs, HBM bytes, bytes this GPU sends over links) of ``names`` in one pass."""
        return (sum((_f(w[n][0]) for n in names), 0.0),
                sum((_f(w[n][1]) for n in names if KIND[n] != "comm"), 0.0),
                link_bytes(P, w, names) + extra_link)

    fwd = cats(kt_f)
    if recompute == "full":              # the whole layer forward again
        rec, rec_names = dict(fwd), LAYER_KERNELS
    else:                                # selective: the attention core, unless FlashAttention
        rec_names = ("attention",) if recompute == "selective" and not flash else ()
        rec = _by_cause(kt_f, rec_names)
    model_flops = sum(_f(work[n][0]) for n in LAYER_KERNELS if KIND[n] in ("gemm", "attention"))
    cp_link_bytes = sent_bytes(kv_bytes, cp, 1)
    return {"forward": fwd, "backward": cats(kt_b), "recompute": rec,
            "fwd_tot": totals(work, LAYER_KERNELS, cp_link_bytes),
            "bwd_tot": totals(bwork, LAYER_KERNELS, cp_link_bytes),
            "rec_tot": totals(work, rec_names, 0.0), "model_flops": model_flops}


def _ends(P, link, tokens, sp):
    """Embedding (first stage) and final norm / LM head / cross-entropy (last stage),
    forward and backward, per micro-batch: ({'first': cats, 'last': cats}, flops/bytes)."""
    tp, V, h = P["tp"], P["V"], P["h"]
    names = ("embedding", "final_norm", "lm_head")
    w = head_tail_work(P, tokens, tokens)
    w = {n: w[n] for n in names}
    if sp:
        f, b, c = w["final_norm"]
        w["final_norm"] = (f / tp, b / tp, c)
    bw = {n: (2.0 * f, 2.0 * b, 0.0) for n, (f, b, _) in w.items()}    # backward: 2x forward
    kt_f = kernel_times(P, w, link, names)
    kt_b = kernel_times(P, bw, link, names)
    S_embed = tokens * h * P["cb"]        # vocab-parallel embedding: output all-reduced over TP
    t_ar = _collective(coll.allreduce, S_embed, tp, link, P["c_coll"])
    ce_elems = tokens * V / tp            # fp32 logits of this GPU's vocabulary slice
    ce = (6.0 * ce_elems, ce_elems * 4.0 * 3.0)
    t_ce, ce_compute = _elementwise(P, *ce)
    # cross-entropy needs three small all-reduces (max, sum, target logit) of fp32 per token
    t_ce_ar = 3.0 * _collective(coll.allreduce, tokens * 4.0, tp, link, P["c_coll"])

    first_f = _by_cause(kt_f, ("embedding",))
    first_f["communication"] += t_ar
    first_b = _by_cause(kt_b, ("embedding",))
    last_f = _by_cause(kt_f, ("final_norm", "lm_head"))
    last_b = _by_cause(kt_b, ("final_norm", "lm_head"))
    for d in (last_f, last_b):
        d["compute" if ce_compute else "hbm"] += t_ce
        d["launch_overhead"] += 2 * P["t_launch"]
        d["communication"] += t_ce_ar
    first_tot = (0.0, _f(w["embedding"][1]) * 3.0, sent_bytes(S_embed, tp, 2))
    last_tot = (_f(w["lm_head"][0]) * 3.0 + _f(w["final_norm"][0]) * 3.0 + 2 * ce[0],
                (_f(w["lm_head"][1]) + _f(w["final_norm"][1])) * 3.0 + 2 * ce[1],
                6 * sent_bytes(tokens * 4.0, tp, 2))
    return {"first": (first_f, first_b), "last": (last_f, last_b), "first_tot": first_tot,
            "last_tot": last_tot, "lm_flops": _f(w["lm_head"][0])}

