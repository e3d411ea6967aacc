"""Inference memory per GPU (bytes), vectorised like the rest of the engine.

weights      the busiest stage's layers, sharded over TP (experts over EP, then TP), plus
             the embedding (first stage) or LM head (last stage), vocab-parallel, 16-bit;
kv_cache     every sequence at its final context (prompt + output tokens), this GPU's
             share of the KV heads (MLA latent caches are replicated over TP);
activations  the largest live buffers of one layer during prefill of one micro-batch,
             plus its logits (and the attention score matrix without FlashAttention).
"""
from __future__ import annotations

from . import xp as np   # numpy, with a pure-float branch for one scenario

from .kernels import ACT_BYTES


def weights_read(P, tokens):
    """Weight bytes one GPU of the busiest stage reads in one pass over ``tokens`` tokens:
    every sharded weight once, but only the experts that the tokens pick (expected)."""
    from .kernels import expected_distinct_experts
    tp, gps, ep, h, phi, mats = P["tp"], P["gps"], P["ep"], P["h"], P["phi"], P["mats"]
    D = expected_distinct_experts(P["E"], P["k"], tokens)
    attn_w = (P["w_qkv"] + P["w_o"]) / tp
    dense_w = mats * h * P["ffn"] / tp
    moe_w = D / ep * mats * h * P["f_e"] / (gps / ep) + mats * h * P["f_s"] / tp
    layer = (attn_w + (1 - phi) * dense_w + phi * moe_w) * P["wb"] + phi * h * P["E"] * ACT_BYTES
    return np.ceil(P["L"] / P["pp"]) * layer + P["V"] * h / tp * ACT_BYTES     # + LM head


def per_gpu(P):
    tp, gps, ep, pp, L = P["tp"], P["gps"], P["ep"], P["pp"], P["L"]
    h, phi, mats = P["h"], P["phi"], P["mats"]
    tp_e = gps / ep
    kvfrac = np.maximum(1.0 / tp, 1.0 / P["kv_groups"])
    attn_w = P["w_qkv"] / tp + P["w_o"] / tp
    dense_w = mats * h * P["ffn"] / tp
    moe_w = P["E"] / ep * mats * h * P["f_e"] / tp_e + mats * h * P["f_s"] / tp + h * P["E"]
    layer_w = (attn_w + (1 - phi) * dense_w + phi * moe_w) * P["wb"] + 2 * h * ACT_BYTES
    L_stage = np.ceil(L / pp)
    vocab_w = P["V"] * h / tp * ACT_BYTES
    ends = np.where(pp > 1, 1.0, P["embed_mats"])         # embedding and/or LM head matrices
    weights = L_stage * layer_w + ends * vocab_w

    dp_attn = gps / tp
    seqs = P["B"] / dp_attn
    kv = seqs * (P["p"] + P["o"]) * L_stage * P["kv_elems"] * kvfrac * P["kvb"]

    b = P["B"] / P["m"] / dp_attn
    Ta = b * P["p"]
    f_eff = (1 - phi) * P["ffn"] / tp + phi * (P["k"] * P["f_e"] / tp_e + P["f_s"] / tp)
    act = Ta * ACT_BYTES * (3 * h + (P["qkv_out"] + P["attn_out"]) / tp + mats * f_eff)
    act = act + b * P["V"] / tp * 4.0
    scores = b * P["nh"] / tp * P["p"] * P["p"] * ACT_BYTES
    act = act + np.where(P["flash"] > 0, 0.0, scores)
    total = weights + kv + act
    return {"weights": weights, "kv_cache": kv, "activations": act, "total": total,
            "capacity": P["cap"] + 0.0 * total}
