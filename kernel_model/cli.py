"""The ``nexora`` command (also ``python -m kernel_model``).

    nexora --preset pcie4_bad --tp 4 --model llama-2-13b      # one plan, text summary
    nexora --preset pcie4_bad --tp 4 --json                   # Result.to_dict() as JSON
    nexora --compare pcie4_bad,pcie5_good,nvlink --tp 4       # one row per preset
    nexora --preset nvlink --tp 8 --sweep --sweep-bw 50,150,300 --sweep-ctx 512,4096 > out.csv
    nexora optimize --model llama-3-70b --gpu h100-sxm --num-gpus 8 --max-tpot-ms 30
    nexora validate data.csv                                  # kernel_model.validate
    nexora --mode training ... / nexora --mode gemm ...       # other modes
    nexora --serve 8866                                       # the dashboard in Voila

Exit codes: 0 ok, 1 no feasible plan (optimize), 2 bad input (one line on stderr naming the
flag, the value and what is allowed). The default path imports numpy and the engine only
(no pandas, no widgets) so that ``--json`` answers fast.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

PROG = "nexora"
BAR = 40          # columns of an --ascii bar

# Scenario field -> the flag that sets it (to name the flag in error messages)
FIELD_FLAG = {"model": "--model", "gpu": "--gpu", "interconnect": "--interconnect",
              "tp": "--tp", "pp": "--pp", "ep": "--ep", "batch": "--batch-size",
              "prompt_tokens": "--prompt-tokens", "output_tokens": "--output-tokens",
              "weight_bits": "--weight-bits", "kv_bits": "--kv-bits", "comm_bits": "--bits",
              "micro_batches": "--micro-batches", "overlap": "--overlap",
              "algorithm": "--algorithm", "comm_group": "--group", "layers": "--layers",
              "moe_experts": "--moe-experts", "active_experts": "--active-experts",
              "gpus_per_node": "--gpus-per-node", "inter_node": "--inter-node",
              "flash_attention": "--no-flash-attention", "runtime": "--runtime"}
DEFAULT_SWEEP_BW = (12, 18, 25, 28, 50, 150, 200, 225, 450)   # GB/s: the presets' links

EXAMPLES = """\
examples:
  nexora --preset pcie4_bad --tp 4 --model llama-2-13b
      llama-2-13b on 4 x rtx-4090 (the preset's typical GPU) over PCIe 4 through the CPU
  nexora --preset pcie4_bad --gpu rtx-3090 --tp 2 --ascii
      same link, another GPU; 40-column bars of the breakdown and of TP scaling
  nexora --model llama-2-70b --gpu h100-sxm --interconnect nvlink4 --tp 8 --json
  nexora --compare pcie4_bad,pcie5_good,nvlink,nvlink4 --tp 4 --model llama-2-13b
  nexora --preset nvlink --tp 8 --ctx-len 8192 --cache-aware
      the decode step attends 8192 tokens; prints the KV-cache share of memory and traffic
  nexora --preset nvlink --tp 8 --ttft --prompt-tokens 2000 --output-tokens 200
  nexora --preset pcie4_bad --tp 4 --sweep --sweep-bw 12,25,50 --sweep-lat 5,45 > sweep.csv
  nexora --preset nvlink4 --sweep --vary tp=1,2,4,8 --vary batch=1,8,64 > plans.csv
  nexora optimize --model llama-3-70b --gpu h100-sxm --num-gpus 8 --max-tpot-ms 30
  nexora validate measurements.csv --csv errors.csv
  nexora --mode training --help        nexora --mode gemm --help
  nexora --serve 8866                  the dashboard notebook in Voila on 127.0.0.1:8866

flag meanings kept from the old tool:
  --preset     interconnect preset; also picks its typical GPU (pcie* rtx-4090, nvlink
               a100-sxm-80gb, nvlink4 h100-sxm, nvlink5 b200, infinity_fabric mi300x,
               ib_hdr a100-sxm-80gb / ib_ndr h100-sxm with every GPU in its own node);
               --gpu overrides the GPU. --interconnect sets the link without changing the GPU.
  --bits       precision of the activations sent between GPUs (4, 8, 16)
  --group      collectives coalesced into one launch (latency and call cost paid once)
  --ctx-len N  the decode step attends N tokens: prompt_tokens=N and output_tokens=1
               unless --prompt-tokens / --output-tokens are given (they win)
  --sweep      CSV on stdout; --sweep-bw (GB/s) and --sweep-lat (µs) override the link's
               bandwidth / per-hop latency, --sweep-ctx sweeps --ctx-len; lists combine as a
               grid; without any list it sweeps the presets' bandwidths
"""


class BadInput(Exception):
    """Bad command-line input: one line on stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        if message.startswith("unrecognized arguments:"):
            from .hardware import closest
            first = message.split(":", 1)[1].split()[0]
            if first.startswith("-"):
                opts = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
                near = closest(first.split("=", 1)[0], opts)
            else:
                near = closest(first, ["validate", "optimize"]) if self.prog == PROG else []
            if near:
                message += f" (closest: {', '.join(near)}; see {self.prog} --help)"
        raise BadInput(message)


# ---- value types (argparse names the flag in the message) -----------------------------------
def _typed(cast, ok, allowed):
    """An argparse type: ``cast`` the text, then check ``ok``; the message says what is allowed."""
    def convert(s):
        try:
            v = cast(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not allowed: must be {allowed}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"{s} is not allowed: must be {allowed}")
        return v
    return convert


_pos_int = _typed(int, lambda v: v >= 1, "a whole number >= 1")
_fraction = _typed(float, lambda v: 0.0 <= v <= 1.0, "a number in [0, 1]")
_port = _typed(int, lambda v: 1 <= v <= 65535, "a port number 1..65535")
_pos_ms = _typed(float, lambda v: 0 < v < float("inf"), "a number of milliseconds > 0")


def parse_list(flag, text, kind, minimum=None, allowed=None, strict_min=False):
    """Comma-separated list for ``flag``; BadInput naming the flag on empty or bad items."""
    items = [x.strip() for x in str(text).split(",")]
    if not text.strip() or any(x == "" for x in items):
        raise BadInput(f"{flag} {text!r}: the list is empty or has an empty item; give "
                       f"comma-separated values, e.g. {flag} 1,2,4")
    out = []
    for x in items:
        try:
            v = kind(x)
        except ValueError:
            what = "whole numbers" if kind is int else "numbers"
            raise BadInput(f"{flag}: {x!r} is not allowed: must be {what}") from None
        if kind is float and v != v or v in (float("inf"), float("-inf")):
            raise BadInput(f"{flag}: {x!r} is not allowed: must be a finite number")
        if allowed is not None and v not in allowed:
            raise BadInput(f"{flag}: {x} is not allowed: must be one of "
                           f"{', '.join(str(a) for a in allowed)}")
        if minimum is not None and (v < minimum or (strict_min and v <= minimum)):
            rel = ">" if strict_min else ">="
            raise BadInput(f"{flag}: {x} is not allowed: must be {rel} {minimum}")
        out.append(v)
    return out


# ---- parsers ------------------------------------------------------------------------------
def build_parser():
    p = _Parser(prog=PROG, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Where the time of an LLM token goes on several GPUs: time per "
                            "token, its breakdown, the bottleneck and what would help.",
                epilog=EXAMPLES)
    p.add_argument("--mode", choices=("inference", "training", "gemm"), default="inference",
                   help="inference (default), training or gemm (see nexora --mode X --help)")
    hw = p.add_argument_group("hardware")
    hw.add_argument("--preset", metavar="NAME", help="interconnect preset; also picks its typical GPU")
    hw.add_argument("--interconnect", metavar="NAME", help="interconnect preset, GPU unchanged")
    hw.add_argument("--gpu", metavar="NAME", help="GPU preset (overrides the preset's GPU)")
    hw.add_argument("--gpus-per-node", type=_pos_int, metavar="N", help="GPUs joined by the link per node (8)")
    hw.add_argument("--inter-node", metavar="NAME", help="link between nodes: auto, ib_hdr, ib_ndr")
    m = p.add_argument_group("model")
    m.add_argument("--model", metavar="NAME|PATH", default="llama-2-7b",
                   help="model preset or a Hugging Face config.json path (default llama-2-7b)")
    m.add_argument("--layers", type=_pos_int, metavar="N", help="override the layer count")
    m.add_argument("--moe-experts", type=_pos_int, metavar="N", help="override routed experts")
    m.add_argument("--active-experts", type=_pos_int, metavar="N", help="override experts per token")
    pl = p.add_argument_group("plan")
    pl.add_argument("--tp", type=_pos_int, default=1, metavar="N", help="tensor-parallel GPUs (1)")
    pl.add_argument("--pp", type=_pos_int, default=1, metavar="N", help="pipeline stages (1)")
    pl.add_argument("--ep", type=_pos_int, default=1, metavar="N", help="expert-parallel GPUs, MoE (1)")
    pl.add_argument("--micro-batches", type=_pos_int, default=1, metavar="N", help="pipeline micro-batches (1)")
    pl.add_argument("--batch-size", type=_pos_int, default=1, metavar="N", help="sequences decoded together (1)")
    pl.add_argument("--group", type=_pos_int, default=1, metavar="N",
                    help="collectives coalesced into one launch (1)")
    pl.add_argument("--bits", type=int, choices=(4, 8, 16), default=16,
                    help="communication precision in bits (16)")
    pl.add_argument("--weight-bits", type=int, choices=(4, 8, 16), default=16, help="weight precision (16)")
    pl.add_argument("--kv-bits", type=int, choices=(4, 8, 16), default=16, help="KV-cache precision (16)")
    pl.add_argument("--overlap", type=_fraction, default=0.0, metavar="F",
                    help="fraction of communication that may hide behind compute, 0..1 (0)")
    pl.add_argument("--algorithm", default="auto", metavar="NAME",
                    help="collective algorithm: auto, ring, tree, oneshot, twoshot, in_switch")
    pl.add_argument("--no-flash-attention", action="store_true", help="materialise attention scores")
    pl.add_argument("--runtime", default="compiled", metavar="NAME",
                    help="serving runtime: compiled (CUDA graphs / C++, default) or eager_server "
                         "(Python server without CUDA graphs, TGI < 2.0: host time per forward pass)")
    ctx = p.add_argument_group("request")
    ctx.add_argument("--ctx-len", type=_pos_int, metavar="N",
                     help="context the decode step attends (prompt N, 1 output token unless given)")
    ctx.add_argument("--prompt-tokens", type=_pos_int, metavar="N", help="prompt tokens per sequence (200)")
    ctx.add_argument("--output-tokens", type=_pos_int, metavar="N", help="output tokens per sequence (200)")
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="JSON instead of text")
    out.add_argument("--ascii", action="store_true", help="40-column bars of the breakdown and TP scaling")
    out.add_argument("--ttft", action="store_true", help="print the time to first token and its breakdown")
    out.add_argument("--cache-aware", action="store_true",
                     help="print the KV cache: memory per GPU and its share of each step's HBM traffic")
    out.add_argument("--compare", metavar="P1,P2,...", help="one row per interconnect preset")
    sw = p.add_argument_group("sweep (CSV on stdout)")
    sw.add_argument("--sweep", action="store_true", help="sweep and print CSV")
    sw.add_argument("--sweep-bw", metavar="GBPS,...", help="link bandwidths, GB/s one direction")
    sw.add_argument("--sweep-lat", metavar="US,...", help="link latencies per hop, µs")
    sw.add_argument("--sweep-ctx", metavar="N,...", help="context lengths (as --ctx-len)")
    sw.add_argument("--vary", action="append", metavar="FIELD=V1,V2", default=[],
                    help="sweep any Scenario field, e.g. --vary tp=1,2,4 (repeatable)")
    p.add_argument("--serve", type=_port, metavar="PORT",
                   help="serve the dashboard notebook with Voila on 127.0.0.1:PORT")
    return p


def build_optimize_parser():
    p = _Parser(prog=f"{PROG} optimize", allow_abbrev=False,
                formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Best parallel plan (tp x pp x ep x batch x bits x overlap) for a "
                            "model on N GPUs, and the latency/throughput Pareto front.",
                epilog="example:\n  nexora optimize --model llama-3-70b --gpu h100-sxm --num-gpus 8 "
                       "--max-tpot-ms 30 --objective throughput")
    p.add_argument("--model", default="llama-3-70b", metavar="NAME|PATH")
    p.add_argument("--gpu", metavar="NAME", help="GPU preset (default: the preset's GPU, else h100-sxm)")
    p.add_argument("--num-gpus", type=_pos_int, default=8, metavar="N")
    p.add_argument("--preset", metavar="NAME", help="interconnect preset; picks its typical GPU")
    p.add_argument("--interconnect", metavar="NAME", help="interconnect (default: the GPU's usual link)")
    p.add_argument("--objective", choices=("throughput", "latency"), default="throughput")
    p.add_argument("--max-tpot-ms", type=_pos_ms, metavar="MS", help="time-per-output-token limit")
    p.add_argument("--max-ttft-ms", type=_pos_ms, metavar="MS", help="time-to-first-token limit")
    p.add_argument("--prompt-tokens", type=_pos_int, metavar="N")
    p.add_argument("--output-tokens", type=_pos_int, metavar="N")
    p.add_argument("--batch", default="1,2,4,8,16,32,64,128,256", metavar="N,...", help="batches tried")
    p.add_argument("--weight-bits", default="16,8,4", metavar="B,...", help="weight precisions tried")
    p.add_argument("--kv-bits", default="16,8", metavar="B,...", help="KV-cache precisions tried")
    p.add_argument("--overlap", default="0,0.5", metavar="F,...", help="overlap fractions tried")
    p.add_argument("--bits", type=int, choices=(4, 8, 16), default=16, help="communication precision")
    p.add_argument("--runtime", default="compiled", metavar="NAME",
                   help="serving runtime of every plan: compiled (default) or eager_server")
    p.add_argument("--no-replicas", action="store_true",
                   help="only plans that use all GPUs in one replica")
    p.add_argument("--top", type=_pos_int, default=0, metavar="N", help="also print the N best plans")
    p.add_argument("--json", action="store_true")
    p.add_argument("--csv", metavar="OUT", help="write every feasible plan to OUT")
    return p


# ---- helpers ------------------------------------------------------------------------------
def _flag_error(e: Exception, override: dict | None = None) -> str:
    """Prefix an engine ValueError ("tp=3 does not ...") with the flag that set the field."""
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    field = msg.split("=", 1)[0].strip() if "=" in msg.split(" ", 1)[0] else None
    flags = dict(FIELD_FLAG, **(override or {}))
    if field in flags:
        return f"{flags[field]}: {msg}"
    return msg


def resolve_model(value: str) -> str:
    """A preset name, or a config.json path (registered with the engine) -> model name."""
    looks_path = value.endswith(".json") or os.sep in value or os.path.isdir(value)
    if not looks_path:
        return value
    if not os.path.exists(value):
        raise BadInput(f"--model {value!r}: no such file (give a model preset name or the path "
                       f"of a Hugging Face config.json)")
    try:
        from .hf_config import model_from_hf_config
    except ImportError:
        raise BadInput("--model: reading a config.json needs kernel_model/hf_config.py, which "
                       "is missing from this installation") from None
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            spec = model_from_hf_config(value)
        except ValueError as e:
            raise BadInput(f"--model {value!r}: {str(e).splitlines()[0]}") from None
    for w in caught:
        print(f"{PROG}: note: {str(w.message).splitlines()[0]}", file=sys.stderr)
    return spec.name


def resolve_hardware(preset, interconnect, gpu, flag="--preset"):
    """(interconnect, gpu, flag naming the link) following the old tool's --preset rules."""
    from .hardware import get_interconnect, get_gpu, TYPICAL_GPU
    if preset and interconnect:
        raise BadInput(f"--preset {preset!r} and --interconnect {interconnect!r} both given; "
                       f"use one (--preset also picks a typical GPU, --interconnect does not)")
    if gpu is not None:
        try:
            gpu = get_gpu(gpu).name
        except ValueError as e:
            raise BadInput(f"--gpu: {e}") from None
    if preset:
        try:
            link = get_interconnect(preset).name
        except ValueError as e:
            raise BadInput(f"{flag}: {str(e).replace('interconnect=', 'preset=', 1)}") from None
        return link, gpu or TYPICAL_GPU[link], flag
    if interconnect:
        if interconnect != "none":
            try:
                interconnect = get_interconnect(interconnect).name
            except ValueError as e:
                raise BadInput(f"--interconnect: {e}") from None
        return interconnect, gpu, "--interconnect"
    if gpu is not None:
        return get_gpu(gpu).native_link, gpu, "--gpu"
    return None, None, "--interconnect"


def scenario_kwargs(a) -> tuple[dict, dict]:
    """Scenario keyword arguments from parsed flags, and field -> flag overrides."""
    link, gpu, link_flag = resolve_hardware(a.preset, a.interconnect, a.gpu)
    kw = {"model": resolve_model(a.model), "tp": a.tp, "pp": a.pp, "ep": a.ep,
          "batch": a.batch_size, "micro_batches": a.micro_batches, "comm_group": a.group,
          "comm_bits": a.bits, "weight_bits": a.weight_bits, "kv_bits": a.kv_bits,
          "overlap": a.overlap, "algorithm": a.algorithm, "runtime": a.runtime,
          "flash_attention": not a.no_flash_attention}
    flags = {"interconnect": link_flag}
    if link is not None:
        kw["interconnect"] = link
    if gpu is not None:
        kw["gpu"] = gpu
    for f in ("layers", "moe_experts", "active_experts", "gpus_per_node", "inter_node"):
        v = getattr(a, f)
        if v is not None:
            kw[f] = v
    if a.ctx_len is not None:
        kw["prompt_tokens"] = a.ctx_len
        kw["output_tokens"] = 1
        flags["prompt_tokens"] = "--ctx-len"
    if a.prompt_tokens is not None:
        kw["prompt_tokens"] = a.prompt_tokens
        flags["prompt_tokens"] = "--prompt-tokens"
    if a.output_tokens is not None:
        kw["output_tokens"] = a.output_tokens
    return kw, flags


def make_scenario(kw, flags):
    from .scenario import Scenario
    try:
        return Scenario(**kw)
    except ValueError as e:
        raise BadInput(_flag_error(e, flags)) from None


def valid_tps(spec, upto):
    """TP degrees (powers of two and the heads' divisors up to ``upto``) this model shards."""
    nh = spec.heads
    nkv = spec.kv_heads if not spec.kv_lora_rank else 1
    return [t for t in range(1, upto + 1)
            if nh % t == 0 and (nkv % t == 0 or t % nkv == 0) and (t & (t - 1) == 0 or t == upto)]


def bar(value, vmax, width=BAR):
    n = 0 if vmax <= 0 else int(round(width * value / vmax))
    return "#" * n + " " * (width - n)


def _ms(s):
    return f"{s * 1e3:.3f} ms"


# ---- text output --------------------------------------------------------------------------
def tp_scaling(sc, upto=None):
    """[(tp, Result)] for the TP degrees this model allows up to max(8, sc.tp), same hardware."""
    from .simulate import simulate
    spec = sc.model_spec()
    upto = upto or max(8, sc.tp)
    out = []
    for t in sorted(set(valid_tps(spec, upto)) | {1, sc.tp}):
        try:
            s2 = sc.replace(tp=t)
        except ValueError:
            continue
        out.append((t, simulate(s2)))
    return out


def describe(res, a, scaling) -> str:
    from .hardware import get_interconnect
    sc = res.scenario
    spec, gpu, link = sc.model_spec(), sc.gpu_spec(), sc.link_spec()
    L = []
    L.append("Configuration")
    L.append(f"  model       {spec.name}: {spec.layers} layers, hidden {spec.hidden}, "
             f"{spec.heads} heads / {spec.kv_heads} KV heads, {spec.total_params / 1e9:.1f} B parameters"
             + (f", {spec.experts} experts (top-{spec.top_k})" if spec.is_moe else ""))
    L.append(f"  hardware    {res.num_gpus} x {gpu.name} ({gpu.bf16_tflops:g} TFLOPS bf16, "
             f"{gpu.hbm_gbps:g} GB/s HBM, {gpu.memory_gb:g} GB) over {link.name} "
             f"({link.bw_gbps:g} GB/s, {link.latency_s * 1e6:g} µs per hop)")
    if sc.num_gpus > sc.gpus_per_node and link.kind != "network":
        x = sc.inter_node_spec()
        L.append(f"              nodes of {sc.gpus_per_node} joined by {x.name} ({x.bw_gbps:g} GB/s)")
    L.append(f"  plan        tp={sc.tp} pp={sc.pp} ep={sc.ep}, batch {sc.batch}, "
             f"micro-batches {sc.micro_batches}, algorithm {sc.algorithm}, comm group {sc.comm_group}, "
             f"overlap {sc.overlap:.0%}, {sc.runtime} runtime")
    L.append(f"  precision   weights {sc.weight_bits}-bit, KV cache {sc.kv_bits}-bit, "
             f"communication {sc.comm_bits}-bit")
    L.append(f"  request     {sc.prompt_tokens} prompt + {sc.output_tokens} output tokens "
             f"(a decode step attends {sc.prompt_tokens + sc.output_tokens / 2:g} tokens on average)")
    L.append("")
    L.append(f"Time per token   {_ms(res.tpot_s)}   {res.output_tokens_per_s:,.1f} tokens/s "
             f"({res.output_tokens_per_s / res.num_gpus:,.1f} per GPU)")
    L.append("")
    L += _breakdown_lines("Decode step breakdown", res.breakdown, res.tpot_s, a.ascii)
    L.append("")
    L.append(f"Bottleneck  {res.bottleneck}: {res.insight}")
    mem = res.memory
    L.append(f"Memory per GPU  {mem['total'] / 1e9:.2f} of {mem['capacity'] / 1e9:.0f} GB "
             f"(weights {mem['weights'] / 1e9:.2f}, KV cache {mem['kv_cache'] / 1e9:.2f}, "
             f"activations {mem['activations'] / 1e9:.2f})" + ("" if res.fits else "  DOES NOT FIT"))
    if a.ttft:
        L.append("")
        L.append(f"Time to first token   {_ms(res.ttft_s)}   (prefill of {sc.prompt_tokens} tokens "
                 f"x batch {sc.batch}); whole request {res.e2e_s:.3f} s")
        L += _breakdown_lines("Prefill breakdown", res.ttft_breakdown, res.ttft_s, a.ascii)
    if a.cache_aware:
        L.append("")
        L += cache_lines(res)
    L.append("")
    L += tp_lines(res, scaling, a.ascii)
    for w in res.warnings:
        L.append(f"warning: {w}")
    return "\n".join(L)


def _breakdown_lines(title, bd, total, ascii_bars):
    L = [f"{title} ({_ms(total)})"]
    vmax = max(bd.values()) if bd else 0.0
    for k, v in bd.items():
        share = v / total if total > 0 else 0.0
        if ascii_bars:
            L.append(f"  {k:<16}|{bar(v, vmax)}| {v * 1e3:9.3f} ms {share:6.1%}")
        else:
            L.append(f"  {k:<16}{v * 1e3:10.3f} ms {share:7.1%}")
    return L


def cache_lines(res):
    """KV-cache memory and traffic; the engine always models the KV cache."""
    mem, sb = res.memory, res.step_bytes
    kv_read, w_read = sb.get("kv_read", 0.0), sb.get("weights_read", 0.0)
    traffic = kv_read + w_read
    share = kv_read / traffic if traffic > 0 else 0.0
    hbm_t = res.breakdown.get("hbm", 0.0)
    return [
        "KV cache (cache-aware)",
        f"  memory      {mem['kv_cache'] / 1e9:.3f} GB per GPU "
        f"({mem['kv_cache'] / mem['total']:.1%} of the {mem['total'] / 1e9:.2f} GB used)",
        f"  per step    reads {kv_read / 1e9:.3f} GB of KV and {w_read / 1e9:.3f} GB of weights per GPU: "
        f"KV is {share:.1%} of that traffic (about {share * hbm_t * 1e3:.3f} ms of the "
        f"{hbm_t * 1e3:.3f} ms memory-bound time)",
    ]


def tp_lines(res, scaling, ascii_bars):
    sc = res.scenario
    where = f"{sc.gpu} over {sc.interconnect}"
    base = dict(scaling).get(1)
    L = [f"TP comparison on the same hardware ({where}, pp={sc.pp}, batch {sc.batch})"]
    if base is not None and sc.tp != 1:
        sp = base.tpot_s / res.tpot_s
        eff = sp / sc.tp
        verdict = "faster" if sp > 1 else "slower"
        L.append(f"  TP={sc.tp} vs TP=1: {_ms(res.tpot_s)} vs {_ms(base.tpot_s)} per token: "
                 f"{max(sp, 1 / sp):.2f}x {verdict} (ideal {sc.tp}x, parallel efficiency {eff:.0%}); "
                 f"communication {res.breakdown['communication'] / res.tpot_s:.0%} of the step"
                 + ("" if base.fits else "; TP=1 does not fit in memory"))
    elif sc.tp == 1:
        L.append("  this plan is TP=1 (the baseline); the rows below show other TP degrees")
    vmax = max(r.tpot_s for _, r in scaling)
    for t, r in scaling:
        mark = "  <- this plan" if t == sc.tp else ""
        fit = "" if r.fits else "  (does not fit)"
        sp = base.tpot_s / r.tpot_s if base is not None else float("nan")
        if ascii_bars:
            L.append(f"  TP={t:<3}|{bar(r.tpot_s, vmax)}| {r.tpot_s * 1e3:9.3f} ms  x{sp:.2f}{fit}{mark}")
        else:
            L.append(f"  TP={t:<3} {r.tpot_s * 1e3:10.3f} ms/token  {r.output_tokens_per_s:10,.1f} tokens/s  "
                     f"x{sp:.2f} vs TP=1{fit}{mark}")
    return L


# ---- compare ------------------------------------------------------------------------------
def compare_rows(names, a, kw, flags):
    """One dict per preset: link numbers, time/token, vs TP=1 on that hardware."""
    from .simulate import simulate
    rows = []
    for name in names:
        link, gpu, _ = resolve_hardware(name, None, a.gpu, flag="--compare")
        k2 = dict(kw, interconnect=link, gpu=gpu)
        sc = make_scenario(k2, dict(flags, interconnect="--compare"))
        res = simulate(sc)
        try:
            base = simulate(sc.replace(tp=1))
        except ValueError:
            base = None
        spec = sc.link_spec()
        rows.append({"preset": link, "gpu": gpu, "bw_gbps": spec.bw_gbps,
                     "latency_us": spec.latency_s * 1e6, "tp": sc.tp, "tpot_s": res.tpot_s,
                     "tokens_per_s": res.output_tokens_per_s,
                     "tpot_tp1_s": None if base is None else base.tpot_s,
                     "overhead_vs_tp1": None if base is None else res.tpot_s / base.tpot_s - 1.0,
                     "communication_s": res.breakdown["communication"],
                     "bottleneck": res.bottleneck, "fits": res.fits})
    slowest = max(r["tpot_s"] for r in rows)
    for r in rows:
        r["speedup_vs_slowest"] = slowest / r["tpot_s"]
    return rows


def format_compare(rows, ascii_bars=False) -> str:
    hdr = (f"{'preset':<16}{'gpu':<15}{'GB/s':>7}{'lat µs':>8}{'ms/token':>11}{'TP=1 ms':>10}"
           f"{'vs TP=1':>9}{'speed-up':>10}  bottleneck")
    L = [f"TP={rows[0]['tp']}, each preset against TP=1 on its own hardware; speed-up vs the slowest",
         hdr]
    for r in rows:
        t1 = "-" if r["tpot_tp1_s"] is None else f"{r['tpot_tp1_s'] * 1e3:.3f}"
        ov = "-" if r["overhead_vs_tp1"] is None else f"{r['overhead_vs_tp1']:+.0%}"
        L.append(f"{r['preset']:<16}{r['gpu']:<15}{r['bw_gbps']:>7g}{r['latency_us']:>8g}"
                 f"{r['tpot_s'] * 1e3:>11.3f}{t1:>10}{ov:>9}{r['speedup_vs_slowest']:>9.2f}x  "
                 f"{r['bottleneck']}" + ("" if r["fits"] else " (does not fit)"))
    if ascii_bars:
        L.append("")
        vmax = max(r["tpot_s"] for r in rows)
        for r in rows:
            L.append(f"  {r['preset']:<16}|{bar(r['tpot_s'], vmax)}| {r['tpot_s'] * 1e3:.3f} ms")
    L.append("vs TP=1: time per token relative to TP=1 on the same GPU and link "
             "(+ slower, - faster)")
    return "\n".join(L)


# ---- sweep --------------------------------------------------------------------------------
def _vary_value(field, text):
    from .sweep import INT_FIELDS, BIT_FIELDS, LINK_AXES
    flag = f"--vary {field}"
    if field in INT_FIELDS or field in ("layers", "moe_experts", "active_experts"):
        return parse_list(flag, text, int, minimum=1)
    if field in BIT_FIELDS:
        return parse_list(flag, text, int, allowed=(4, 8, 16))
    if field == "overlap":
        vals = parse_list(flag, text, float, minimum=0.0)
        for v in vals:
            if v > 1:
                raise BadInput(f"{flag}: {v:g} is not allowed: must be in [0, 1]")
        return vals
    if field in LINK_AXES:
        return parse_list(flag, text, float, minimum=0.0, strict_min=field == "link_bw_gbps")
    if field == "flash_attention":
        out = []
        for x in parse_list(flag, text, str):
            if x.lower() not in ("true", "false", "1", "0"):
                raise BadInput(f"{flag}: {x!r} is not allowed: must be true or false")
            out.append(x.lower() in ("true", "1"))
        return out
    if field == "efficiency":
        raise BadInput("--vary efficiency is not supported on the command line; use kernel_model.sweep")
    return parse_list(flag, text, str)


def sweep_grid(a, kw):
    """The grid for --sweep: the scenario's fields as single values plus the swept axes."""
    from .sweep import sweep_keys
    from .hardware import closest
    grid = {k: [v] for k, v in kw.items()}
    any_axis = False
    if a.sweep_bw is not None:
        grid["link_bw_gbps"] = parse_list("--sweep-bw", a.sweep_bw, float, minimum=0.0, strict_min=True)
        any_axis = True
    if a.sweep_lat is not None:
        grid["link_latency_us"] = parse_list("--sweep-lat", a.sweep_lat, float, minimum=0.0)
        any_axis = True
    if a.sweep_ctx is not None:
        grid["prompt_tokens"] = parse_list("--sweep-ctx", a.sweep_ctx, int, minimum=1)
        if a.output_tokens is None:
            grid["output_tokens"] = [1]
        any_axis = True
    keys = sweep_keys()
    for item in a.vary:
        if "=" not in item:
            raise BadInput(f"--vary {item!r}: expected FIELD=V1,V2,... e.g. --vary tp=1,2,4")
        field, text = item.split("=", 1)
        field = field.strip().replace("-", "_")
        alias = {"batch_size": "batch", "bits": "comm_bits", "group": "comm_group",
                 "ctx_len": "prompt_tokens"}
        field = alias.get(field, field)
        if field not in keys:
            near = closest(field, keys)
            raise BadInput(f"--vary: field {field!r} is unknown"
                           + (f"; closest: {', '.join(near)}" if near else "")
                           + f" (valid: {', '.join(keys)})")
        grid[field] = _vary_value(field, text)
        any_axis = True
    if not any_axis:
        grid["link_bw_gbps"] = list(DEFAULT_SWEEP_BW)
    return grid


def run_sweep(a, kw, flags) -> int:
    from .sweep import sweep
    grid = sweep_grid(a, kw)
    try:
        df = sweep(grid, invalid="mark", progress=None)
    except ValueError as e:
        raise BadInput(_flag_error(e, flags)) from None
    if a.json:
        sys.stdout.write(df.to_json(orient="records") + "\n")
    else:
        df.to_csv(sys.stdout, index=False)
    n_bad = df.attrs.get("invalid", 0)
    if n_bad:
        print(f"{PROG}: note: {n_bad} of {len(df)} combinations are invalid "
              f"(valid=False, reason in the error column)", file=sys.stderr)
    return 0


# ---- serve --------------------------------------------------------------------------------
def dashboard_path():
    """notebooks/00_dashboard.ipynb of the source tree (next to the package), else a copy
    shipped inside the package (kernel_model/notebooks/, for wheels)."""
    import kernel_model
    pkg = os.path.dirname(os.path.abspath(kernel_model.__file__))
    tree = os.path.join(os.path.dirname(pkg), "notebooks", "00_dashboard.ipynb")
    shipped = os.path.join(pkg, "notebooks", "00_dashboard.ipynb")
    return tree if os.path.exists(tree) or not os.path.exists(shipped) else shipped


def serve_command(port: int, notebook: str | None = None) -> list[str]:
    """The Voila command line: the dashboard on 127.0.0.1:PORT, no browser."""
    nb = notebook or dashboard_path()
    return [sys.executable, "-m", "voila", "--no-browser", f"--port={port}",
            "--Voila.ip=127.0.0.1", nb]


def run_serve(port: int) -> int:
    import subprocess
    nb = dashboard_path()
    if not os.path.exists(nb):
        raise BadInput(f"--serve: the dashboard notebook {nb} is missing (install from the "
                       f"source tree, which has notebooks/)")
    import importlib.util
    if importlib.util.find_spec("voila") is None:
        raise BadInput("--serve needs Voila: pip install 'nexora-widgets[notebooks]'")
    print(f"{PROG}: serving {nb} on http://127.0.0.1:{port}/ (Ctrl-C stops)", file=sys.stderr)
    try:
        return subprocess.call(serve_command(port, nb))
    except KeyboardInterrupt:
        return 0


# ---- delegation ---------------------------------------------------------------------------
def delegate(module: str, argv: list[str]) -> int:
    import importlib
    try:
        mod = importlib.import_module(f"kernel_model.{module}")
    except ModuleNotFoundError as e:
        if e.name == f"kernel_model.{module}":
            raise BadInput(f"'{module}' is not available: kernel_model/{module}.py is missing "
                           f"from this installation") from None
        raise
    fn = getattr(mod, "cli_main", None)
    if fn is None:
        raise BadInput(f"'{module}' is not available: kernel_model.{module}.cli_main is missing")
    return int(fn(argv) or 0)


def _peek_mode(argv):
    for i, x in enumerate(argv):
        if x == "--mode" and i + 1 < len(argv):
            return argv[i + 1]
        if x.startswith("--mode="):
            return x.split("=", 1)[1]
    return None


# ---- subcommands --------------------------------------------------------------------------
def run_inference(argv) -> int:
    a = build_parser().parse_args(argv)
    if a.serve is not None:
        return run_serve(a.serve)
    kw, flags = scenario_kwargs(a)
    if a.sweep or a.sweep_bw or a.sweep_lat or a.sweep_ctx or a.vary:
        if a.compare:
            raise BadInput("--compare and --sweep cannot be combined; use --vary interconnect=P1,P2")
        return run_sweep(a, kw, flags)
    if a.compare is not None:
        names = parse_list("--compare", a.compare, str)
        rows = compare_rows(names, a, kw, flags)
        if a.json:
            print(json.dumps(rows))
        else:
            print(format_compare(rows, a.ascii))
        return 0
    sc = make_scenario(kw, flags)
    from .simulate import simulate
    res = simulate(sc)
    if a.json:
        print(json.dumps(res.to_dict()))
        return 0
    print(describe(res, a, tp_scaling(sc)))
    return 0


def run_optimize(argv) -> int:
    a = build_optimize_parser().parse_args(argv)
    link, gpu, _ = resolve_hardware(a.preset, a.interconnect, a.gpu)
    gpu = gpu or "h100-sxm"
    model = resolve_model(a.model)
    from .optimize import optimize
    kwargs = dict(
        batch=parse_list("--batch", a.batch, int, minimum=1),
        weight_bits=parse_list("--weight-bits", a.weight_bits, int, allowed=(4, 8, 16)),
        kv_bits=parse_list("--kv-bits", a.kv_bits, int, allowed=(4, 8, 16)),
        overlap=parse_list("--overlap", a.overlap, float, minimum=0.0),
        prompt_tokens=a.prompt_tokens, output_tokens=a.output_tokens, comm_bits=a.bits,
        replicas=not a.no_replicas, runtime=a.runtime)
    if any(v > 1 for v in kwargs["overlap"]):
        raise BadInput(f"--overlap {a.overlap!r}: values must be in [0, 1]")
    try:
        res = optimize(model, gpu, a.num_gpus, interconnect=link,
                       max_tpot_s=None if a.max_tpot_ms is None else a.max_tpot_ms / 1e3,
                       max_ttft_s=None if a.max_ttft_ms is None else a.max_ttft_ms / 1e3,
                       objective=a.objective, **kwargs)
    except ValueError as e:
        raise BadInput(_flag_error(e, {"num_gpus": "--num-gpus", "max_tpot_s": "--max-tpot-ms",
                                       "max_ttft_s": "--max-ttft-ms", "runtime": "--runtime"})) from None
    if a.csv and res.candidates is not None:
        res.candidates.to_csv(a.csv, index=False)
    if a.json:
        print(json.dumps(res.to_dict(), default=str))
    else:
        print(res.summary())
        if a.top and res.candidates is not None and len(res.candidates):
            from .optimize import format_table
            print(f"Top {a.top} plans by {res.objective}:")
            print(format_table(res.candidates.head(a.top)))
    return 0 if res.best is not None else 1


def main(argv=None) -> int:
    """Entry point of ``nexora``; returns the exit code (0 ok, 1 no plan, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "validate":
            return delegate("validate", argv[1:])
        if argv and argv[0] == "optimize":
            return run_optimize(argv[1:])
        mode = _peek_mode(argv)
        if mode in ("training", "gemm"):
            return delegate(mode, argv)
        return run_inference(argv)
    except BadInput as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"{PROG}: error: {_flag_error(e)}", file=sys.stderr)
        return 2
    except SystemExit as e:          # --help
        return e.code if isinstance(e.code, int) else 0
    except BrokenPipeError:          # e.g. `nexora --sweep ... | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


if __name__ == "__main__":      # pragma: no cover
    raise SystemExit(main())
