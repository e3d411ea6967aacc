"""Bottleneck label and a one-sentence insight built from the numbers of a result."""
from __future__ import annotations

LABELS = ("COMPUTE-BOUND", "MEMORY-BOUND", "INTERCONNECT-BOUND", "BALANCED")
_LABEL_OF = {"compute": 0, "hbm": 1, "communication": 2}
NAMES = {"hbm": "HBM traffic", "launch_overhead": "launch overhead",
         "pipeline_bubble": "the pipeline bubble"}
DOMINANT_SHARE = 0.4    # a cause must hold at least this share of the step to name it


def label_code(breakdown: dict, total):
    """Vectorised: 0..3 index into LABELS, and the index of the largest category (the first
    one on ties, as ``argmax``). Python numbers in, Python ints out (one scenario)."""
    import numpy as np
    from .schedule import CATEGORIES
    vals = [breakdown[c] for c in CATEGORIES]
    if all(v.__class__ is float for v in vals) and total.__class__ is float:
        best = max(vals)
        top = vals.index(best)
        share = best / (total if total > 0 else 1.0)
        return (min(top, 3) if share >= DOMINANT_SHARE else 3), top
    best = np.asarray(vals[0], dtype=float)
    top = np.zeros(np.shape(best), dtype=np.int8)
    for i, v in enumerate(vals[1:], 1):
        gt = v > best
        top = np.where(gt, np.int8(i), top)
        best = np.where(gt, v, best)
    share = best / np.where(np.asarray(total) > 0, total, 1.0)
    code = np.where(top < 3, top, np.int8(3))
    code = np.where(share >= DOMINANT_SHARE, code, np.int8(3))
    return code, top


def _ms(s):
    return f"{s * 1e3:.2f} ms"


def comm_regime(res) -> tuple[str, str]:
    """("latency-bound" | "bandwidth-bound at X GB/s", message size) of the decode step's
    tensor-parallel all-reduce."""
    from .simulate import params
    from .collectives import regime
    sc = res.scenario
    P = params(sc)
    S = sc.batch / sc.micro_batches * P["h"] * P["cb"]
    kind, bw = regime(S, sc.tp, P["link"], P["c_coll"])
    size = f"{S / 1024:.0f} KiB" if S < 1024 ** 2 else f"{S / 1024 ** 2:.1f} MiB"
    if kind == "bandwidth-bound":
        kind = f"bandwidth-bound at {bw:.0f} GB/s"
    return kind, size


def sentence(res) -> str:
    """What dominates a decode step, with the numbers behind it, and what would help;
    starting with a capital letter."""
    text = _sentence(res)
    return text[:1].upper() + text[1:]


def _sentence(res) -> str:
    bd, step, sc = res.breakdown, res.tpot_s, res.scenario
    cat = res.dominant
    share = bd[cat] / step if step > 0 else 0.0
    head = f"{NAMES.get(cat, cat)} is {share:.0%} of a {_ms(step)} decode step"
    mem = res.memory
    if cat == "hbm":
        bw = sc.gpu_spec().hbm_gbps * 1e9 * sc.calibration().hbm_efficiency
        w_gb, kv_gb = res.step_bytes["weights_read"] / 1e9, res.step_bytes["kv_read"] / 1e9
        t_w, t_kv = w_gb * 1e9 / bw, kv_gb * 1e9 / bw
        tips = []
        if sc.weight_bits > 4:
            tips.append(f"{sc.weight_bits // 2}-bit weights would save about {_ms(t_w / 2)}")
        if t_kv > 0.25 * t_w and sc.kv_bits > 4:
            tips.append(f"{sc.kv_bits // 2}-bit KV cache would save about {_ms(t_kv / 2)}")
        if t_w >= t_kv:
            tips.append(f"a batch above {sc.batch} shares each weight read among more tokens")
        else:
            tips.append("shorter contexts or fewer sequences per GPU cut the KV read")
        return (f"{head}: each GPU streams {w_gb:.2f} GB of weights ({_ms(t_w)}) and "
                f"{kv_gb:.2f} GB of KV cache ({_ms(t_kv)}) per step; " + "; ".join(tips) + ".")
    if cat == "communication":
        n = res.collectives_per_step
        per = bd["communication"] / max(n, 1)
        kind, size = comm_regime(res)
        if kind == "latency-bound":
            tip = ("fewer GPUs (lower tp), a link with lower latency (P2P instead of host "
                   "staging), or coalescing collectives (comm_group)")
            how = f"each {size} all-reduce is latency-bound (its fixed and per-step costs)"
        else:
            tip = "a faster link or fewer GPUs (lower tp), then lower comm_bits"
            how = f"each {size} all-reduce is {kind}"
        extra = "; overlap can hide it only behind concurrent math" if sc.overlap < 1 else ""
        return (f"{head}: {n} collectives at {per * 1e6:.0f} µs each on {sc.interconnect}, "
                f"{how}; {tip} helps most{extra}.")
    if cat == "compute":
        return (f"{head}: the GPUs run near their achievable FLOP/s; more GPUs (tp) or FP8 "
                f"weights on hardware with FP8 help; batching no longer raises tokens/s much.")
    if cat == "launch_overhead":
        if res.host_s > 0.5 * bd[cat]:
            return (f"{head}: {_ms(res.host_s)} of it is host time of the {sc.runtime} runtime "
                    f"(Python steps, router <-> shard RPC, sampling) that the GPUs wait for every "
                    f"forward pass; a runtime that replays CUDA graphs (runtime='compiled') "
                    f"removes it, and a larger batch shares it among more tokens.")
        return (f"{head}: {res.kernels_per_step} kernel launches per step each cost a fixed gap; "
                f"fewer, larger kernels (fusion), fewer layers per GPU, or a larger batch help.")
    return (f"{head}: with {sc.micro_batches} micro-batch(es) over {sc.pp} stages each GPU idles "
            f"while the others work; use at least {sc.pp} micro-batches or fewer stages.")


COMPUTE_ZERO_NOTE = ("compute is 0 in this decode step: at this batch every kernel is "
                     "memory-bound, so its math runs while the weights and KV cache stream "
                     "from HBM and its time is counted under hbm (the roofline shows how far "
                     "below the ridge each kernel sits; a larger batch moves it up)")


def compute_note(breakdown: dict, total) -> str:
    """The note that explains a decode step with no compute-bound time, else ''."""
    return COMPUTE_ZERO_NOTE if total > 0 and breakdown.get("compute", 0.0) == 0.0 else ""
