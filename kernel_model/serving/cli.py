"""``nexora serving`` and ``nexora capacity``.

    nexora serving --model llama-3-70b --gpu h100-sxm --tp 8 --rate 10 --requests 2000 \\
                   [--scheduler chunked] [--slo ttft_p90=1,tpot_p99=0.05] [--json | --csv OUT]
    nexora capacity --model llama-3-70b --gpu h100-sxm --tp 8 --slo ttft_p90=1,tpot_p99=0.05
    nexora capacity --plan --model llama-3-70b --gpu h100-sxm --num-gpus 8 --gpu-hour-usd 2.5

``main(argv)`` takes ``["serving", ...]`` or ``["capacity", ...]``; ``add_parsers(sub)``
adds both to an argparse sub-parser set. Exit codes: 0 ok, 2 bad input (one line on stderr).
"""
from __future__ import annotations

import argparse
import json
import sys

PROG = "nexora"


class CliError(Exception):
    """Bad input: one line on stderr, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CliError(message)


def _num(cast, ok, allowed):
    def convert(s):
        try:
            v = cast(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not allowed: must be {allowed}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"{s} is not allowed: must be {allowed}")
        return v
    return convert


_pos_int = _num(int, lambda v: v >= 1, "a whole number >= 1")
_pos = _num(float, lambda v: 0 < v < float("inf"), "a number > 0")
_nonneg = _num(float, lambda v: 0 <= v < float("inf"), "a number >= 0")


def _scenario_args(p, plan=False):
    p.add_argument("--model", default="llama-3-70b", metavar="NAME")
    p.add_argument("--gpu", default="h100-sxm", metavar="NAME")
    p.add_argument("--interconnect", metavar="NAME", help="default: the GPU's usual link")
    if plan:
        p.add_argument("--num-gpus", type=_pos_int, default=8, metavar="N")
        p.add_argument("--gpu-hour-usd", type=_pos, metavar="USD", help="adds $ per M tokens")
        p.add_argument("--target-rps", type=_pos, metavar="R", help="adds GPUs for this rate")
    p.add_argument("--tp", type=_pos_int, default=1)
    p.add_argument("--pp", type=_pos_int, default=1)
    p.add_argument("--weight-bits", type=int, choices=(4, 8, 16),
                   help="16 (--plan: searches 16 and 8 unless given)")
    p.add_argument("--weight-format", "--format", dest="weight_format", default="auto",
                   metavar="NAME", help="fp16, bf16, fp8, int8, int4-awq, gptq, nvfp4, mxfp4, "
                                        "q4_0, q4_k_m, q8_0 (auto: from --weight-bits)")
    p.add_argument("--runtime", default="compiled", metavar="NAME",
                   help="serving runtime profile: compiled, trtllm, vllm, sglang, tgi, ...")
    p.add_argument("--kv-bits", type=int, choices=(4, 8, 16),
                   help="16 (--plan: 16 with 16-bit weights, else 8, unless given)")


def _workload_args(p, rate=True):
    if rate:
        p.add_argument("--rate", type=_pos, default=1.0, metavar="RPS", help="requests/s")
        p.add_argument("--users", type=_pos_int, metavar="N", help="closed loop: N users")
    p.add_argument("--requests", type=_pos_int, default=1000, metavar="N")
    p.add_argument("--arrival", choices=("poisson", "gamma", "constant"), default="poisson")
    p.add_argument("--cv", type=_pos, default=1.0, help="gamma arrivals: cv of the gaps")
    p.add_argument("--prompt-tokens", type=_pos_int, default=1000, metavar="N",
                   help="prompt length (the mean with --prompt-sd)")
    p.add_argument("--prompt-sd", type=_nonneg, default=0.0, metavar="SD",
                   help="> 0: lognormal prompt lengths with this sd")
    p.add_argument("--output-tokens", type=_pos_int, default=200, metavar="N")
    p.add_argument("--output-sd", type=_nonneg, default=0.0, metavar="SD")
    p.add_argument("--trace", metavar="CSV", help="replay arrival_s,prompt_tokens,output_tokens")
    p.add_argument("--example", choices=("chat", "coding"), help="a shipped example trace")
    p.add_argument("--seed", type=int, default=0)


def _serve_args(p):
    p.add_argument("--scheduler", default="continuous", metavar="NAME",
                   help="continuous | chunked | static")
    p.add_argument("--max-batch", type=_pos_int, default=256, metavar="N")
    p.add_argument("--max-batched-tokens", type=_pos_int, default=8192, metavar="N")
    p.add_argument("--replicas", type=_pos_int, default=1, metavar="N")
    p.add_argument("--kv-cache-fraction", type=_pos, default=0.9, metavar="F",
                   help="share of each GPU's memory for weights, activations and KV cache "
                        "(vLLM's gpu_memory_utilization); with --runtime trtllm-pytorch the "
                        "share of what the weights and activations leave (TensorRT-LLM's "
                        "free_gpu_memory_fraction)")
    p.add_argument("--prefix-cache", action="store_true")
    p.add_argument("--admission", choices=("optimistic", "reserve"), default="optimistic",
                   help="optimistic (vLLM: preempt when full) | reserve (TensorRT-LLM: "
                        "prompt + output reserved, never preempt)")
    p.add_argument("--slo", default=None, metavar="SPEC", help="e.g. ttft_p90=1,tpot_p99=0.05")


def _fill(p, kind):
    if kind == "serving":
        _scenario_args(p)
        _workload_args(p)
        _serve_args(p)
        p.add_argument("--disaggregated", metavar="P,D", help="prefill and decode GPUs")
        p.add_argument("--json", action="store_true", help="the summary as JSON")
        p.add_argument("--csv", metavar="OUT", help="write one row per request to OUT")
    else:
        p.add_argument("--plan", action="store_true",
                       help="search TP/PP/replicas/precision/scheduler on --num-gpus")
        _scenario_args(p, plan=True)
        _workload_args(p, rate=False)
        _serve_args(p)
        p.add_argument("--tol", type=_pos, default=0.02, help="relative precision of the rate")
        p.add_argument("--json", action="store_true")
        p.add_argument("--csv", metavar="OUT", help="--plan: write the table to OUT")
    return p


def build_parser(kind):
    desc = {"serving": "Simulate requests served by one plan (continuous batching, SLOs).",
            "capacity": "Highest request rate a plan serves under an SLO (--plan: best plan)."}
    return _fill(_Parser(prog=f"{PROG} {kind}", description=desc[kind], allow_abbrev=False),
                 kind)


def add_parsers(subparsers):
    """Add ``serving`` and ``capacity`` to an ``argparse`` sub-parser set; each sets
    ``func`` (call it with the parsed namespace; returns the exit code)."""
    for kind, fn in (("serving", _run_serving), ("capacity", _run_capacity)):
        p = _fill(subparsers.add_parser(kind, allow_abbrev=False), kind)
        p.set_defaults(func=fn)


# ---- building the inputs ------------------------------------------------------------------
def _model(a) -> tuple[str, str]:
    """(model name, weight format) of ``--model``: a preset, a Hugging Face id, or a
    config.json path (registered, as for ``nexora --model``), whose quantised format is used
    unless ``--weight-format`` or ``--weight-bits`` is given."""
    from ..cli.common import BadInput, resolve_model, weight_format_for
    try:
        name = resolve_model(a.model)
    except BadInput as e:
        raise CliError(str(e)) from None
    return name, weight_format_for(a.model, a.weight_format, a.weight_bits)


def _scenario(a):
    import kernel_model as km
    from kernel_model.hardware import get_gpu
    ic = a.interconnect or get_gpu(a.gpu).native_link
    n = a.tp * a.pp
    model, fmt = _model(a)
    return km.Scenario(model=model, gpu=a.gpu, interconnect="none" if n == 1 else ic,
                       tp=a.tp, pp=a.pp, weight_bits=a.weight_bits or 16,
                       weight_format=fmt, kv_bits=a.kv_bits or 16, runtime=a.runtime)


def _workload(a):
    from . import Workload, LogNormal
    if a.trace and a.example:
        raise CliError("--trace and --example both given; use one")
    rate = getattr(a, "rate", None)
    if a.trace or a.example:
        w = Workload.from_csv(a.trace) if a.trace else Workload.example(a.example)
        return w.with_rate(rate) if rate else w
    p = LogNormal(a.prompt_tokens, a.prompt_sd) if a.prompt_sd > 0 else a.prompt_tokens
    o = LogNormal(a.output_tokens, a.output_sd) if a.output_sd > 0 else a.output_tokens
    return Workload(rate_rps=rate or 1.0, arrival=a.arrival, cv=a.cv, prompt=p, output=o,
                    requests=a.requests, seed=a.seed, users=getattr(a, "users", None))


def _disagg(text):
    if text is None:
        return None
    parts = text.split(",")
    try:
        vals = tuple(int(x) for x in parts)
    except ValueError:
        vals = ()
    if len(vals) != 2 or min(vals) < 1:
        raise CliError(f"--disaggregated {text!r} is not allowed: give PREFILL_GPUS,DECODE_GPUS, "
                       f"e.g. 4,4")
    return vals


def _serve_kw(a):
    return dict(scheduler=a.scheduler, max_batch=a.max_batch,
                max_batched_tokens=a.max_batched_tokens, kv_cache_fraction=a.kv_cache_fraction,
                prefix_cache=a.prefix_cache, admission=a.admission)


# ---- commands -----------------------------------------------------------------------------
def _run_serving(a):
    from . import serve
    from .metrics import summary_table
    res = serve(_scenario(a), _workload(a), replicas=a.replicas,
                disaggregated=_disagg(a.disaggregated), slo=a.slo,
                record_steps=False, **_serve_kw(a))
    if a.csv:
        res.requests.to_csv(a.csv, index=False)
    if a.json:
        print(json.dumps(res.to_dict(), default=float))
    else:
        for label, text in summary_table(res.summary):
            print(f"{label:>10}  {text}")
    return 0


def _run_capacity(a):
    from . import capacity, plan_capacity
    from ..progress import progress_bar
    if a.plan:
        model, fmt = _model(a)
        df = plan_capacity(model, a.gpu, a.num_gpus, slo=a.slo, workload=_workload(a),
                           interconnect=a.interconnect, gpu_hour_usd=a.gpu_hour_usd,
                           target_rps=a.target_rps, progress=True, requests=a.requests,
                           weight_bits=(a.weight_bits,) if a.weight_bits else (16, 8),
                           weight_format=fmt, runtime=a.runtime, kv_bits=a.kv_bits,
                           max_batch=a.max_batch, max_batched_tokens=a.max_batched_tokens,
                           kv_cache_fraction=a.kv_cache_fraction, admission=a.admission)
        if a.csv:
            df.to_csv(a.csv, index=False)
        if a.json:
            print(df.to_json(orient="records"))
        else:
            print(df.drop(columns=["note"]).to_string(index=False, float_format="%.4g"))
        return 0
    bar = progress_bar(20, desc="capacity", unit="run")
    try:
        c = capacity(_scenario(a), _workload(a), a.slo, replicas=a.replicas, tol=a.tol,
                     progress=bar, **_serve_kw(a))
    finally:
        bar.close()
    out = {"rate_rps": c.rate_rps, "rate_rps_per_gpu": c.rate_rps_per_gpu,
           "output_tokens_per_s": c.output_tokens_per_s, "saturation_rps": c.saturation_rps,
           "ttft_p90_s": c.summary["ttft_p90_s"], "tpot_p99_s": c.summary["tpot_p99_s"],
           "slo": c.summary["slo"], "reason": c.reason}
    if a.json:
        print(json.dumps(out))
    else:
        print(f"capacity {c.rate_rps:.4g} req/s ({c.rate_rps_per_gpu:.4g} per GPU), "
              f"{c.output_tokens_per_s:.4g} output tok/s; TTFT p90 "
              f"{out['ttft_p90_s'] * 1e3:.1f} ms, TPOT p99 {out['tpot_p99_s'] * 1e3:.2f} ms"
              + (f"  ({c.reason})" if c.reason else ""))
    return 0


def main(argv=None) -> int:
    """``main(["serving", ...])`` / ``main(["capacity", ...])``: the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv or argv[0] not in ("serving", "capacity"):
            raise CliError(f"expected 'serving' or 'capacity', got {argv[:1]}")
        a = build_parser(argv[0]).parse_args(argv[1:])
        return (_run_serving if argv[0] == "serving" else _run_capacity)(a)
    except (CliError, ValueError, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if isinstance(e, ValueError):
            from ..cli.common import flag_error
            msg = flag_error(e)                 # "--weight-format: weight_format='x' ..."
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 2
    except SystemExit as e:          # --help
        return e.code if isinstance(e.code, int) else 0


def cli_serving(argv) -> int:
    """``nexora serving ...`` (the subcommand hook of kernel_model.cli.commands)."""
    return main(["serving", *argv])


def cli_capacity(argv) -> int:
    """``nexora capacity ...``."""
    return main(["capacity", *argv])
