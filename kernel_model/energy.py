"""Energy of an inference request (joules per token) and of a training iteration.

    E = FLOPs x e_flop + HBM bytes x e_hbm + link bytes x e_link + network bytes x e_net
        + idle power x GPUs x run time

counted over every layer of every stage, every micro-batch and (inference) the prefill and
every decode step. Units: pJ per FLOP / per byte, W, J.

Per-FLOP energy comes from the GPU presets' power figures: at its dense 16-bit peak the
math (with its operand traffic through registers and shared memory) is taken to
draw ``MATH_SHARE`` of the board's dynamic power budget
(tdp_w - idle_w), so ``e_flop = MATH_SHARE * (tdp_w - idle_w) / peak``; an FP8 FLOP costs
the 16-bit energy times peak16 / peak8 (half on Hopper / Blackwell). Memory and link
energies are per memory / link technology (order-of-magnitude estimates from the
sources in ``MEMORY_PJ_PER_BYTE`` / ``LINK_PJ_PER_BYTE``); ``register_energy`` overrides
them per GPU (the YAML importer uses it).
"""
from __future__ import annotations

from dataclasses import dataclass, asdict, replace

import numpy as np

MATH_SHARE = 0.9

# memory technology -> (pJ per byte read or written, source)
MEMORY_PJ_PER_BYTE = {
    "hbm2e": (31.2, "3.9 pJ/bit, HBM2 (O'Connor et al., MICRO 2017)"),
    "hbm3": (28.0, "3.5 pJ/bit, estimate for HBM3"),
    "hbm3e": (24.0, "3.0 pJ/bit, estimate for HBM3e"),
    "gddr6": (60.0, "7.5 pJ/bit, estimate for GDDR6"),
    "gddr6x": (58.0, "7.25 pJ/bit, Micron GDDR6X"),
    "gddr7": (48.0, "6 pJ/bit, estimate for GDDR7"),
    "lpddr5x": (32.0, "~4 pJ/bit, estimate for LPDDR5x"),
}
GPU_MEMORY = {
    "a100-sxm-40gb": "hbm2e", "a100-sxm-80gb": "hbm2e", "a100-pcie-80gb": "hbm2e",
    "h100-sxm": "hbm3", "h100-pcie": "hbm2e", "h200-sxm": "hbm3e", "b200": "hbm3e",
    "mi300x": "hbm3", "l40s": "gddr6", "a10g": "gddr6", "rtx-4090": "gddr6x",
    "rtx-3090": "gddr6x", "rtx-pro-6000": "gddr7", "a100-pcie-40gb": "hbm2e", "h100-nvl": "hbm3",
    "h20": "hbm3", "l4": "gddr6", "l40": "gddr6", "rtx-a6000": "gddr6", "rtx-6000-ada": "gddr6",
    "rtx-5090": "gddr7", "gb200": "hbm3e", "mi325x": "hbm3e", "b300": "hbm3e", "gb10": "lpddr5x",
    "h200-nvl": "hbm3e", "rtx-3090-ti": "gddr6x", "a40": "gddr6", "a30": "hbm2e", "t4": "gddr6",
}
FAMILY_MEMORY = {"ampere": "hbm2e", "hopper": "hbm3", "blackwell": "hbm3e", "cdna3": "hbm3",
                 "ada": "gddr6x"}
# interconnect kind -> (pJ per byte sent, source); estimates including switches / NICs
LINK_PJ_PER_BYTE = {
    "nvlink": (40.0, "~5 pJ/bit SerDes + NVSwitch, estimate"),
    "fabric": (40.0, "~5 pJ/bit, estimate for Infinity Fabric"),
    "pcie": (64.0, "~8 pJ/bit PCIe PHY + switch, estimate"),
    "network": (160.0, "~20 pJ/bit NIC + switch + optics, estimate for InfiniBand"),
}

_OVERRIDES: dict[str, dict] = {}
# Largest accepted override of each coefficient (register_energy): ~100x any estimate above.
MAX_ENERGY = {"flop_pj": 1e3, "hbm_pj_per_byte": 1e4, "link_pj_per_byte": 1e5,
              "network_pj_per_byte": 1e5, "idle_w": 1e5, "tdp_w": 1e5}


@dataclass(frozen=True)
class EnergyParams:
    """Energy coefficients of one GPU and its links."""
    gpu: str
    flop_pj: float              # per 16-bit tensor FLOP, pJ
    hbm_pj_per_byte: float
    link_pj_per_byte: float     # intra-node interconnect
    network_pj_per_byte: float  # inter-node network
    idle_w: float
    tdp_w: float
    source: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def register_energy(gpu: str, **fields) -> None:
    """Override energy coefficients (EnergyParams field names) for the GPU preset ``gpu``.
    Each must be a finite number in [0, MAX_ENERGY[field]] (``tdp_w`` > 0, ``idle_w`` <=
    ``tdp_w``); anything else raises ``ValueError`` naming the field and the value."""
    valid = set(EnergyParams.__dataclass_fields__) - {"gpu"}
    bad = [k for k in fields if k not in valid]
    if bad:
        raise ValueError(f"energy field {bad[0]!r} is unknown (valid: {', '.join(sorted(valid))})")
    for k, v in fields.items():
        if k == "source":
            if not isinstance(v, str):
                raise ValueError(f"energy field source={v!r} must be a string")
            continue
        lo_open = k == "tdp_w"
        if (isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating))
                or not np.isfinite(v) or v < 0 or (lo_open and v == 0) or v > MAX_ENERGY[k]):
            rng = f"{'(' if lo_open else '['}0, {MAX_ENERGY[k]:g}]"
            raise ValueError(f"energy field {k}={v!r} for {gpu!r} is not allowed: must be a "
                             f"finite number in {rng}")
    merged = dict(_OVERRIDES.get(gpu, {}), **{k: (v if k == "source" else float(v))
                                              for k, v in fields.items()})
    if "idle_w" in merged and "tdp_w" in merged and merged["idle_w"] > merged["tdp_w"]:
        raise ValueError(f"energy fields for {gpu!r}: idle_w={merged['idle_w']:g} is not allowed: "
                         f"more than tdp_w={merged['tdp_w']:g}")
    _OVERRIDES[gpu] = merged


def energy_params(gpu, interconnect=None) -> EnergyParams:
    """Default coefficients for a GPU preset (name or GPU) and its intra-node link."""
    from .hardware import get_gpu, get_interconnect
    g = get_gpu(gpu) if isinstance(gpu, str) else gpu
    mem = GPU_MEMORY.get(g.name, FAMILY_MEMORY.get(g.family, "hbm3"))
    link = get_interconnect(interconnect or g.native_link)
    e = EnergyParams(
        gpu=g.name, flop_pj=MATH_SHARE * (g.tdp_w - g.idle_w) / (g.bf16_tflops * 1e12) * 1e12,
        hbm_pj_per_byte=MEMORY_PJ_PER_BYTE[mem][0],
        link_pj_per_byte=LINK_PJ_PER_BYTE[link.kind][0],
        network_pj_per_byte=LINK_PJ_PER_BYTE["network"][0], idle_w=g.idle_w, tdp_w=g.tdp_w,
        source=f"flop: {MATH_SHARE:.0%} of (tdp_w - idle_w) at dense peak; memory {mem}: "
               f"{MEMORY_PJ_PER_BYTE[mem][1]}; link {link.kind}: {LINK_PJ_PER_BYTE[link.kind][1]}")
    if g.name in _OVERRIDES:
        e = replace(e, **_OVERRIDES[g.name], source=e.source + "; overridden")
    return e


@dataclass
class EnergyResult:
    """Joules of one request (inference) or one iteration (training), by component."""
    kind: str                  # inference | training
    joules: float
    components: dict           # compute, hbm, link, network, static (J); sum to joules
    seconds: float             # run time the static power is charged over
    num_gpus: int
    tokens: float              # tokens processed (prompt + output, or seq_len x global_batch)
    output_tokens: float       # generated tokens (inference); = tokens for training
    joules_per_token: float
    joules_per_output_token: float
    average_power_w: float     # per GPU
    params: EnergyParams
    counts: dict               # flops, hbm_bytes, link_bytes, network_bytes (all GPUs)
    warnings: list

    def to_dict(self) -> dict:
        d = asdict(self)
        d["params"] = self.params.to_dict()
        return d

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v:.3g} J" for k, v in self.components.items())
        what = "iteration" if self.kind == "training" else "request"
        lines = [f"energy per {what} {self.joules:.4g} J ({parts})",
                 f"  {self.joules_per_token:.4g} J per token, "
                 + (f"{self.joules_per_output_token:.4g} J per output token, " if self.kind == "inference" else "")
                 + f"average {self.average_power_w:.0f} W per GPU (TDP {self.params.tdp_w:.0f} W)"]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def sent_bytes(S, n, passes):
    """Bytes one rank sends in ``passes`` ring phases over ``n`` ranks of an S-byte tensor
    (1: all-gather, reduce-scatter or all-to-all; 2: all-reduce)."""
    return passes * S * (n - 1) / n if n > 1 else 0.0


def link_bytes(P, work, names):
    """Bytes one GPU sends for the collectives among ``names`` of a ``kernels`` work dict:
    all-reduces over TP (2 ring phases), all-to-alls over EP and the logits gather (1)."""
    from .kernels import KIND
    out = 0.0
    for n in names:
        if KIND[n] != "comm":
            continue
        S = float(np.asarray(work[n][2]))
        if n.endswith("a2a"):
            out += sent_bytes(S, P["ep"], 1)
        else:
            out += sent_bytes(S, P["tp"], 1 if n == "logits_gather" else 2)
    return out


def _combine(kind, counts, seconds, n, tokens, out_tokens, ep: EnergyParams, gemm_ratio=1.0,
             gemm_flops=None):
    """``gemm_ratio``: energy of a GEMM FLOP relative to a 16-bit one (16-bit peak / peak of
    the GEMM precision); ``gemm_flops`` None: every FLOP is a GEMM FLOP."""
    pj = 1e-12
    gf = counts["flops"] if gemm_flops is None else gemm_flops
    other = counts["flops"] - gf
    comp = (gf * ep.flop_pj * gemm_ratio + other * ep.flop_pj) * pj
    comps = {"compute": comp, "hbm": counts["hbm_bytes"] * ep.hbm_pj_per_byte * pj,
             "link": counts["link_bytes"] * ep.link_pj_per_byte * pj,
             "network": counts["network_bytes"] * ep.network_pj_per_byte * pj,
             "static": ep.idle_w * n * seconds}
    total = sum(comps.values())
    power = total / (n * seconds) if seconds > 0 else 0.0
    warnings = []
    if power > ep.tdp_w:
        warnings.append(f"average power {power:.0f} W per GPU exceeds the {ep.tdp_w:.0f} W TDP "
                        f"of {ep.gpu}: the GPU would throttle its clocks")
    return EnergyResult(kind=kind, joules=total, components=comps, seconds=seconds, num_gpus=n,
                        tokens=tokens, output_tokens=out_tokens,
                        joules_per_token=total / tokens if tokens else float("nan"),
                        joules_per_output_token=total / out_tokens if out_tokens else float("nan"),
                        average_power_w=power, params=ep, counts=dict(counts), warnings=warnings)


def _phase_counts(P, ph, steps):
    """FLOPs, GEMM FLOPs, HBM bytes and link bytes over all GPUs of ``steps`` passes of one
    phase (prefill: 1, decode: output_tokens - 1), every layer, stage and micro-batch."""
    from .kernels import LAYER_KERNELS, HEAD_KERNELS, TAIL_KERNELS, KIND
    w = ph["work"]
    tp, gps, pp, m, L = P["tp"], P["gps"], P["pp"], P["m"], P["L"]

    def fl(names, gemm_only=False):
        return sum(float(np.asarray(w[n][0])) for n in names
                   if KIND[n] != "comm" and (not gemm_only or KIND[n] == "gemm"))

    def hb(names):
        return sum(float(np.asarray(w[n][1])) for n in names if KIND[n] != "comm")

    reps = gps * m * steps
    c = {"flops": reps * (L * fl(LAYER_KERNELS) + fl(HEAD_KERNELS) + fl(TAIL_KERNELS)),
         "gemm_flops": reps * (L * fl(LAYER_KERNELS, True) + fl(TAIL_KERNELS, True)),
         "hbm_bytes": reps * (L * hb(LAYER_KERNELS) + hb(HEAD_KERNELS) + hb(TAIL_KERNELS)),
         "link_bytes": reps * (L * link_bytes(P, w, LAYER_KERNELS) + link_bytes(P, w, TAIL_KERNELS))}
    # pipeline transfers: each GPU of a stage sends its share of the activations
    S = float(np.asarray(ph["tokens"])) / (gps / tp) * P["h"] * P["cb"] / tp
    n_nodes = np.ceil(gps * pp / P["gpn"])
    n_cross = float(min(pp - 1, n_nodes - 1))
    c["network_bytes"] = S * gps * m * steps * n_cross
    c["link_bytes"] += S * gps * m * steps * (pp - 1 - n_cross)
    if P["link"]["gpn"] <= 1 or tp > P["gpn"]:      # every collective crosses nodes
        c["network_bytes"] += c["link_bytes"]
        c["link_bytes"] = 0.0
    return c


def inference_energy(result, params: EnergyParams | None = None) -> EnergyResult:
    """Energy of the whole request of a :class:`kernel_model.Result` (prefill + every decode
    step, every layer), and joules per token (prompt + output) and per output token."""
    from .simulate import params as sim_params, evaluate
    sc = result.scenario
    P = sim_params(sc)
    out = evaluate(P)
    pre = _phase_counts(P, out["prefill"], 1.0)
    dec = _phase_counts(P, out["decode"], max(sc.output_tokens - 1, 0))
    counts = {k: pre[k] + dec[k] for k in pre}
    gf = counts.pop("gemm_flops")
    ep = params or energy_params(sc.gpu, sc.link_spec().name)
    tokens = sc.batch * (sc.prompt_tokens + sc.output_tokens)
    return _combine("inference", counts, result.e2e_s, result.num_gpus, tokens,
                    sc.batch * sc.output_tokens, ep, P["F16"] / P["F"], gf)


def training_energy(result, params: EnergyParams | None = None) -> EnergyResult:
    """Energy of one iteration of a :class:`kernel_model.training.TrainingResult`, and joules
    per trained token."""
    c = result.config
    ep = params or energy_params(c["gpu"], c["interconnect"])
    counts = {k: result.totals[k] for k in ("flops", "hbm_bytes", "link_bytes", "network_bytes")}
    from .hardware import get_gpu
    peak16 = get_gpu(c["gpu"]).bf16_tflops * 1e12
    tokens = c["seq_len"] * c["global_batch"]
    return _combine("training", counts, result.iteration_s, result.num_gpus, tokens, tokens, ep,
                    peak16 / result.peak_flops)


def energy(result, params: EnergyParams | None = None) -> EnergyResult:
    """``inference_energy`` for a Result, ``training_energy`` for a TrainingResult."""
    if hasattr(result, "iteration_s"):
        return training_energy(result, params)
    return inference_energy(result, params)
