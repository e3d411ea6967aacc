"""``nexora`` in inference mode: one plan (text, --json, --json-compat), --compare, --sweep,
--bench, --serve."""
from __future__ import annotations

from . import legacy, tune
from .common import (BadInput, dumps, flag_error, resolve_hardware, resolve_model,
                     weight_format_for)


def scenario_kwargs(a) -> tuple[dict, dict]:
    """Scenario keyword arguments from parsed flags, and field -> flag overrides."""
    link, gpu, link_flag = resolve_hardware(a.preset, a.interconnect, a.gpu)
    kw = {"model": resolve_model(a.model), "tp": a.tp, "pp": a.pp, "ep": a.ep,
          "batch": a.batch_size, "micro_batches": a.micro_batches, "comm_group": a.group,
          "comm_bits": a.bits, "weight_bits": a.weight_bits or 16, "weight_format": a.weight_format,
          "kv_bits": a.kv_bits,
          "overlap": a.overlap, "algorithm": a.algorithm, "runtime": a.runtime,
          "flash_attention": not a.no_flash_attention}
    flags = {"interconnect": link_flag}
    fmt = weight_format_for(a.model, a.weight_format, a.weight_bits)
    if fmt != a.weight_format:                   # a quantised checkpoint's config.json
        kw["weight_format"], flags["weight_format"] = fmt, "--model"
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
    from ..scenario import Scenario
    try:
        return Scenario(**kw)
    except ValueError as e:
        msg = str(e)
        if msg.startswith("inter_node="):            # the engine checks the preset name first
            raise BadInput(f"--inter-node: {msg.splitlines()[0]}") from None
        raise BadInput(flag_error(e, flags)) from None


def _inter_node(a):
    """--inter-node names its own flag (the engine's message says 'interconnect')."""
    if a.inter_node is None or a.inter_node == "auto":
        return
    from ..hardware import get_interconnect
    try:
        link = get_interconnect(a.inter_node)
    except ValueError:
        link = None
    if link is None or link.kind != "network":
        raise BadInput(f"--inter-node {a.inter_node!r} is not allowed: must be auto, ib_hdr or ib_ndr "
                       f"(the link between nodes; --interconnect sets the link inside a node)")


class Run:
    """One invocation: scenario keywords, notes, the closed-form overrides."""

    def __init__(self, a):
        self.a = a
        _inter_node(a)
        self.kw, self.flags = scenario_kwargs(a)
        self.notes = legacy.noted_flags(a)
        self.notes += legacy.apply_hardware(a, self.kw)
        self.notes += legacy.moe_flags(a, self.kw)
        self.notes += legacy.cap_micro_batches(self.kw, self.flags)
        self.ov = legacy.overrides(a)

    def make(self, kw=None):
        sc = make_scenario(self.kw if kw is None else kw, self.flags)
        if self.a.compute_ns is not None:
            sc = legacy.apply_compute_ns(sc, self.a.compute_ns, self.ov)
        return sc

    def sim(self, sc):
        return self.ov.simulate(sc)

    def all_notes(self):
        return self.notes + self.ov.notes


def run_inference(a) -> int:
    with legacy.scoped_presets():
        return _run(a)


def _run(a) -> int:
    run = Run(a)
    if a.sweep or a.sweep_bw or a.sweep_lat or a.sweep_ctx or a.vary:
        if a.compare:
            raise BadInput("--compare and --sweep cannot be combined; use --vary interconnect=P1,P2")
        from .sweep_cmd import run_sweep
        if run.ov.active or a.compute_ns is not None:
            run.notes.append("--ar-bytes/--msg-bytes, --kv-bytes-base, --no-kv-shard and --compute-ns "
                             "apply to single runs and --compare, not to --sweep")
        link_axes = a.sweep_bw or a.sweep_lat or not (a.sweep_ctx or a.vary)
        varies_plan = any(v.split("=", 1)[0].strip() in ("tp", "ep", "pp") for v in a.vary)
        if link_axes and not varies_plan and max(a.tp, a.ep) * a.pp == 1:
            run.notes.append("one GPU (tp=1, pp=1) sends nothing between GPUs, so the link "
                             "bandwidth / latency rows are equal; add --tp N (the old tool's "
                             "default was --tp 4)")
        return run_sweep(a, run.kw, run.flags, run.all_notes())
    if a.compare is not None:
        from .common import parse_list
        from .text import compare_rows, format_compare
        names = parse_list("--compare", a.compare, str)
        rows = compare_rows(names, a.gpu, run.kw, run.make, run.sim)
        legacy.emit(run.all_notes())
        print(dumps(rows) if (a.json or a.json_compat) else format_compare(rows, a.ascii))
        return 0
    sc = run.make()
    res = run.sim(sc)
    if a.bench:
        return _bench(a, run, sc)
    if a.json and not a.json_compat:
        legacy.emit(run.all_notes())
        print(dumps(res.to_dict()))
        return 0
    from .text import tp_scaling, describe, kernel_lines
    scaling = tp_scaling(sc, run.sim)
    opt = None if a.no_opt else tune.optimise(sc, res, run.sim, a.max_group, a.max_risk)
    legacy.emit(run.all_notes())
    if a.json_compat:
        from .compat import document
        print(dumps(document(a, res, scaling, run.ov, opt, run.all_notes())))
        return 0
    extra = []
    if opt is not None:
        extra.append(tune.lines(opt, res))
    if a.verbose:
        extra.append(kernel_lines(res))
    print(describe(res, a, scaling, extra))
    return 0


def _bench(a, run, sc) -> int:
    from . import bench
    legacy.emit(run.all_notes())
    b = bench.time_simulate(run.sim, sc, a.bench_iters, a.bench_seconds)
    try:
        s = bench.time_sweep(sc)
    except ValueError:
        s = None
    for line in bench.lines(b, s, a.bench_iters, a.bench_seconds):
        print(line)
    return 0
