"""Memory per GPU of training: weights, gradients, optimizer states and activations of the
busiest pipeline stage (:func:`_memory`), and the warning when they do not fit."""
from __future__ import annotations

from ..kernels import ACT_BYTES


def _layer_activations(P, a):
    """(bytes of one layer's activations for one micro-batch as stored, bytes of one layer
    with everything stored) per GPU (Korthikanti et al. 2022, generalised)."""
    tp, h, s, cp, sp = P["tp"], P["h"], a.seq_len, a.cp, a.sp
    tok = a.micro_batch * s / cp
    f_eff = (1 - P["phi"]) * P["ffn"] + P["phi"] * (P["k"] * P["f_e"] + P["f_s"])
    repl = 4 * h + 2 * h + 2 * h + 2 * h               # norms' inputs, attn/MLP inputs, dropout masks
    split = 2 * P["qkv_out"] + 2 * P["attn_out"] + 2 * (P["mats"] - 1) * f_eff + 2 * f_eff
    scores = 0.0 if a.flash or a.recompute == "selective" else 5.0 * P["nh"] * s
    full_layer = tok * ((repl / tp if sp else repl) + (split + scores) / tp)
    layer_act = tok * 2 * h / (tp if sp else 1) if a.recompute == "full" else full_layer
    return layer_act, full_layer


def _memory(P, a, st, dpg, state_b):
    """Bytes per GPU of the busiest stage: weights, gradients, optimizer states, activations."""
    tp, h, V = P["tp"], P["h"], P["V"]
    sizes, m, sp, zero_stage, wbytes, gbytes = st.sizes, a.m, a.sp, a.zero_stage, a.wbytes, a.gbytes
    pp = len(sizes)
    tok = a.micro_batch * a.seq_len / a.cp
    layer_act, full_layer = _layer_activations(P, a)
    cands = []
    for s in sorted({0, pp - 1}):
        nd, ne = st.params[s]
        weights = dpg.shard(nd, ne, zero_stage >= 3) * wbytes
        grads = dpg.shard(nd, ne, zero_stage >= 2) * gbytes
        opt = dpg.shard(nd, ne, zero_stage >= 1) * state_b
        in_flight = min(m, pp - s) if a.schedule == "1f1b" else m
        act = sizes[s] * layer_act * in_flight
        if a.recompute == "full":
            act += full_layer                      # one layer rebuilt during its backward
        if s == 0:
            act += tok * h * ACT_BYTES / (tp if sp else 1) * in_flight   # embedding output
        if s == pp - 1:
            act += tok * V / tp * 4.0 * 2.0        # fp32 logits and their gradient
        cands.append({"weights": weights, "gradients": grads, "optimizer_states": opt,
                      "activations": act, "total": weights + grads + opt + act,
                      "capacity": P["cap"]})
    best = max(cands, key=lambda d: d["total"])    # the first stage on a tie
    return {k: float(v) for k, v in best.items()}


def fit_warning(mem, gpu_name):
    """The warning for memory ``mem`` (bytes per GPU) that does not fit one ``gpu_name``."""
    short = (mem["total"] - mem["capacity"]) / 1e9
    return (f"does not fit by {short:.1f} GB: needs {mem['total'] / 1e9:.1f} GB per GPU but one "
            f"{gpu_name} has {mem['capacity'] / 1e9:.1f} GB (weights {mem['weights'] / 1e9:.1f}, "
            f"gradients {mem['gradients'] / 1e9:.1f}, optimizer {mem['optimizer_states'] / 1e9:.1f}, "
            f"activations {mem['activations'] / 1e9:.1f}); try a higher zero_stage, recompute, "
            f"sequence_parallel, more tp/pp or a smaller micro_batch")
