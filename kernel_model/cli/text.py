"""Text output of ``nexora``: the summary, breakdowns, TP comparison, compare table and the
per-kernel table of ``--verbose``."""
from __future__ import annotations

BAR = 40          # columns of an --ascii bar


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


def tp_scaling(sc, sim, upto=None):
    """[(tp, Result)] for the TP degrees this model allows up to max(8, sc.tp), same hardware."""
    spec = sc.model_spec()
    upto = min(upto or max(8, sc.tp), 4096)
    out = []
    for t in sorted(set(valid_tps(spec, upto)) | {1, sc.tp}):
        try:
            s2 = sc.replace(tp=t)
        except ValueError:
            continue
        out.append((t, sim(s2)))
    return out


def hardware_line(res) -> str:
    sc = res.scenario
    gpu, link = sc.gpu_spec(), sc.link_spec()
    head = (f"  hardware    {res.num_gpus} x {gpu.name} ({gpu.bf16_tflops:g} TFLOPS bf16, "
            f"{gpu.hbm_gbps:g} GB/s HBM, {gpu.capacity_label})")
    if res.num_gpus == 1:
        return head + f", one GPU: no communication (the link, {link.name}, matters from 2 GPUs)"
    # the ring crosses the CPU socket link
    socket = f", the socket link {link.socket_bw_gbps:g} GB/s" if link.cross_socket else ""
    rate = link.bus_gbps(gpu.host_staged_gbps)         # this GPU's rate through host memory
    bw = f"{rate:g} GB/s" + (f" through host memory on {gpu.name}" if rate != link.bw_gbps else "")
    return head + (f" over {link.name} ({bw}{socket}, "
                   f"{link.latency_s * 1e6:g} µs per hop)")


def describe(res, a, scaling, extra=()) -> str:
    """The text summary; ``extra``: more lines (optimiser, per-kernel table) before the TP
    comparison."""
    sc = res.scenario
    spec, link = sc.model_spec(), sc.link_spec()
    L = []
    L.append("Configuration")
    L.append(f"  model       {spec.name}: {spec.layers} layers, hidden {spec.hidden}, "
             f"{spec.heads} heads / {spec.kv_heads} KV heads, {spec.total_params / 1e9:.1f} B parameters"
             + (f", {spec.experts} experts (top-{spec.top_k})" if spec.is_moe else ""))
    L.append(hardware_line(res))
    if sc.num_gpus > sc.gpus_per_node and link.kind != "network":
        x = sc.inter_node_spec()
        L.append(f"              nodes of {sc.gpus_per_node} joined by {x.name} ({x.bw_gbps:g} GB/s)")
    L.append(f"  plan        tp={sc.tp} pp={sc.pp} ep={sc.ep}, batch {sc.batch}, "
             f"micro-batches {sc.micro_batches}, algorithm {sc.algorithm}, comm group {sc.comm_group}, "
             f"overlap {sc.overlap:.0%}, {sc.runtime} runtime")
    from ..formats import describe as describe_format    # not this function's own name
    L.append(f"  precision   weights {describe_format(sc.weight_format, sc.weight_bits, sc.gpu_spec())}, "
             f"KV cache {sc.kv_bits}-bit, "
             f"communication {sc.comm_bits}-bit")
    L.append(f"  request     {sc.prompt_tokens} prompt + {sc.output_tokens} output tokens "
             f"(a decode step attends {sc.prompt_tokens + sc.output_tokens / 2:g} tokens on average)")
    L.append("")
    L.append(f"Time per token   {_ms(res.tpot_s)}   {res.output_tokens_per_s:,.1f} tokens/s "
             f"({res.output_tokens_per_s / res.num_gpus:,.1f} per GPU)")
    L.append("")
    L += _breakdown_lines("Decode step breakdown", res.breakdown, res.tpot_s, a.ascii)
    from ..insight import compute_note
    note = compute_note(res.breakdown, res.tpot_s)
    if note:
        L.append(f"  ({note})")
    L.append("")
    L.append(f"Bottleneck  {res.bottleneck}: {res.insight}")
    mem = res.memory
    L.append(f"Memory per GPU  {mem['total'] / 1e9:.2f} of {mem['capacity'] / 1e9:.1f} GB "
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
    for block in extra:
        L.append("")
        L += block
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
def compare_rows(names, gpu_flag, kw, make, sim):
    """One dict per preset: link numbers, time/token, vs TP=1 on that hardware.
    ``make(kw) -> Scenario`` and ``sim(Scenario) -> Result`` carry the run's overrides."""
    from .common import resolve_hardware
    rows = []
    for name in names:
        link, gpu, _ = resolve_hardware(name, None, gpu_flag, flag="--compare")
        sc = make(dict(kw, interconnect=link, gpu=gpu))
        res = sim(sc)
        try:
            base = sim(sc.replace(tp=1))
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




# ---- --verbose ------------------------------------------------------------------------------
def kernel_rows(res) -> list[dict]:
    """One row per kernel of a decode step, micro-batch 0, every stage (the busiest GPU of
    each): calls, time per call, time per step, share of the step, what bounds it."""
    tl = res.timeline
    d = tl[(tl["phase"] == "decode") & (tl["micro_batch"] == 0)]
    d = d[d["gpu"] == d.groupby("stage")["gpu"].transform("min")]
    rows = []
    for name, g in d.groupby("name", sort=False):
        total = float(g["duration_s"].sum())
        rows.append({"kernel": name, "kind": str(g["kind"].iloc[0]), "calls": int(len(g)),
                     "us_per_call": total / len(g) * 1e6, "ms_per_step": total * 1e3,
                     "share": total / res.tpot_s if res.tpot_s > 0 else 0.0,
                     "bound": str(g["bound"].mode().iloc[0]),
                     "flops_per_call": float(g["flops"].mean()), "bytes_per_call": float(g["bytes"].mean())})
    return rows


def kernel_lines(res) -> list[str]:
    sc = res.scenario
    rows = kernel_rows(res)
    L = [f"Per-kernel table: one decode step of micro-batch 0 (pp={sc.pp}, every stage; "
         f"times include the launch gap; comm hidden by overlap still listed)",
         f"  {'kernel':<16}{'kind':<12}{'calls':>6}{'µs/call':>10}{'ms/step':>10}{'share':>8}"
         f"{'GFLOP/call':>12}{'MB/call':>10}  bound"]
    for r in rows:
        L.append(f"  {r['kernel']:<16}{r['kind']:<12}{r['calls']:>6}{r['us_per_call']:>10.2f}"
                 f"{r['ms_per_step']:>10.3f}{r['share']:>8.1%}{r['flops_per_call'] / 1e9:>12.4f}"
                 f"{r['bytes_per_call'] / 1e6:>10.3f}  {r['bound']}")
    if res.host_s > 0:
        L.append(f"  {'host':<16}{'host':<12}{1:>6}{res.host_s * 1e6:>10.2f}{res.host_s * 1e3:>10.3f}"
                 f"{res.host_s / res.tpot_s:>8.1%}")
    L.append(f"  {res.kernels_per_step} kernels and {res.collectives_per_step} collectives per step "
             f"on the busiest stage")
    return L
