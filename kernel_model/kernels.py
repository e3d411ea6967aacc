"""The kernels of one transformer layer on one GPU: FLOPs, HBM bytes, roofline time.

Everything is vectorised: each quantity is a numpy array (or float) broadcast over the
scenarios of a sweep. ``P`` is the parameter dict built by ``simulate.params``.

Per layer (Megatron tensor parallelism: QKV and MLP-up column-parallel, O and MLP-down
row-parallel, so one all-reduce after attention and one after the MLP):

    attn_norm, qkv_proj, rope, attention, o_proj, allreduce_attn,
    mlp_norm, router, dispatch_a2a, mlp_up, mlp_act, mlp_down, combine_a2a, allreduce_mlp

Kernels that a model does not have (router for a dense model) get zero time and no launch.
Once per step: embedding (first stage), final_norm, lm_head, logits_gather, sampling
(last stage).
"""
from __future__ import annotations

from . import xp as np   # numpy, with a pure-float branch for one scenario

from . import collectives as coll

LAYER_KERNELS = ("attn_norm", "qkv_proj", "rope", "attention", "o_proj", "allreduce_attn",
                 "mlp_norm", "router", "dispatch_a2a", "mlp_up", "mlp_act", "mlp_down",
                 "combine_a2a", "allreduce_mlp")
HEAD_KERNELS = ("embedding",)
TAIL_KERNELS = ("final_norm", "lm_head", "logits_gather", "sampling")
# kind: elementwise | gemm | attention | comm
KIND = {"attn_norm": "elementwise", "qkv_proj": "gemm", "rope": "elementwise",
        "attention": "attention", "o_proj": "gemm", "allreduce_attn": "comm",
        "mlp_norm": "elementwise", "router": "gemm", "dispatch_a2a": "comm",
        "mlp_up": "gemm", "mlp_act": "elementwise", "mlp_down": "gemm",
        "combine_a2a": "comm", "allreduce_mlp": "comm", "embedding": "elementwise",
        "final_norm": "elementwise", "lm_head": "gemm", "logits_gather": "comm",
        "sampling": "elementwise"}
ACT_BYTES = 2.0      # activations are kept in 16 bits
# elementwise kernels a runtime may fuse into a neighbour (Runtime.fusion): no launch gap
FUSABLE = ("attn_norm", "rope", "mlp_norm", "mlp_act")


def expected_distinct_experts(E, k, tokens):
    """Expected experts hit at least once when ``tokens`` tokens each pick k of E uniformly."""
    E = np.maximum(E, 1.0)
    return E * (1.0 - (1.0 - np.minimum(k, E) / E) ** tokens)


def layer_work(P, tokens, seqs, ctx, prefill):
    """FLOPs, HBM bytes and comm bytes of one layer on one GPU.

    ``tokens`` processed in this pass on the stage (all attention replicas), ``seqs``
    sequences, ``ctx`` attended context per token (decode) or prompt length (prefill).
    Returns {name: (flops, bytes, comm_bytes)}.
    """
    tp, gps, ep = P["tp"], P["gps"], P["ep"]
    dp_attn = gps / tp
    Ta = tokens / dp_attn                     # tokens one attention replica handles
    sa = seqs / dp_attn
    h, ab, wb, kvb, cb = P["h"], ACT_BYTES, P["wb"], P["kvb"], P["cb"]
    z = 0.0 * Ta
    kvfrac = np.maximum(1.0 / tp, 1.0 / P["kv_groups"])   # share of the KV heads on one GPU
    qkv_o = P["qkv_out"] / tp
    att_o = P["attn_out"] / tp
    w = {}
    w["attn_norm"] = (4.0 * Ta * h, 2.0 * Ta * h * ab, z)
    w["qkv_proj"] = (2.0 * Ta * P["w_qkv"] / tp, P["w_qkv"] / tp * wb + Ta * (h + qkv_o) * ab, z)
    w["rope"] = (6.0 * Ta * qkv_o, 2.0 * Ta * qkv_o * ab, z)
    if prefill:
        pairs = sa * ctx * (ctx + 1.0) / 2.0                     # causal (query, key) pairs
        a_flops = pairs * P["attn_flops"] / tp
        a_bytes = Ta * (qkv_o + att_o) * ab + Ta * P["kv_elems"] * kvfrac * kvb
        scores = sa * P["nh"] / tp * ctx * ctx * ab * 4.0      # S and P written and read
        a_bytes = a_bytes + np.where(P["flash"] > 0, 0.0, scores)
    else:
        a_flops = Ta * ctx * P["attn_flops"] / tp
        a_bytes = Ta * ctx * P["kv_elems"] * kvfrac * kvb + Ta * (qkv_o + att_o) * ab
    w["attention"] = (a_flops, a_bytes, z)
    w["o_proj"] = (2.0 * Ta * P["w_o"] / tp, P["w_o"] / tp * wb + Ta * (att_o + h) * ab, z)
    w["allreduce_attn"] = (z, z, Ta * h * cb)
    w["mlp_norm"] = (5.0 * Ta * h, 3.0 * Ta * h * ab, z)

    phi, mats = P["phi"], P["mats"]
    # dense MLP (dense models, and the leading dense layers of an MoE model)
    f_t = P["ffn"] / tp
    up_f = 2.0 * Ta * h * (mats - 1.0) * f_t
    up_w = h * (mats - 1.0) * f_t
    down_f = 2.0 * Ta * f_t * h
    # routed experts: expert e of E lives on one EP rank, sharded over gps/ep GPUs
    E, k, fe = P["E"], P["k"], P["f_e"]
    tp_e = gps / ep
    D = expected_distinct_experts(E, k, tokens)
    e_up_f = 2.0 * tokens * k * h * (mats - 1.0) * fe / gps
    e_up_w = D / ep * h * (mats - 1.0) * fe / tp_e
    e_down_f = 2.0 * tokens * k * fe * h / gps
    e_down_w = D / ep * fe * h / tp_e
    fs = P["f_s"] / tp                                            # shared experts, TP-sharded
    s_up_f = 2.0 * Ta * h * (mats - 1.0) * fs
    s_down_f = 2.0 * Ta * fs * h
    moe_tok = tokens * k / gps                                    # expert slots per GPU
    up_flops = (1 - phi) * up_f + phi * (e_up_f + s_up_f)
    up_bytes = ((1 - phi) * (up_w * wb + Ta * (h + (mats - 1) * f_t) * ab)
                + phi * ((e_up_w + h * (mats - 1) * fs) * wb
                         + (moe_tok * (h + (mats - 1) * fe) + Ta * (mats - 1) * fs) * ab))
    w["router"] = (phi * 2.0 * Ta * h * E, phi * (h * E * ab + Ta * (h + E) * ab), z)
    # tokens travel to their experts' ranks only when attention is data-parallel (gps > tp:
    # each rank holds other tokens); under tensor-parallel attention every rank already holds
    # every token, computes its own experts and the all-reduce below combines them (vLLM's
    # FusedMoEParallelConfig: all-to-all kernels only where dp_size > 1 and EP is on)
    a2a = np.where((ep > 1) & (dp_attn > 1), phi * tokens / gps * k * h * cb, 0.0)
    w["dispatch_a2a"] = (z, z, a2a)
    w["mlp_up"] = (up_flops, up_bytes, z)
    act_elems = (1 - phi) * Ta * f_t + phi * (moe_tok * fe + Ta * fs)
    w["mlp_act"] = (4.0 * act_elems, act_elems * ab * np.where(mats > 2.5, 3.0, 2.0), z)
    down_flops = (1 - phi) * down_f + phi * (e_down_f + s_down_f)
    down_bytes = ((1 - phi) * (f_t * h * wb + Ta * (f_t + h) * ab)
                  + phi * ((e_down_w + fs * h) * wb + (moe_tok * (fe + h) + Ta * (fs + h)) * ab))
    w["mlp_down"] = (down_flops, down_bytes, z)
    w["combine_a2a"] = (z, z, a2a)
    w["allreduce_mlp"] = (z, z, Ta * h * cb)
    return w


def head_tail_work(P, tokens, last_tokens):
    """Embedding (first stage) and norm / LM head / logits / sampling (last stage).

    Embedding and LM head stay in 16 bits whatever the weight precision (as GPTQ/AWQ/FP8
    checkpoints keep them)."""
    tp, h, V, ab = P["tp"], P["h"], P["V"], ACT_BYTES
    z = 0.0 * tokens
    Vt = V / tp                                    # vocab-parallel LM head
    return {
        "embedding": (z, tokens * h * (ab + ab), z),
        "final_norm": (4.0 * last_tokens * h, 2.0 * last_tokens * h * ab, z),
        "lm_head": (2.0 * last_tokens * h * Vt, h * Vt * ab + last_tokens * (h * ab + Vt * 4.0), z),
        "logits_gather": (z, z, last_tokens * V * 4.0),
        "sampling": (2.0 * last_tokens * V, last_tokens * V * 4.0 * 2.0, z),
    }


def roofline(flops, bytes_, peak, bw, exponent):
    """Kernel time (s) from compute time flops/peak and memory time bytes/bw.

    ``exponent`` n blends the two as (c^n + m^n)^(1/n): n -> inf is the ideal roofline
    max(c, m); finite n models imperfect overlap of math and memory traffic.
    """
    c = flops / peak
    m = bytes_ / bw
    hi = np.maximum(c, m)
    lo = np.minimum(c, m)
    ratio = np.where(hi > 0, lo / np.where(hi > 0, hi, 1.0), 0.0)
    return hi * (1.0 + ratio ** exponent) ** (1.0 / exponent), c, m


def kernel_times(P, work, link, names):
    """Time (s) of each kernel: roofline + launch for compute, collective time for comm.

    Returns {name: (time, compute_s, memory_s, launch_s, comm_s)}.
    """
    out = {}
    for name in names:
        flops, bytes_, cbytes = work[name]
        kind = KIND[name]
        if kind == "comm":
            if name.endswith("a2a"):
                t = coll.alltoall(cbytes, P["ep"], link, P["c_coll"], P["group"])
            elif name == "logits_gather":
                t = coll.allgather(cbytes, P["tp"], link, P["c_coll"], P["group"])
            else:
                t = coll.allreduce(cbytes, P["tp"], link, P["c_coll"], P["group"])
            t = np.where(cbytes > 0, t, 0.0)
            z = 0.0 * t
            out[name] = (t, z, z, z, t)
            continue
        if kind == "attention":
            peak = P["F16"] * P["ea"]
        elif kind == "gemm":
            peak = P["F"] * P["ef"]
        else:
            peak = P["F16"] * P["ef"]
        r, c, m = roofline(flops, bytes_, peak, P["HBM"] * P["em"], P["rexp"])
        present = np.asarray(bytes_ > 0, dtype=float)
        if kind == "elementwise" and name in FUSABLE:
            present = present * (1.0 - P.get("fuse", 0.0))   # runtime fusion level
        launch = present * P["t_launch"]
        comp = np.where(c >= m, r, 0.0)
        mem = r - comp
        out[name] = (r + launch, comp, mem, launch, 0.0 * r)
    return out
