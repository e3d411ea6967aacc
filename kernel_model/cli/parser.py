"""``nexora`` (inference mode) flags, grouped under the old tool's ``--help`` headings."""
from __future__ import annotations

import argparse

from ..formats import WEIGHT_FORMATS
from ..runtime import list_runtimes
from .common import (Parser, PROG, int_in, float_in, fraction, port, MAX_GPUS, MAX_BATCH,
                     MAX_TOKENS, MAX_LAYERS, MAX_EXPERTS, MAX_GROUP, MAX_GBPS, MAX_NS)

def _preset_bandwidths():
    from ..hardware import INTERCONNECTS
    return tuple(sorted({i.bw_gbps for i in INTERCONNECTS.values() if i.kind != "network"}))


def _preset_names():
    from ..hardware import INTERCONNECTS
    return tuple(INTERCONNECTS)


DEFAULT_SWEEP_BW = _preset_bandwidths()      # GB/s: the bus bandwidths of the in-node presets
BENCH_ITERS = 1_000_000
BENCH_SECONDS = 2.0

EXAMPLES = """\
examples:
  nexora --preset pcie4_bad --tp 4 --model llama-2-13b
      llama-2-13b on 4 x rtx-4090 (the preset's typical GPU) over PCIe 4 through the CPU
  nexora --preset pcie4_bad --gpu rtx-3090 --tp 2 --ascii
  nexora --model llama-2-70b --gpu h100-sxm --interconnect nvlink4 --tp 8 --json
  nexora --compare pcie4_bad,pcie5_good,nvlink,nvlink4 --tp 4 --model llama-2-13b
  nexora --preset nvlink --tp 8 --ctx-len 8192 --cache-aware
  nexora --preset nvlink --tp 8 --ttft --prompt-tokens 2000 --output-tokens 200
  nexora --preset pcie4_bad --tp 4 --sweep --sweep-bw 12,25,50 --sweep-lat 5000,45000 > sweep.csv
  nexora --preset nvlink4 --sweep --vary tp=1,2,4,8 --vary batch=1,8,64 > plans.csv
  nexora --preset pcie4_bad --tp 4 --bench          nexora --preset nvlink4 --tp 8 --verbose
  nexora optimize --model llama-3-70b --gpu h100-sxm --num-gpus 8 --max-tpot-ms 30
  nexora validate                                   (the shipped measurements file)
  nexora --mode training --help        nexora --mode gemm --help
  nexora --serve 8866                  the dashboard notebook in Voila on 127.0.0.1:8866

old flags of the closed form, on the physical engine:
  honoured as overrides: --bw-gbps/--latency-ns (a custom link), --memory-bw-gbps (HBM),
    --ar-bytes/--msg-bytes (payload per token), --kv-bytes-base (KV bytes per token per
    layer), --no-kv-shard, --compute-ns (math time per layer); the engine computes the rest.
  accepted with a one-line note (the physics derives them): --comm-ops (other than 2),
    --ag-bytes (other than 0), --prefill-factor, --kv-write-ns, --kv-read-ns.
  defaults that differ from the old tool: --tp 1 (old 4), --prompt-tokens/--output-tokens
    200/200 (old 512/128), --model llama-2-7b; give them to reproduce an old run's plan.
  --micro-batches above --batch-size is capped at the batch, with a note.

risk (--max-risk): the old optimiser's guardrail, kept: a suggestion's risk is
    0.4 x overlap + 0.05 x (group - 1) + {16-bit: 0, 8-bit: 0.10, 4-bit: 0.25} communication,
    capped at 1: hiding communication needs kernels that really overlap, coalescing delays
    every collective, and fewer bits round the activations sent between GPUs.
"""


def _subcommand_lines():
    from .commands import SUBCOMMANDS
    return "\n".join(f"  nexora {n:<10} {summary}" for n, (_, summary) in SUBCOMMANDS.items())


def build_parser():
    from .commands import SUBCOMMANDS
    p = Parser(prog=PROG, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
               description="Where the time of an LLM token goes on several GPUs: time per "
                           "token, its breakdown, the bottleneck and what would help.\n\n"
                           "subcommands (nexora NAME --help):\n" + _subcommand_lines(),
               epilog=EXAMPLES)
    p.subcommands = tuple(SUBCOMMANDS)
    p.add_argument("--mode", choices=("inference", "training", "gemm"), default="inference",
                   help="inference (default), training or gemm (see nexora --mode X --help)")
    _hardware(p.add_argument_group("Hardware / Topology"))
    _model(p.add_argument_group("Model Structure"))
    _runtime(p.add_argument_group("Runtime / Scheduling"))
    g = p.add_argument_group("Optimization Guardrails",
                             "the old optimiser: searches --group, --bits and --overlap for the "
                             "fastest decode step whose risk stays within --max-risk")
    g.add_argument("--max-risk", type=fraction, default=0.3, metavar="R",
                   help="risk budget 0..1 (0.3); risk = 0.4 x overlap + 0.05 x (group - 1) + "
                        "0.10 for 8-bit / 0.25 for 4-bit communication, capped at 1")
    g.add_argument("--max-group", type=int_in(1, MAX_GROUP), default=8, metavar="N",
                   help="largest --group the optimiser tries (8)")
    g.add_argument("--no-opt", action="store_true", help="skip the optimiser: one simulation only")
    _prefill(p.add_argument_group("TTFT / Prefill"))
    _modes(p.add_argument_group("Modes"))
    _output(p.add_argument_group("Output"))
    return p


def _hardware(hw):
    hw.add_argument("--tp", type=int_in(1, MAX_GPUS), default=1, metavar="N",
                    help="tensor-parallel GPUs per stage (1; the old tool's default was 4)")
    hw.add_argument("--pp", type=int_in(1, MAX_GPUS), default=1, metavar="N", help="pipeline stages (1)")
    hw.add_argument("--ep", type=int_in(1, MAX_GPUS), default=1, metavar="N",
                    help="expert-parallel GPUs, MoE (1)")
    hw.add_argument("--micro-batches", type=int_in(1, MAX_BATCH), default=1, metavar="N",
                    help="pipeline micro-batches (1); above --batch-size it is capped at the batch")
    hw.add_argument("--preset", metavar="NAME",
                    help="interconnect preset (" + ", ".join(_preset_names()) + "): sets the "
                         "link's bandwidth and latency and picks its typical GPU")
    hw.add_argument("--interconnect", metavar="NAME", help="interconnect preset, GPU unchanged")
    hw.add_argument("--gpu", metavar="NAME", help="GPU preset (overrides the preset's GPU)")
    hw.add_argument("--gpus-per-node", type=int_in(1, MAX_GPUS), metavar="N",
                    help="GPUs joined by the link per node (8)")
    hw.add_argument("--inter-node", metavar="NAME", help="link between nodes: auto, ib_hdr, ib_ndr")
    hw.add_argument("--algorithm", "--algo", dest="algorithm", default="auto", metavar="NAME",
                    help="collective algorithm: auto (default), ring, tree, oneshot, twoshot, "
                         "in_switch (--algo is the old name)")
    hw.add_argument("--bw-gbps", type=float_in(0, MAX_GBPS, " GB/s", lo_open=True), metavar="GBPS",
                    help="link bandwidth, GB/s one direction per GPU: replaces the bandwidth of "
                         "the link in use (ignored with --preset, as before)")
    hw.add_argument("--latency-ns", type=float_in(0, MAX_NS, " ns"), metavar="NS",
                    help="link latency per hop (per collective step), ns (ignored with --preset)")
    hw.add_argument("--memory-bw-gbps", type=float_in(0, MAX_GBPS, " GB/s", lo_open=True),
                    metavar="GBPS", help="the GPU's HBM bandwidth, GB/s (default: the GPU's; "
                                         "ignored with --preset, which sets it)")


def _model(m):
    m.add_argument("--model", metavar="NAME|PATH", default="llama-2-7b",
                   help="model preset (llama-7b/13b/70b, mixtral-8x7b/8x22b, llama-3-70b, ...) "
                        "or a Hugging Face config.json path (default llama-2-7b)")
    m.add_argument("--layers", type=int_in(1, MAX_LAYERS), metavar="N",
                   help="override the layer count (default: the model's)")
    m.add_argument("--comm-ops", type=int_in(0, 1000), metavar="N",
                   help="collectives per layer (old knob): the engine derives them from the plan "
                        "(2 all-reduces with tp > 1, + 2 all-to-alls with ep > 1); other values: a note")
    m.add_argument("--ar-bytes", "--msg-bytes", dest="ar_bytes", type=float_in(0, 1e12, " bytes", lo_open=True),
                   metavar="BYTES", help="all-reduce payload per token at 16 bits (default: hidden "
                                         "size x 2); scales with the tokens in a pass and --bits; "
                                         "--msg-bytes is the old name")
    m.add_argument("--ag-bytes", type=float_in(0, 1e12, " bytes"), metavar="BYTES",
                   help="all-gather payload per layer (0: all-reduce only, the engine's plan); "
                        "other values: a note")
    m.add_argument("--ctx-len", type=int_in(1, MAX_TOKENS), metavar="N",
                   help="context the decode step attends: prompt N and 1 output token unless "
                        "--prompt-tokens / --output-tokens are given (they win)")
    m.add_argument("--kv-bytes-base", type=float_in(0, 1e12, " bytes", lo_open=True), metavar="BYTES",
                   help="KV-cache bytes per context token per layer, all heads (default: from the "
                        "model and --kv-bits); sharded over tp unless --no-kv-shard")
    m.add_argument("--no-kv-shard", action="store_true",
                   help="every TP rank holds and reads the whole KV cache (as MQA / MLA models do)")
    m.add_argument("--compute-ns", type=float_in(0, MAX_NS, " ns", lo_open=True), metavar="NS",
                   help="math time of one layer of a decode step on one GPU, ns: sets the FLOP "
                        "efficiency so the layer's FLOPs take NS (capped at the GPU's peak); "
                        "memory, launches and communication are added by the engine")
    m.add_argument("--batch-size", type=int_in(1, MAX_BATCH), default=1, metavar="N",
                   help="sequences decoded together (1)")
    m.add_argument("--moe-experts", type=int_in(0, MAX_EXPERTS), metavar="N",
                   help="routed experts (default: the model's; 0 keeps the model's structure)")
    m.add_argument("--active-experts", type=int_in(1, MAX_EXPERTS), metavar="N",
                   help="experts per token (default: the model's, 2 for --moe-experts on a dense model)")
    m.add_argument("--weight-bits", type=int, choices=(4, 8, 16),
                   help="weight precision (16, or the format a --model config.json's "
                        "quantization_config names); 4 and 8 take the closest format "
                        "(see --weight-format)")
    m.add_argument("--weight-format", "--format", dest="weight_format", default="auto", metavar="NAME",
                   help="weight / activation format: " + ", ".join(WEIGHT_FORMATS)
                        + " (auto: the closest to --weight-bits; a format sets the bits)")
    m.add_argument("--kv-bits", type=int, choices=(4, 8, 16), default=16, help="KV-cache precision (16)")


def _runtime(r):
    r.add_argument("--group", type=int_in(1, MAX_GROUP), default=1, metavar="N",
                   help="collectives coalesced into one launch: latency and call cost paid once (1)")
    r.add_argument("--bits", type=int, choices=(4, 8, 16), default=16,
                   help="communication precision in bits (16)")
    r.add_argument("--overlap", type=fraction, default=0.0, metavar="F",
                   help="share of communication that may hide behind concurrent math, 0..1 (0)")
    r.add_argument("--ttft", action="store_true", help="print the time to first token and its breakdown")
    r.add_argument("--cache-aware", action="store_true",
                   help="print the KV cache: memory per GPU and its share of each step's HBM traffic")
    r.add_argument("--runtime", default="compiled", metavar="NAME",
                   help="serving runtime profile: " + ", ".join(list_runtimes())
                        + " (compiled: CUDA graphs / C++, the default; tgi-eager / eager_server: "
                          "a Python server without CUDA graphs, TGI < 2.0; llamacpp: CUDA graphs per "
                          "GPU, none at --tp > 1 or --batch-size > 1; llamacpp-2024: the same in 2024)")
    r.add_argument("--no-flash-attention", action="store_true", help="materialise attention scores")


def _prefill(t):
    t.add_argument("--prompt-tokens", "--prompt-len", dest="prompt_tokens", type=int_in(1, MAX_TOKENS),
                   metavar="N", help="prompt tokens per sequence (200; --prompt-len is the old name)")
    t.add_argument("--output-tokens", type=int_in(1, MAX_TOKENS), metavar="N",
                   help="output tokens per sequence (200)")
    t.add_argument("--prefill-factor", type=float_in(0, 1e6, lo_open=True), metavar="F",
                   help="old prefill scaling: the engine computes prefill from its FLOPs and "
                        "bytes instead (a note)")
    t.add_argument("--kv-write-ns", type=float_in(0, MAX_NS, " ns"), metavar="NS",
                   help="old KV write cost per token per layer: the engine times KV traffic over "
                        "HBM instead (a note)")
    t.add_argument("--kv-read-ns", type=float_in(0, MAX_NS, " ns"), metavar="NS",
                   help="old KV read cost per context token: as --kv-write-ns (a note)")


def _modes(md):
    md.add_argument("--sweep", action="store_true", help="sweep and print CSV on stdout")
    md.add_argument("--sweep-bw", metavar="GBPS,...", help="link bandwidths, GB/s one direction")
    md.add_argument("--sweep-lat", metavar="NS,...",
                    help="link latencies per hop, ns as in the old tool (or with a unit: 5us, 2ms)")
    md.add_argument("--sweep-ctx", metavar="N,...", help="context lengths (as --ctx-len)")
    md.add_argument("--vary", action="append", metavar="FIELD=V1,V2", default=[],
                    help="sweep any Scenario field, e.g. --vary tp=1,2,4 (repeatable)")
    md.add_argument("--bench", action="store_true",
                    help="time simulate() in-process: ns per call and calls/s, and the vectorised "
                         "sweep rate")
    md.add_argument("--bench-iters", type=int_in(1, 10 ** 9), default=BENCH_ITERS, metavar="N",
                    help=f"most simulate() calls to time ({BENCH_ITERS:,}); the loop also stops "
                         f"after --bench-seconds")
    md.add_argument("--bench-seconds", type=float_in(0, 3600, " s", lo_open=True), default=BENCH_SECONDS,
                    metavar="S", help=f"time box of the --bench loop ({BENCH_SECONDS:g} s)")
    md.add_argument("--verbose", action="store_true",
                    help="per-kernel table of a decode step (calls, µs per call, share, bound)")
    md.add_argument("--compare", metavar="P1,P2,...", help="one row per interconnect preset")
    md.add_argument("--ascii", action="store_true", help="40-column bars of the breakdown and TP scaling")


def _output(o):
    o.add_argument("--json", action="store_true", help="Result.to_dict() as JSON instead of text")
    o.add_argument("--json-compat", action="store_true",
                   help="--json plus the old tool's top-level keys: preset, config, baseline "
                        "(ns_per_token, tok_per_sec), baseline_risk, tp_comparison, optimized, insights")
    o.add_argument("--serve", type=port, metavar="PORT",
                   help="serve the dashboard notebook with Voila on 127.0.0.1:PORT")
    o.add_argument("--serve-ip", default="127.0.0.1", metavar="ADDR",
                   help="address --serve binds (127.0.0.1; anything else is reachable by others)")
    o.add_argument("--serve-max-kernels", type=int_in(1, 256), default=8, metavar="N",
                   help="most notebook kernels (one per open page, ~120 MB each) alive at once (8)")
    o.add_argument("--serve-cull-s", type=int_in(1, 86400), default=120, metavar="S",
                   help="stop a kernel idle this long with no page attached (120 s)")
    o.add_argument("--serve-notebook", metavar="PATH", help="serve this notebook instead of the dashboard")
