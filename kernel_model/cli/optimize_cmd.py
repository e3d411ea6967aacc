"""``nexora optimize``: the best parallel plan for a model on N GPUs (kernel_model.optimize)."""
from __future__ import annotations

from .common import (BadInput, make_parser, parse_list, flag_error, int_in, pos_ms, dumps,
                     resolve_hardware, resolve_model, MAX_NUM_GPUS, MAX_BATCH, MAX_TOKENS)

SUMMARY = "best parallel plan (tp x pp x ep x batch x bits x overlap) for a model on N GPUs"


def build_parser():
    p = make_parser("nexora optimize",
                    "Best parallel plan (tp x pp x ep x batch x weight/KV bits x overlap) for a "
                    "model on N GPUs, and the latency/throughput Pareto front. By default it "
                    "also tries 8- and 4-bit weights, 8-bit KV cache and 50 % overlap "
                    "(--weight-bits 16 --kv-bits 16 --overlap 0 to keep full precision).",
                    "example:\n  nexora optimize --model llama-3-70b --gpu h100-sxm --num-gpus 8 "
                    "--max-tpot-ms 30 --objective throughput")
    p.add_argument("--model", default="llama-3-70b", metavar="NAME|PATH")
    p.add_argument("--gpu", metavar="NAME", help="GPU preset (default: the preset's GPU, else h100-sxm)")
    p.add_argument("--num-gpus", type=int_in(1, MAX_NUM_GPUS), default=8, metavar="N",
                   help=f"GPUs, 1..{MAX_NUM_GPUS:,} (8); plans smaller than N run as replicas")
    p.add_argument("--preset", metavar="NAME", help="interconnect preset; picks its typical GPU")
    p.add_argument("--interconnect", metavar="NAME", help="interconnect (default: the GPU's usual link)")
    p.add_argument("--objective", choices=("throughput", "latency"), default="throughput")
    p.add_argument("--max-tpot-ms", type=pos_ms, metavar="MS", help="time-per-output-token limit")
    p.add_argument("--max-ttft-ms", type=pos_ms, metavar="MS", help="time-to-first-token limit")
    p.add_argument("--prompt-tokens", type=int_in(1, MAX_TOKENS), metavar="N")
    p.add_argument("--output-tokens", type=int_in(1, MAX_TOKENS), metavar="N")
    p.add_argument("--batch", default="1,2,4,8,16,32,64,128,256", metavar="N,...", help="batches tried")
    p.add_argument("--weight-bits", default="16,8,4", metavar="B,...",
                   help="weight precisions tried (16,8,4: quantised plans are searched too)")
    p.add_argument("--weight-formats", metavar="F,...",
                   help="weight formats tried in place of --weight-bits, e.g. bf16,fp8,nvfp4 "
                        "(names as --weight-format takes)")
    p.add_argument("--kv-bits", default="16,8", metavar="B,...", help="KV-cache precisions tried (16,8)")
    p.add_argument("--overlap", default="0,0.5", metavar="F,...", help="overlap fractions tried (0,0.5)")
    p.add_argument("--bits", type=int, choices=(4, 8, 16), default=16, help="communication precision")
    p.add_argument("--runtime", default="compiled", metavar="NAME",
                   help="serving runtime profile of every plan (compiled, trtllm, vllm, sglang, "
                        "tgi, tgi-eager, ...; compiled is the default)")
    p.add_argument("--no-replicas", action="store_true",
                   help="only plans that use all GPUs in one replica")
    p.add_argument("--top", type=int_in(0, 10_000), default=0, metavar="N", help="also print the N best plans")
    p.add_argument("--json", action="store_true")
    p.add_argument("--csv", metavar="OUT", help="write every feasible plan to OUT (a new file)")
    p.add_argument("--force", action="store_true", help="let --csv replace an existing file")
    return p


def searched_line(kw) -> str:
    """What the search varied beyond tp x pp x ep x batch, said in the output."""
    wb = (", ".join(kw["weight_formats"]) if kw.get("weight_formats")
          else ", ".join(f"{b}-bit" for b in kw["weight_bits"]))
    kv = ", ".join(f"{b}-bit" for b in kw["kv_bits"])
    ov = ", ".join(f"{v:g}" for v in kw["overlap"])
    return f"searched: weights {wb}; KV cache {kv}; overlap {ov}; batch {', '.join(map(str, kw['batch']))}"


def cli_main(argv) -> int:
    a = build_parser().parse_args(argv)
    if a.csv:
        from .files import check_output
        check_output("--csv", a.csv, a.force)
    link, gpu, _ = resolve_hardware(a.preset, a.interconnect, a.gpu)
    gpu = gpu or "h100-sxm"
    model = resolve_model(a.model)
    from ..optimize import optimize
    kwargs = dict(
        batch=parse_list("--batch", a.batch, int, minimum=1, maximum=MAX_BATCH),
        weight_bits=parse_list("--weight-bits", a.weight_bits, int, allowed=(4, 8, 16)),
        kv_bits=parse_list("--kv-bits", a.kv_bits, int, allowed=(4, 8, 16)),
        overlap=parse_list("--overlap", a.overlap, float, minimum=0.0),
        prompt_tokens=a.prompt_tokens, output_tokens=a.output_tokens, comm_bits=a.bits,
        replicas=not a.no_replicas, runtime=a.runtime,
        weight_formats=None if a.weight_formats is None
        else parse_list("--weight-formats", a.weight_formats, str))
    if any(v > 1 for v in kwargs["overlap"]):
        raise BadInput(f"--overlap {a.overlap!r}: values must be in [0, 1]")
    try:
        res = optimize(model, gpu, a.num_gpus, interconnect=link,
                       max_tpot_s=None if a.max_tpot_ms is None else a.max_tpot_ms / 1e3,
                       max_ttft_s=None if a.max_ttft_ms is None else a.max_ttft_ms / 1e3,
                       objective=a.objective, **kwargs)
    except ValueError as e:
        raise BadInput(flag_error(e, {"num_gpus": "--num-gpus", "max_tpot_s": "--max-tpot-ms",
                                      "max_ttft_s": "--max-ttft-ms", "runtime": "--runtime",
                                      "weight_format": "--weight-formats",
                                      "weight_formats": "--weight-formats"})) from None
    if a.csv and res.candidates is not None:
        from .files import atomic_path
        with atomic_path(a.csv, "--csv") as tmp:
            res.candidates.to_csv(tmp, index=False)
    if a.json:
        d = res.to_dict()
        d["searched_values"] = {k: kwargs[k] for k in ("batch", "weight_bits", "kv_bits", "overlap")}
        if kwargs["weight_formats"]:
            d["searched_values"]["weight_formats"] = kwargs["weight_formats"]
        print(dumps(d))
    else:
        print(res.summary())
        which = "--weight-formats" if kwargs["weight_formats"] else "--weight-bits"
        print(searched_line(kwargs) + f" (narrow with {which} / --kv-bits / --overlap)")
        if a.top and res.candidates is not None and len(res.candidates):
            from ..optimize import format_table
            print(f"Top {a.top} plans by {res.objective}:")
            print(format_table(res.candidates.head(a.top)))
        if a.csv:
            print(f"every feasible plan written to {a.csv}")
    return 0 if res.best is not None else 1
