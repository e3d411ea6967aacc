"""Training step time, memory and MFU of a dense or MoE transformer on many GPUs.

``simulate_training(...) -> TrainingResult`` reuses the inference engine's kernels
(:func:`kernel_model.kernels.layer_work` / :func:`~kernel_model.kernels.kernel_times`) and
collectives on the parameter dict of :func:`kernel_model.simulate.params`, so hardware,
calibration and model shapes are shared with ``simulate()``.

One micro-batch on one pipeline stage:

* forward   a prefill-like pass of ``micro_batch * seq_len / cp`` tokens through the stage's
            layers (TP all-reduces, MoE all-to-alls, context-parallel KV exchange);
* backward  GEMMs twice the forward FLOPs and bytes (input and weight gradients), attention
            2.5x (FlashAttention recomputes the scores) or 2x, element-wise kernels 2x, the
            same TP collectives as the forward;
* recompute ``full``: the whole layer forward again (with its collectives) before its
            backward; ``selective``: the attention core again (free with FlashAttention,
            whose backward already recomputes it); ``none``: nothing.

The pipeline (1F1B or GPipe, ``m = global_batch / (micro_batch * dp)`` micro-batches) takes
``(m - 1) * max_s(t_s) + sum_s(t_s)`` plus the activation / gradient sends between stages,
i.e. a bubble of ``(pp - 1) / m`` of the work for equal stages. Data parallelism adds the
gradient all-reduce (ZeRO 0), reduce-scatter + parameter all-gather (ZeRO 1, 2) or
per-micro-batch parameter all-gathers (ZeRO 3); a fraction ``dp_overlap`` of it hides
behind the backward of the last micro-batch (and the next forward, for the all-gather).
Then the optimizer step streams its states through HBM.

GPUs are numbered TP fastest, then CP, DP, PP (Megatron order); groups that span more than
``gpus_per_node`` GPUs use the inter-node link (ib_hdr for Ampere, ib_ndr for newer).

Times in seconds, memory in bytes per GPU, FLOPs counted as performed (causal attention
computes half the score matrix).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np

from . import collectives as coll
from .energy import sent_bytes, link_bytes
from .gemm import bad_choice, whole_number, peak_flops, run_cli
from .hardware import get_gpu
from .kernels import (LAYER_KERNELS, KIND, ACT_BYTES, layer_work, head_tail_work,
                      kernel_times, roofline)
from .scenario import Scenario
from .schedule import CATEGORIES
from .simulate import params, _f

RECOMPUTE = ("none", "selective", "full")
SCHEDULES = ("1f1b", "gpipe")
PRECISIONS = ("bf16", "fp16", "fp8", "fp32")
OPTIMIZERS = ("adam", "sgd")
PHASES = ("forward", "backward", "recompute", "p2p", "pipeline_bubble", "dp_communication",
          "optimizer")
from .training_timeline import TIMELINE_COLUMNS, run_schedule, _timeline_frame   # noqa: F401


@dataclass(frozen=True)
class TrainingCalibration:
    """The one fitted training parameter, and where it comes from.

    ``gemm_efficiency``: achieved / dense peak FLOP/s of training GEMMs. Their rows are
    ``micro_batch * seq_len`` tokens (>= 2048) against hidden sizes >= 6144, far larger than
    the prefill GEMMs the inference calibration averages over; cuBLAS runs such shapes at
    80-90 % of the A100's dense peak. Fitted to shared/data/training_measurements.csv
    (Megatron-LM GPT 22B-1T on A100, Korthikanti et al. 2022) with the engine's kernels,
    collectives, HBM efficiency and roofline unchanged (see benchmarks/bench_training.py).
    An explicit ``efficiency={"flops_efficiency": x}`` passed to ``simulate_training``
    takes precedence.
    """
    gemm_efficiency: float = 0.84
    source: str = "fitted to shared/data/training_measurements.csv (A100 Megatron GPT)"


TRAINING_CALIBRATION = TrainingCalibration()

# Backward / forward ratios per kernel kind (FLOPs and HBM bytes).
BWD_FLOPS = {"gemm": 2.0, "elementwise": 2.0}
BWD_BYTES = {"gemm": 2.0, "attention": 2.0, "elementwise": 2.0}
FLASH_BWD_ATTENTION = 2.5   # FlashAttention backward: 5 matmuls against 2 in the forward
PLAIN_BWD_ATTENTION = 2.0   # unfused attention backward reads the stored scores


def _flag(name, v) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return v.strip().lower() in ("true", "1", "yes")
    raise ValueError(f"{name}={v!r} is not allowed: must be true or false")


def _group_link(link: dict, gpus_in_node: float) -> dict:
    """``link`` for a group whose consecutive members share nodes ``gpus_in_node`` at a time."""
    d = dict(link)
    if link["gpn"] > 1:
        d["gpn"] = float(max(1, gpus_in_node))
    return d


def _by_cause(kt, names):
    """Seconds of the ``kernel_times`` entries ``names`` by cause (engine categories)."""
    compute, hbm, launch, comm = (sum((_f(kt[n][i]) for n in names), 0.0) for i in (1, 2, 3, 4))
    return {"compute": compute, "hbm": hbm, "launch_overhead": launch, "communication": comm}


def _collective(fn, nbytes, n, link, c) -> float:
    """Seconds of the collective ``fn`` (``kernel_model.collectives``) among ``n`` ranks; a
    group of one GPU skips the call (it costs nothing, and this is the hot path)."""
    return _f(fn(nbytes, n, link, c)) if n > 1 else 0.0


def _elementwise(P, flops, bytes_):
    """(seconds, compute-bound?) of a fused element-wise kernel on the engine's roofline."""
    t, c, m = roofline(flops, bytes_, P["F16"] * P["ef"], P["HBM"] * P["em"], P["rexp"])
    return _f(t), bool(c >= m)


def _state_bytes(precision, optimizer):
    """Optimizer-state bytes per parameter: fp32 master copy (not for fp32 training) plus
    Adam's two moments or SGD's momentum, all fp32."""
    return (8.0 if optimizer == "adam" else 4.0) + (0.0 if precision == "fp32" else 4.0)


def _per_rank(n_dense, n_exp, n_dp, n_edp, sharded):
    """Parameters per GPU after ZeRO sharding (dense over n_dp ranks, experts over n_edp)."""
    return n_dense / n_dp + n_exp / n_edp if sharded else n_dense + n_exp


# ---- result ---------------------------------------------------------------------------------
@dataclass
class TrainingResult:
    """What :func:`simulate_training` returns. Seconds, bytes per GPU, FLOP/s."""
    config: dict
    iteration_s: float
    breakdown: dict            # by cause (engine categories); sums to iteration_s
    phases: dict               # by phase (PHASES); sums to iteration_s
    mfu: float                 # model FLOPs / (iteration_s * num_gpus * peak)
    hfu: float                 # FLOPs performed (with recompute) / (iteration_s * num_gpus * peak)
    tokens_per_s: float
    samples_per_s: float
    memory: dict               # bytes per GPU: weights, gradients, optimizer_states, activations, total, capacity
    fits: bool
    warnings: list
    num_gpus: int
    nodes: int
    micro_batches: int
    bubble_fraction: float     # pipeline_bubble / iteration_s
    model_flops: float         # per iteration, all GPUs (forward + backward, no recompute)
    hardware_flops: float      # per iteration, all GPUs, with recompute
    per_gpu: dict              # flops, hbm_bytes, link_bytes of one GPU of the critical stage per iteration
    totals: dict               # flops, hbm_bytes, link_bytes (intra-node), network_bytes over all GPUs per iteration
    peak_flops: float          # per GPU, FLOP/s, of the compute precision
    stage_s: list = field(default_factory=list)   # busy time per stage per micro-batch
    _parts: tuple = field(default=None, repr=False)
    _timeline: object = field(default=None, repr=False)

    @property
    def memory_gb(self) -> dict:
        return {k: v / 1e9 for k, v in self.memory.items()}

    @property
    def timeline(self):
        """pandas DataFrame of the schedule, one row per (stage, micro-batch, op): phase
        (forward | backward | recompute | p2p | dp_communication | optimizer), stage, gpu
        (first GPU of the stage), stream (compute | comm), micro_batch (-1: once per
        iteration), layer (-1: all the stage's layers), name, kind (gemm for the passes, whose
        time is mostly GEMMs; comm; elementwise for the optimizer), start_s, end_s,
        duration_s, flops, bytes (per GPU), bound."""
        if self._timeline is None:
            self._timeline = _timeline_frame(*self._parts)
        return self._timeline

    def to_dict(self) -> dict:
        return {"config": dict(self.config), "iteration_s": self.iteration_s,
                "breakdown": dict(self.breakdown), "phases": dict(self.phases),
                "mfu": self.mfu, "hfu": self.hfu, "tokens_per_s": self.tokens_per_s,
                "samples_per_s": self.samples_per_s, "memory": dict(self.memory),
                "fits": self.fits, "warnings": list(self.warnings), "num_gpus": self.num_gpus,
                "nodes": self.nodes, "micro_batches": self.micro_batches,
                "bubble_fraction": self.bubble_fraction, "model_flops": self.model_flops,
                "hardware_flops": self.hardware_flops, "per_gpu": dict(self.per_gpu),
                "totals": dict(self.totals),
                "peak_flops": self.peak_flops}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    def summary(self) -> str:
        c = self.config
        mem = self.memory
        lines = [
            f"training {c['model']} on {self.num_gpus} x {c['gpu']} ({self.nodes} node(s)): "
            f"tp={c['tp']} pp={c['pp']} dp={c['dp']} cp={c['cp']} ep={c['ep']}, "
            f"seq {c['seq_len']}, global batch {c['global_batch']} "
            f"({self.micro_batches} micro-batches of {c['micro_batch']}), "
            f"recompute {c['recompute']}, ZeRO {c['zero_stage']}, {c['schedule']}",
            f"  iteration {self.iteration_s:.3f} s   MFU {self.mfu:.1%}   "
            f"{self.tokens_per_s:,.0f} tokens/s   bubble {self.bubble_fraction:.1%}",
            "  by cause: " + ", ".join(f"{k} {v:.3f} s" for k, v in self.breakdown.items()),
            "  by phase: " + ", ".join(f"{k} {v:.3f} s" for k, v in self.phases.items()),
            f"  memory per GPU {mem['total'] / 1e9:.1f} of {mem['capacity'] / 1e9:.0f} GB: "
            f"weights {mem['weights'] / 1e9:.1f}, gradients {mem['gradients'] / 1e9:.1f}, "
            f"optimizer {mem['optimizer_states'] / 1e9:.1f}, activations "
            f"{mem['activations'] / 1e9:.1f}" + ("" if self.fits else "  (DOES NOT FIT)"),
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# ---- the model -------------------------------------------------------------------------------
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


def _stage_sizes(L, pp):
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


def simulate_training(model="gpt-175b", gpu="a100-sxm-80gb", interconnect=None, *,
                      seq_len=2048, global_batch=64, micro_batch=1, dp=1, tp=1, pp=1, cp=1,
                      ep=1, recompute="none", sequence_parallel=False, zero_stage=0,
                      schedule="1f1b", precision="bf16", weight_bits=None, grad_bits=16,
                      optimizer="adam", flash_attention=True, tp_overlap=0.0, dp_overlap=1.0,
                      algorithm="auto", layers=None, num_gpus=None, gpus_per_node=8,
                      inter_node="auto", efficiency=None) -> TrainingResult:
    """Simulate one optimizer step (iteration) of training.

    ``model``/``gpu``/``interconnect``: preset names (``interconnect`` None: the GPU's native
    link). ``global_batch`` sequences of ``seq_len`` tokens per iteration, ``micro_batch``
    sequences per micro-batch per data-parallel replica. ``precision``: bf16 / fp16 (16-bit
    weights, fp32 master copy), fp8 (FP8 GEMMs, bf16 weights, fp32 master), fp32 (TF32
    GEMMs at half the 16-bit peak, no master copy); ``weight_bits=8`` is accepted as fp8.
    ``grad_bits``: 16 or 32 (gradient buffers and their all-reduce). ``tp_overlap``: share
    of TP communication hidden behind concurrent GEMMs; ``dp_overlap``: share of DP
    communication hidden behind the last backward / first forward. ``num_gpus``, when
    given, must equal ``tp * cp * dp * pp``. ``efficiency``: calibration overrides.
    """
    if weight_bits is not None:
        if weight_bits not in (8, 16):
            raise ValueError(f"weight_bits={weight_bits!r} is not allowed: training supports "
                             f"16 (bf16) or 8 (fp8)")
        if weight_bits == 8:
            precision = "fp8"
    for name, v, allowed in (("precision", precision, PRECISIONS),
                             ("recompute", recompute, RECOMPUTE),
                             ("schedule", schedule, SCHEDULES),
                             ("optimizer", optimizer, OPTIMIZERS)):
        if v not in allowed:
            raise bad_choice(name, v, allowed)
    if zero_stage not in (0, 1, 2, 3) or isinstance(zero_stage, bool):
        raise ValueError(f"zero_stage={zero_stage!r} is not allowed: must be 0, 1, 2 or 3")
    if grad_bits not in (16, 32):
        raise ValueError(f"grad_bits={grad_bits!r} is not allowed: must be 16 or 32")
    seq_len, global_batch, micro_batch, dp, tp, pp, cp, ep, gpus_per_node = (
        whole_number(name, v) for name, v in (
            ("seq_len", seq_len), ("global_batch", global_batch), ("micro_batch", micro_batch),
            ("dp", dp), ("tp", tp), ("pp", pp), ("cp", cp), ("ep", ep),
            ("gpus_per_node", gpus_per_node)))
    if layers is not None:
        layers = whole_number("layers", layers)
    for name, v in (("tp_overlap", tp_overlap), ("dp_overlap", dp_overlap)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            raise ValueError(f"{name}={v!r} is not allowed: must be in [0, 1]")
    sp = _flag("sequence_parallel", sequence_parallel)
    flash = _flag("flash_attention", flash_attention)
    if global_batch % (micro_batch * dp):
        raise ValueError(f"global_batch={global_batch} is not allowed: must be a multiple of "
                         f"micro_batch * dp = {micro_batch * dp}")
    if seq_len % cp:
        raise ValueError(f"cp={cp} does not divide seq_len={seq_len}")
    if ep > tp and (ep % tp or dp % (ep // tp)):
        raise ValueError(f"ep={ep} is not allowed with tp={tp}, dp={dp}: expert parallelism "
                         f"beyond tp borrows data-parallel ranks, so ep/tp must divide dp")
    total = tp * cp * dp * pp
    if num_gpus is not None and whole_number("num_gpus", num_gpus) != total:
        raise ValueError(f"num_gpus={num_gpus} does not match tp*cp*dp*pp = {tp}*{cp}*{dp}*{pp}"
                         f" = {total}")

    g = get_gpu(gpu)
    sc = Scenario(model=model, gpu=gpu, interconnect=interconnect or g.native_link, tp=tp,
                  pp=pp, ep=ep, batch=micro_batch, prompt_tokens=seq_len, output_tokens=1,
                  weight_bits=8 if precision == "fp8" else 16, overlap=float(tp_overlap),
                  algorithm=algorithm, flash_attention=flash, layers=layers,
                  gpus_per_node=gpus_per_node, inter_node=inter_node, efficiency=efficiency)
    if precision == "fp8" and not g.fp8_tflops:
        raise ValueError(f"precision='fp8' is not allowed on gpu={gpu!r}: it has no FP8 tensor "
                         f"cores (use bf16)")
    P = params(sc)
    if not (efficiency and "flops_efficiency" in efficiency):
        P["ef"] = TRAINING_CALIBRATION.gemm_efficiency
    P["F"] = peak_flops(g, precision)       # fp32 trains on TF32 tensor cores
    if precision == "fp32":
        P["wb"] = 4.0
    link = P["link"]
    gpn = P["gpn"]
    wbytes = 4.0 if precision == "fp32" else 2.0
    gbytes = 4.0 if precision == "fp32" else grad_bits / 8.0

    m = global_batch // (micro_batch * dp)
    gps = sc.gpus_per_stage
    reps = gps / tp                                 # attention replicas in a stage group
    tokens = micro_batch * seq_len / cp * reps      # tokens through one stage group's layer
    seqs = micro_batch / cp * reps
    link_cp = _group_link(link, gpn // tp if tp < gpn else 1)
    lp = _layer_passes(P, link, link_cp, tokens, seqs, float(seq_len), sp, flash, recompute, cp)
    ends = _ends(P, link, micro_batch * seq_len / cp, sp)

    spec = sc.model_spec()
    L = spec.layers
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

    # pipeline sends: activations forward, gradients backward, each TP rank its share
    group = tp * cp * dp
    stages_per_node = int(gpn // group) if (group < gpn and link["gpn"] > 1) else 1
    crosses = [(s + 1) % stages_per_node == 0 for s in range(pp - 1)]   # boundary s -> s+1
    S = micro_batch * seq_len / cp * P["h"] * P["cb"] / tp
    t_in = _f(coll.p2p(S, False, link, P["c_coll"]))
    t_x = _f(coll.p2p(S, True, link, P["c_coll"]))
    hop = [t_x if x else t_in for x in crosses]
    p2p_total = 2.0 * sum(hop)
    worst_hop = max(hop, default=0.0)

    # parameters per GPU of each stage (dense, experts), and the data-parallel groups
    stage_params = [_params_per_gpu(P, n, s == 0, s == pp - 1) for s, n in enumerate(sizes)]
    n_dense, n_exp = stage_params[crit]
    n_dp = dp * cp
    n_edp = max(1, n_dp // max(1, ep // tp)) if ep > tp else n_dp
    link_dp = _group_link(link, gpn // (tp * cp) if tp * cp < gpn else 1)

    def ag(nbytes, n):                  # all-gather, or reduce-scatter (same cost)
        return _collective(coll.allgather, nbytes, n, link_dp, P["c_coll"])

    def ar(nbytes, n):
        return _collective(coll.allreduce, nbytes, n, link_dp, P["c_coll"])

    def over_dp(fn, nd, ne, per_param, *args):
        """``fn(bytes, ranks)`` over the dense (n_dp ranks) plus the expert (n_edp) params."""
        return fn(nd * per_param, n_dp, *args) + fn(ne * per_param, n_edp, *args)

    # ZeRO 3 gathers the stage's parameters before each forward and backward
    z3_mb = 0.0
    if zero_stage == 3:
        gather = over_dp(ag, n_dense, n_exp, wbytes)
        scatter = over_dp(ag, n_dense, n_exp, gbytes)
        z3_mb = max(0.0, 2.0 * gather + scatter - dp_overlap * stage[crit])
    stage_mb = [t + z3_mb for t in stage]

    # the pipeline: fill, steady state and drain
    t_crit = max(stage_mb)
    steady = max(0, m - pp + 1) * 2.0 * worst_hop if (schedule == "1f1b" and pp > 1) else 0.0
    # ZeRO-3 time split between a stage's forward and backward in proportion to their work
    f_mb = [f + (z3_mb * f / (f + b) if f + b else 0.0) for f, b in zip(fwd_s, bwd_s)]
    b_mb = [t - f for t, f in zip(stage_mb, f_mb)]           # backward incl. recompute
    if schedule == "gpipe" and pp > 1:
        # every forward, then every backward: two flow shops of m identical micro-batches,
        # each the sum over stages plus (m - 1) times its slowest stage
        pipe = sum(stage_mb) + p2p_total + (m - 1) * (max(f_mb) + max(b_mb))
    else:
        pipe = (m - 1) * t_crit + sum(stage_mb) + p2p_total + steady
    busy = m * stage_mb[crit]

    # data-parallel gradient sync (once per iteration for ZeRO 0-2)
    t_b_last = bwd_s[0] + rec_s[0]
    t_f_first = fwd_s[0]
    if zero_stage == 0:
        t_dp = over_dp(ar, n_dense, n_exp, gbytes)
        dp_exposed = t_dp - dp_overlap * min(t_dp, t_b_last)
    elif zero_stage in (1, 2):
        t_rs = over_dp(ag, n_dense, n_exp, gbytes)
        t_ag = over_dp(ag, n_dense, n_exp, wbytes)
        t_dp = t_rs + t_ag
        dp_exposed = (t_rs - dp_overlap * min(t_rs, t_b_last)
                      + t_ag - dp_overlap * min(t_ag, t_f_first))
    else:
        t_dp = 0.0
        dp_exposed = 0.0

    # optimizer step over this GPU's shard of the parameters
    shard = _per_rank(n_dense, n_exp, n_dp, n_edp, zero_stage >= 1)
    state_b = _state_bytes(precision, optimizer)
    if precision == "fp32":
        opt_bytes_pp = 2 * wbytes + 2 * state_b + 2 * gbytes
    else:     # the fp32 master copy is part of the state; the 16-bit weights are written
        opt_bytes_pp = 2 * state_b + wbytes + 2 * gbytes
    t_opt, opt_compute = _elementwise(P, 12.0 * shard, opt_bytes_pp * shard)
    t_opt += 4 * P["t_launch"]

    iteration = pipe + dp_exposed + t_opt + P["t_step"]

    # breakdown by cause: the critical stage's busy time, then what waits around it
    cats_c = {c: 0.0 for c in CATEGORIES}
    nL = sizes[crit]
    for pas in ("forward", "backward", "recompute"):
        for c, v in lp[pas].items():
            cats_c[c] += m * nL * v
    for idx, key in ((0, "first"), (pp - 1, "last")):
        if crit == idx:
            for d in ends[key]:
                for c, v in d.items():
                    cats_c[c] += m * v
    cats_c["communication"] += m * z3_mb + dp_exposed
    p2p_exposed = min(pipe - busy, p2p_total + steady)
    cats_c["communication"] += p2p_exposed
    cats_c["compute" if opt_compute else "hbm"] += t_opt
    cats_c["launch_overhead"] += P["t_step"]
    cats_c["pipeline_bubble"] = pipe - busy - p2p_exposed

    ph = {"forward": m * fwd_s[crit], "backward": m * bwd_s[crit], "recompute": m * rec_s[crit],
          "p2p": p2p_exposed, "pipeline_bubble": pipe - busy - p2p_exposed,
          "dp_communication": dp_exposed + m * z3_mb, "optimizer": t_opt + P["t_step"]}

    # FLOPs: model (fwd + bwd) and hardware (with recompute)
    fwd_layer_flops = lp["model_flops"] * tp * cp   # one micro-batch, one layer (per-GPU work x gps / reps)
    lm = ends["lm_flops"] * tp * cp
    samples_mb = global_batch / micro_batch
    model_flops = samples_mb * 3.0 * (L * fwd_layer_flops + lm)
    rec_model = (lp["model_flops"] if recompute == "full" else lp["rec_tot"][0]) * tp * cp
    hardware_flops = model_flops + samples_mb * L * rec_model
    peak = P["F"]
    mfu = model_flops / (iteration * total * peak)
    hfu = hardware_flops / (iteration * total * peak)

    # traffic per iteration, for energy: one GPU of the critical stage, and all GPUs
    if zero_stage == 0:                 # all-reduce the gradients
        dp_per_param, dp_passes, dp_times = gbytes, 2, 1
    elif zero_stage in (1, 2):          # reduce-scatter gradients, all-gather weights
        dp_per_param, dp_passes, dp_times = gbytes + wbytes, 1, 1
    else:                               # per micro-batch: gather weights twice, scatter grads
        dp_per_param, dp_passes, dp_times = 2 * wbytes + gbytes, 1, m

    def stage_traffic(st):
        n = sizes[st]
        fl = (lp["fwd_tot"][0] + lp["bwd_tot"][0] + lp["rec_tot"][0]) * n
        hb = (lp["fwd_tot"][1] + lp["bwd_tot"][1] + lp["rec_tot"][1]) * n
        lk = (lp["fwd_tot"][2] + lp["bwd_tot"][2] + lp["rec_tot"][2]) * n
        for idx, key in ((0, "first_tot"), (pp - 1, "last_tot")):
            if st == idx:
                fl, hb, lk = fl + ends[key][0], hb + ends[key][1], lk + ends[key][2]
        nd, ne = stage_params[st]
        sh = _per_rank(nd, ne, n_dp, n_edp, zero_stage >= 1)
        dpb = dp_times * over_dp(sent_bytes, nd, ne, dp_per_param, dp_passes)
        sends = (1 if st > 0 else 0) + (1 if st < pp - 1 else 0)
        return {"flops": m * fl + 12.0 * sh, "hbm_bytes": m * hb + opt_bytes_pp * sh,
                "tp_bytes": m * lk, "dp_bytes": dpb, "p2p_bytes": m * S * sends}

    per_stage = [stage_traffic(st) for st in range(pp)]
    c = per_stage[crit]
    per_gpu = {"flops": c["flops"], "hbm_bytes": c["hbm_bytes"],
               "link_bytes": c["tp_bytes"] + c["dp_bytes"] + c["p2p_bytes"]}
    cross_dp = group > gpn or link["gpn"] <= 1
    cross_tp = tp > gpn or link["gpn"] <= 1
    frac_x = sum(crosses) / (pp - 1) if pp > 1 else 0.0
    tot = {"flops": 0.0, "hbm_bytes": 0.0, "link_bytes": 0.0, "network_bytes": 0.0}
    for st in per_stage:
        tot["flops"] += group * st["flops"]
        tot["hbm_bytes"] += group * st["hbm_bytes"]
        for key, network in (("tp_bytes", cross_tp), ("dp_bytes", cross_dp)):
            tot["network_bytes" if network else "link_bytes"] += group * st[key]
        tot["network_bytes"] += group * st["p2p_bytes"] * frac_x
        tot["link_bytes"] += group * st["p2p_bytes"] * (1 - frac_x)

    # memory per GPU (the busiest stage: stage 0 holds the most in-flight micro-batches)
    mem = _memory(P, sizes, stage_params, m, micro_batch, seq_len, cp, sp, flash, recompute,
                  schedule, zero_stage, n_dp, n_edp, wbytes, gbytes, state_b)
    fits = mem["total"] <= mem["capacity"]
    warnings = []
    if not fits:
        short = (mem["total"] - mem["capacity"]) / 1e9
        warnings.append(
            f"does not fit by {short:.1f} GB: needs {mem['total'] / 1e9:.1f} GB per GPU but one "
            f"{g.name} has {mem['capacity'] / 1e9:.0f} GB (weights {mem['weights'] / 1e9:.1f}, "
            f"gradients {mem['gradients'] / 1e9:.1f}, optimizer {mem['optimizer_states'] / 1e9:.1f}, "
            f"activations {mem['activations'] / 1e9:.1f}); try a higher zero_stage, recompute, "
            f"sequence_parallel, more tp/pp or a smaller micro_batch")
    if pp > 1 and m < pp:
        warnings.append(f"{m} micro-batch(es) for pp={pp}: most of the pipeline idles; use a "
                        f"global_batch with at least {pp} micro-batches per replica")
    nodes = math.ceil(total / gpn)
    if nodes > 1 and sc.link_spec().kind != "network":
        warnings.append(f"{total} GPUs span {nodes} nodes joined by {sc.inter_node_spec().name}")

    config = dict(model=spec.name, gpu=g.name, interconnect=sc.link_spec().name,
                  inter_node=sc.inter_node_spec().name, seq_len=seq_len,
                  global_batch=global_batch, micro_batch=micro_batch, dp=dp, tp=tp, pp=pp,
                  cp=cp, ep=ep, recompute=recompute, sequence_parallel=sp,
                  zero_stage=zero_stage, schedule=schedule, precision=precision,
                  grad_bits=int(gbytes * 8), optimizer=optimizer, flash_attention=flash,
                  tp_overlap=float(tp_overlap), dp_overlap=float(dp_overlap),
                  algorithm=algorithm, layers=L, gpus_per_node=gpus_per_node)
    res = TrainingResult(
        config=config, iteration_s=float(iteration), breakdown=cats_c, phases=ph,
        mfu=float(mfu), hfu=float(hfu), tokens_per_s=global_batch * seq_len / iteration,
        samples_per_s=global_batch / iteration, memory=mem, fits=bool(fits),
        warnings=warnings, num_gpus=total, nodes=nodes, micro_batches=m,
        bubble_fraction=ph["pipeline_bubble"] / iteration, model_flops=float(model_flops),
        hardware_flops=float(hardware_flops), per_gpu=per_gpu, totals=tot,
        peak_flops=float(peak),
        stage_s=stage_mb)
    sched = dict(fwd=f_mb, bwd=[t - r for t, r in zip(b_mb, rec_s)],
                 rec=rec_s, hop=hop, m=m, pp=pp, schedule=schedule, gpus_per_stage=group,
                 t_dp=t_dp, dp_exposed=dp_exposed, t_opt=t_opt, S=S,
                 zero_stage=zero_stage, pipe=pipe,
                 **{f"{k}_{p}": [n * lp[f"{t}_tot"][i] for n in sizes]
                    for p, t in (("f", "fwd"), ("b", "bwd"), ("r", "rec"))
                    for k, i in (("flops", 0), ("bytes", 1))})
    res._parts = (sched,)
    return res


def _memory(P, sizes, stage_params, m, b, s, cp, sp, flash, recompute, schedule, zero_stage,
            n_dp, n_edp, wbytes, gbytes, state_b):
    """Bytes per GPU of the busiest stage: weights, gradients, optimizer states, activations."""
    tp, h, V = P["tp"], P["h"], P["V"]
    pp = len(sizes)
    # activations of one layer for one micro-batch (Korthikanti et al. 2022, generalised)
    tok = b * s / cp
    f_eff = (1 - P["phi"]) * P["ffn"] + P["phi"] * (P["k"] * P["f_e"] + P["f_s"])
    repl = 4 * h + 2 * h + 2 * h + 2 * h               # norms' inputs, attn/MLP inputs, dropout masks
    split = 2 * P["qkv_out"] + 2 * P["attn_out"] + 2 * (P["mats"] - 1) * f_eff + 2 * f_eff
    scores = 0.0 if flash or recompute == "selective" else 5.0 * P["nh"] * s
    full_layer = tok * ((repl / tp if sp else repl) + (split + scores) / tp)
    layer_act = tok * 2 * h / (tp if sp else 1) if recompute == "full" else full_layer
    cands = []
    for st in sorted({0, pp - 1}):
        nd, ne = stage_params[st]
        weights = _per_rank(nd, ne, n_dp, n_edp, zero_stage >= 3) * wbytes
        grads = _per_rank(nd, ne, n_dp, n_edp, zero_stage >= 2) * gbytes
        opt = _per_rank(nd, ne, n_dp, n_edp, zero_stage >= 1) * state_b
        in_flight = min(m, pp - st) if schedule == "1f1b" else m
        act = sizes[st] * layer_act * in_flight
        if recompute == "full":
            act += full_layer                      # one layer rebuilt during its backward
        if st == 0:
            act += tok * h * ACT_BYTES / (tp if sp else 1) * in_flight   # embedding output
        if st == pp - 1:
            act += tok * V / tp * 4.0 * 2.0        # fp32 logits and their gradient
        cands.append({"weights": weights, "gradients": grads, "optimizer_states": opt,
                      "activations": act, "total": weights + grads + opt + act,
                      "capacity": P["cap"]})
    best = max(cands, key=lambda d: d["total"])    # the first stage on a tie
    return {k: float(v) for k, v in best.items()}


# ---- CLI -------------------------------------------------------------------------------------
def _parser():
    from .cli import _Parser
    p = _Parser(prog="nexora --mode training", allow_abbrev=False,
                description="Training iteration time, memory per GPU and MFU.")
    p.add_argument("--mode", default="training")
    p.add_argument("--model", default="gpt-175b")
    p.add_argument("--gpu", default="a100-sxm-80gb")
    p.add_argument("--interconnect", default=None)
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--global-batch", type=int, default=64)
    p.add_argument("--micro-batch", type=int, default=1)
    for n in ("--dp", "--tp", "--pp", "--cp", "--ep"):
        p.add_argument(n, type=int, default=1)
    p.add_argument("--recompute", default="none")
    p.add_argument("--sequence-parallel", action="store_true")
    p.add_argument("--zero-stage", type=int, default=0)
    p.add_argument("--schedule", default="1f1b")
    p.add_argument("--precision", default="bf16")
    p.add_argument("--grad-bits", type=int, default=16)
    p.add_argument("--optimizer", default="adam")
    p.add_argument("--no-flash-attention", action="store_true")
    p.add_argument("--tp-overlap", type=float, default=0.0)
    p.add_argument("--dp-overlap", type=float, default=1.0)
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--num-gpus", type=int, default=None)
    p.add_argument("--gpus-per-node", type=int, default=8)
    p.add_argument("--energy", action="store_true", help="also print energy per iteration")
    p.add_argument("--json", action="store_true")
    return p


def cli_main(argv=None) -> int:
    """``nexora --mode training ...``: print the iteration summary (or JSON). Exit 2 on bad input."""
    def run(a):
        from .cli import resolve_model
        res = simulate_training(
            model=resolve_model(a.model), gpu=a.gpu, interconnect=a.interconnect,
            seq_len=a.seq_len, global_batch=a.global_batch, micro_batch=a.micro_batch, dp=a.dp,
            tp=a.tp, pp=a.pp, cp=a.cp, ep=a.ep, recompute=a.recompute,
            sequence_parallel=a.sequence_parallel, zero_stage=a.zero_stage,
            schedule=a.schedule, precision=a.precision, grad_bits=a.grad_bits,
            optimizer=a.optimizer, flash_attention=not a.no_flash_attention,
            tp_overlap=a.tp_overlap, dp_overlap=a.dp_overlap, layers=a.layers,
            num_gpus=a.num_gpus, gpus_per_node=a.gpus_per_node)
        en = None
        if a.energy:
            from .energy import training_energy
            en = training_energy(res)
        if a.json:
            d = res.to_dict()
            if en is not None:
                d["energy"] = en.to_dict()
            return json.dumps(d, indent=2)
        return res.summary() + ("" if en is None else "\n" + en.summary())
    return run_cli(_parser(), argv, "training", run)
