"""Preset facts as flat rows of numbers, and the derived parameters ``P`` of the closed form.

``simulate.params`` (one scenario) and ``sweep`` (every combination of a grid) both build
``T``, a dict of numbers or arrays: the rows below for the model, GPU, links, calibration and
runtime, plus the plan fields. :func:`derive` turns ``T`` into ``P`` (what ``evaluate``
reads) with one vectorised code path: a single scenario is the length-1 case (Python floats,
which keeps it fast), a sweep passes arrays laid out over the grid's axes.

To add a field: give its row function a key (or add a plan field to ``PLAN_FIELDS``) and
read it in :func:`derive`; a new link key only needs a line in :func:`link_row` (every key of
the row reaches ``P["link"]``).
"""
from __future__ import annotations

from functools import lru_cache

import json

from . import xp
from .hardware import (get_gpu, get_interconnect, inter_node_for,
                       COLLECTIVE_CONSTANTS as _K)
from .models import get_model
from .runtime import get_runtime, graphs_off, launch_gap
from .formats import resolve as _resolve_format, math_flops, get_format

#: Plan fields that enter T as numbers (one value, or an axis of a sweep).
PLAN_FIELDS = ("tp", "pp", "ep", "batch", "prompt_tokens", "output_tokens", "weight_bits",
               "kv_bits", "comm_bits", "micro_batches", "overlap", "comm_group",
               "flash_attention", "gpus_per_node")
ALG_CODES = {"auto": 0, "ring": 1, "tree": 2, "oneshot": 3, "twoshot": 4, "in_switch": 5}


@lru_cache(maxsize=512)
def model_row(spec) -> dict:
    """Model shape facts (floats) of a ModelSpec (with its overrides applied)."""
    s = spec.shape()
    return {
        "L": float(s["layers"]), "h": float(s["hidden"]), "nh": float(s["heads"]),
        "V": float(s["vocab"]), "w_qkv": float(s["w_qkv"]), "w_o": float(s["w_o"]),
        "qkv_out": float(s["qkv_out"]), "attn_out": float(s["attn_out"]),
        "kv_elems": float(s["kv_elems"]), "kv_groups": float(s["kv_groups"]),
        "attn_flops": float(s["attn_flops"]), "mats": float(s["mlp_mats"]),
        "ffn": float(s["ffn"]), "E": float(s["experts"]), "k": float(s["top_k"]),
        "f_e": float(s["expert_ffn"]), "f_s": float(s["shared_ffn"]), "phi": float(s["moe_frac"]),
        "embed_mats": s["embed_params"] / (s["vocab"] * s["hidden"]),
        "nkv": float(spec.kv_heads if not spec.kv_lora_rank else 1),
    }


@lru_cache(maxsize=256)
def gpu_row(gpu) -> dict:
    return {"F16": gpu.bf16_tflops * 1e12, "HBM": gpu.hbm_gbps * 1e9, "cap": gpu.capacity_bytes}


def link_row(gpu, interconnect: str, inter_node: str) -> dict:
    """Link facts (:func:`link_facts`) of a scenario's links, plus ``none`` (1.0 for
    interconnect 'none': one GPU, no link; the GPU's native link stands in)."""
    none = interconnect == "none"
    link = get_interconnect(gpu.native_link if none else interconnect)
    inter = inter_node_for(gpu) if inter_node == "auto" else get_interconnect(inter_node)
    return _link_row(link, inter, none, gpu.host_staged_gbps)


@lru_cache(maxsize=512)
def _link_row(link, inter, none: bool, host_gbps) -> dict:
    return dict(link_facts(link, inter, host_gbps), none=float(none))


def link_facts(link, inter, host_gbps=None) -> dict:
    """The preset numbers the collectives read: intra-node bus bandwidth ``bw`` (B/s) and
    step latency ``lat0`` (s, before the calibrated ``collective_step_s``), the topology
    flags, in-switch bandwidth, the network's ``bw_x`` / ``lat_x0`` (a network preset as
    interconnect puts every GPU in its own node: ``net``), and NCCL's protocol constants.
    ``host_gbps``: the GPU's own rate through host memory (``GPU.host_staged_gbps``), which
    a host-staged link carries in place of its preset's."""
    k = _K
    net = link.kind == "network"
    x = link if net else inter
    return {"bw": link.bus_gbps(host_gbps) * 1e9, "lat0": link.latency_s, "p2p": float(link.p2p),
            "in_switch": float(link.in_switch), "net": float(net),
            "host": float(link.host_staged), "socket": float(link.cross_socket),
            "pcie": float(link.kind == "pcie"),
            "nvls_bw": (link.nvls_gbps or link.bw_gbps) * 1e9,
            "bw_x": x.bw_gbps * 1e9, "lat_x0": x.latency_s,
            "ll_frac": k["ll_frac"], "simple_lat": k["simple_lat"],
            "simple_call": k["simple_call_s"], "socket_lat": k["socket_lat"],
            "socket_bw": link.socket_bw_gbps * 1e9, "direct_frac": k["direct_frac"],
            "direct_call": k["direct_call"], "chan_bw": k["chan_bw_gbps"] * 1e9,
            "a2a_call": k["a2a_call_s"]}


def cal_row(cal, rt) -> dict:
    """Calibration numbers of runtime profile ``rt``: ``t_launch`` is its per-kernel gap."""
    return {"ef": cal.flops_efficiency, "ea": cal.attention_efficiency, "em": cal.hbm_efficiency,
            "t_launch": launch_gap(rt, cal.launch_overhead_s), "c_coll": cal.collective_overhead_s,
            "t_step": cal.step_overhead_s, "rexp": cal.roofline_exponent,
            "t_server": cal.eager_server_step_s, "step_s": cal.collective_step_s,
            "direct_max": float(cal.direct_allreduce_max_bytes)}


_CAL_CACHE: dict = {}


def calibration(efficiency, family: str, runtime: str = "compiled"):
    """The calibration a scenario runs with: the engine's, ``efficiency`` overrides, then
    the overrides of the GPU ``family`` and of the ``runtime`` profile (memoised on the
    overrides' contents)."""
    from .calibration import DEFAULT
    key = (json.dumps(efficiency, sort_keys=True, default=str) if efficiency else "", family,
           runtime)
    cal = _CAL_CACHE.get(key)
    if cal is None:
        cal = DEFAULT.replace(**efficiency) if efficiency else DEFAULT
        cal = cal.resolve(family, get_runtime(runtime).name)
        if len(_CAL_CACHE) > 1024:
            _CAL_CACHE.clear()
        _CAL_CACHE[key] = cal
    return cal


@lru_cache(maxsize=64)
def runtime_row(runtime: str) -> dict:
    rt = get_runtime(runtime)
    return {"server": float(rt.host_per_pass), "fuse": rt.fusion, "t_seq": rt.host_per_seq_s,
            "car": float(CUSTOM_ALLREDUCE[rt.custom_allreduce]),
            "kv_of_free": float(rt.kv_of_free)}


#: Runtime.custom_allreduce as a number: where the stack's one/two-shot all-reduce may run
CUSTOM_ALLREDUCE = {"none": 0, "nvlink": 1, "mesh": 2, "any": 3}


def custom_allreduce_max(T, tp):
    """Largest all-reduce (bytes) "auto" may run one/two-shot under the runtime's rule: the
    calibrated ``direct_max``; 0 for a NCCL-only stack, for an "nvlink" stack (TensorRT-LLM)
    over PCIe, and for a "mesh" stack (vLLM, SGLang) over PCIe beyond 2 GPUs or at a world
    size its kernel does not take (2, 4, 6, 8 only: ``CustomAllreduce._SUPPORTED_WORLD_SIZES``)."""
    car, pcie = T.get("car", CUSTOM_ALLREDUCE["any"]), T.get("pcie", 0.0) > 0
    unsupported = (tp != 2) & (tp != 4) & (tp != 6) & (tp != 8)
    off = ((car == CUSTOM_ALLREDUCE["none"])
           | ((car == CUSTOM_ALLREDUCE["nvlink"]) & pcie)
           | ((car == CUSTOM_ALLREDUCE["mesh"]) & ((pcie & (tp > 2)) | unsupported)))
    return xp.where(off, 0.0, T["direct_max"])


def format_row(weight_format: str, weight_bits, gpu) -> dict:
    """The weight format's GEMM peak ``F`` (FLOP/s), bytes per weight ``wb`` and, for an
    explicit format, its bits ``fmt_bits`` (0 for "auto": the closest to weight_bits)."""
    g = get_gpu(gpu)
    fmt = _resolve_format(weight_format, int(weight_bits), g)
    explicit = weight_format not in (None, "", "auto")
    return {"F": math_flops(fmt, g), "wb": fmt.bytes_per_weight,
            "fmt_bits": float(get_format(weight_format).bits) if explicit else 0.0}


def derive(T) -> dict:
    """``P`` for the closed form from ``T`` (numbers or broadcastable arrays)."""
    tp, ep = T["tp"], T["ep"]
    P = {k: T[k] for k in ("F", "wb", "fuse", "F16", "HBM", "cap", "ef", "ea", "em", "t_launch", "c_coll",
                           "t_step", "rexp", "t_server", "server", "t_seq", "kv_of_free", "L",
                           "h", "nh", "V", "w_qkv", "w_o", "qkv_out", "attn_out", "kv_elems",
                           "kv_groups", "attn_flops", "mats", "ffn", "E", "k", "f_e", "f_s", "phi",
                           "embed_mats", "tp", "pp", "ep", "overlap")}
    # the runtime's gap where its graphs do not apply (llama.cpp: runtime.graphs_off)
    P["t_launch"] = xp.where(graphs_off(tp, T["batch"]), T["t_launch_eager"], T["t_launch"])
    P["gps"] = xp.maximum(tp, ep)
    P["B"], P["p"], P["o"] = T["batch"], T["prompt_tokens"], T["output_tokens"]
    P["ctx"] = T["prompt_tokens"] + T["output_tokens"] / 2.0
    P["kvb"], P["cb"] = T["kv_bits"] / 8.0, T["comm_bits"] / 8.0
    P["m"], P["group"] = T["micro_batches"], T["comm_group"]
    P["flash"], P["gpn"] = T["flash_attention"], T["gpus_per_node"]
    P["link"] = derive_link(T)
    return P


def derive_link(T) -> dict:
    """``P["link"]``: the numbers the collectives read (see ``collectives``)."""
    net, step = T["net"], T["step_s"]
    bw = T["link_bw_gbps"] * 1e9 if "link_bw_gbps" in T else T["bw"]
    lat = (T["link_latency_us"] * 1e-6 if "link_latency_us" in T else T["lat0"]) + step
    link = {k: v for k, v in T.items() if k in _LINK_EXTRA}
    link.update({
        "bw": bw, "lat": lat, "alg": T["alg"], "p2p": T["p2p"], "in_switch": T["in_switch"],
        "bw_x": xp.where(net > 0, bw, T["bw_x"]) if "link_bw_gbps" in T else T["bw_x"],
        "lat_x": xp.where(net > 0, lat, T["lat_x0"] + step) if "link_latency_us" in T
        else T["lat_x0"] + step,
        "gpn": xp.where(net > 0, 1.0, T["gpus_per_node"]),
        "direct_max": custom_allreduce_max(T, T.get("tp", 1.0))})
    return link


#: link_facts keys passed through to P["link"] unchanged (new link facts go here).
_LINK_EXTRA = ("host", "socket", "nvls_bw", "ll_frac", "simple_lat", "simple_call",
               "socket_lat", "socket_bw", "direct_frac", "direct_call", "chan_bw", "a2a_call")


# ---- the tables: (Scenario fields a row depends on, function of them -> row of floats) -------
MODEL_DEPS = ("model", "layers", "moe_experts", "active_experts")
LINK_DEPS = ("gpu", "interconnect", "inter_node")


def model_spec(model, layers, moe_experts, active_experts):
    return get_model(model).with_overrides(layers, moe_experts, active_experts)


def _model(model, layers, moe_experts, active_experts):
    return model_row(model_spec(model, layers, moe_experts, active_experts))


def _gpu(gpu):
    return gpu_row(get_gpu(gpu))


def _link(gpu, interconnect, inter_node):
    return link_row(get_gpu(gpu), interconnect, inter_node)


def _cal(efficiency, gpu, runtime):
    """The calibration row of ``runtime``, and ``t_launch_eager``: the per-kernel gap of its
    ``eager_as`` profile, which a plan runs at where its graphs do not apply (llama.cpp: tp > 1
    or more than one sequence per step; :func:`derive` picks; the two profiles differ only in
    that gap)."""
    family, rt = get_gpu(gpu).family, get_runtime(runtime)
    row = cal_row(calibration(efficiency, family, rt.name), rt)
    alt = get_runtime(rt.eager_as or rt.name)
    row["t_launch_eager"] = launch_gap(alt, calibration(efficiency, family, alt.name).launch_overhead_s)
    return row


def _alg(algorithm):
    return {"alg": float(ALG_CODES[algorithm])}


#: Every non-numeric Scenario field reaches T through one of these (a new string field that
#: changes the numbers: one more entry). ``sweep`` lays each table out over the grid axes of
#: its fields; one scenario is the length-1 case (:func:`scenario_T`).
TABLES = ((MODEL_DEPS, _model), (("gpu",), _gpu), (LINK_DEPS, _link),
          (("efficiency", "gpu", "runtime"), _cal), (("runtime",), runtime_row),
          (("algorithm",), _alg), (("weight_format", "weight_bits", "gpu"), format_row))


def scenario_T(sc) -> dict:
    """T of one scenario: every entry a Python float."""
    T = {}
    for deps, fn in TABLES:
        T.update(fn(**{d: getattr(sc, d) for d in deps}))
    for f in PLAN_FIELDS:
        T[f] = float(getattr(sc, f))
    return T
