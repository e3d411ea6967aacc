"""The old closed form's knobs on the physical engine.

Honoured as overrides (documented in ``nexora --help``):
  --bw-gbps / --latency-ns   a custom link: the link in use with that bandwidth / latency
                             (registered as ``custom-<bw>gbps-<lat>ns``);
  --memory-bw-gbps           the GPU with that HBM bandwidth (``<gpu>-hbm<bw>``);
  --ar-bytes / --msg-bytes   bytes per token each all-reduce carries at 16 bits;
  --kv-bytes-base            KV-cache bytes per context token per layer (all heads);
  --no-kv-shard              every TP rank holds the whole KV cache;
  --compute-ns               the math time of one layer of a decode step (FLOP efficiency).
How each reaches the engine: the link and the GPU as run-time presets (removed after the
run, see ``scoped_presets``); --compute-ns as ``Scenario.efficiency`` (flops and attention
efficiency); --ar-bytes, --kv-bytes-base and --no-kv-shard change inputs of the closed form
that no Scenario field holds (``cb``: bytes per activation element sent, so all-to-all and
pipeline transfers, which carry the same activations, scale with it; ``kv_elems``;
``kv_groups``), through ``simulate(..., adjust_params=Overrides.adjust)``.
Accepted with a note (the physics derives them): --comm-ops, --ag-bytes, --prefill-factor,
--kv-write-ns, --kv-read-ns. With --preset, --bw-gbps / --latency-ns / --memory-bw-gbps are
ignored, as the old tool did, with one note.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace

from .common import BadInput, note

# old default -> no note when the user passes the value the engine already uses
_NOTES = {
    "comm_ops": (2, "--comm-ops {v:g}: the engine derives the collectives of a layer from the "
                    "plan (2 all-reduces with tp > 1, plus 2 all-to-alls with ep > 1), so the "
                    "flag is not used; --group coalesces them, --ar-bytes sets their size"),
    "ag_bytes": (0, "--ag-bytes {v:g}: the engine's tensor parallelism uses all-reduces only "
                    "(no per-layer all-gather), so the flag is not used; --ar-bytes sets the "
                    "all-reduce size"),
    "prefill_factor": (None, "--prefill-factor {v:g}: the engine computes prefill from its FLOPs "
                             "and bytes (causal attention over the prompt), so the flag is not "
                             "used; --compute-ns scales decode and prefill math alike"),
    "kv_write_ns": (None, "--kv-write-ns {v:g}: the engine times KV-cache writes as HBM traffic "
                          "(bytes / bandwidth), so the flag is not used; set the bytes with "
                          "--kv-bytes-base and the bandwidth with --memory-bw-gbps"),
    "kv_read_ns": (None, "--kv-read-ns {v:g}: the engine times KV-cache reads as HBM traffic "
                         "(bytes / bandwidth), so the flag is not used; set the bytes with "
                         "--kv-bytes-base and the bandwidth with --memory-bw-gbps"),
}


@dataclass
class Overrides:
    """Fixed overrides of the closed form's inputs (None: the engine's own value)."""
    ar_bytes: float | None = None       # per token at 16 bits
    kv_bytes: float | None = None       # per context token per layer, all heads
    no_kv_shard: bool = False
    notes: list = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.ar_bytes is not None or self.kv_bytes is not None or self.no_kv_shard

    def adjust(self, P: dict) -> dict:
        """The ``adjust_params`` hook: returns a copy of ``P`` with the overrides applied."""
        P = dict(P)
        if self.kv_bytes is not None:
            P["kv_elems"] = self.kv_bytes / P["kvb"]
        if self.no_kv_shard:
            P["kv_groups"] = 1.0
        if self.ar_bytes is not None:
            P["cb"] = self.ar_bytes / P["h"] * (P["cb"] / 2.0)
        return P

    def simulate(self, sc):
        from ..simulate import simulate
        return simulate(sc, adjust_params=self.adjust if self.active else None)

    def config(self) -> dict:
        return {"ar_bytes": self.ar_bytes, "kv_bytes_base": self.kv_bytes,
                "no_kv_shard": self.no_kv_shard}


def noted_flags(a) -> list[str]:
    """The notes for old flags the engine does not use (one line each)."""
    out = []
    for name, (same, text) in _NOTES.items():
        v = getattr(a, name)
        if v is not None and v != same:
            out.append(text.format(v=v))
    return out


def apply_hardware(a, kw: dict) -> list[str]:
    """--bw-gbps / --latency-ns / --memory-bw-gbps: custom link and GPU in ``kw``; notes."""
    given = [f for f, v in (("--bw-gbps", a.bw_gbps), ("--latency-ns", a.latency_ns),
                            ("--memory-bw-gbps", a.memory_bw_gbps)) if v is not None]
    if not given:
        return []
    if a.preset or a.compare:
        who = f"--preset {a.preset}" if a.preset else "--compare (each row's preset)"
        return [f"{', '.join(given)} ignored: {who} sets the link and the GPU (as the old tool "
                f"did); use --interconnect or --gpu to start from a preset and override it"]
    from ..hardware import get_gpu, get_interconnect, register_gpu, INTERCONNECTS
    from ..scenario import Scenario
    gpu = get_gpu(kw.get("gpu") or Scenario.gpu)
    if a.bw_gbps is not None or a.latency_ns is not None:
        name = kw.get("interconnect") or Scenario.interconnect
        if name == "none":
            name = gpu.native_link
        base = get_interconnect(name)
        bw = base.bw_gbps if a.bw_gbps is None else a.bw_gbps
        lat = base.latency_s if a.latency_ns is None else a.latency_ns * 1e-9
        cname = f"custom-{bw:g}gbps-{lat * 1e9:g}ns"
        # a run-time preset, like a registered config.json model (hardware has no
        # register_interconnect yet); kind / P2P / in-switch come from the base link
        INTERCONNECTS[cname] = replace(base, name=cname, bw_gbps=bw, latency_s=lat,
                                       description=f"{base.name} with --bw-gbps / --latency-ns",
                                       source="nexora --bw-gbps / --latency-ns")
        kw["interconnect"] = cname
    if a.memory_bw_gbps is not None:
        gname = f"{gpu.name}-hbm{a.memory_bw_gbps:g}"
        register_gpu(replace(gpu, name=gname, hbm_gbps=a.memory_bw_gbps,
                             source="nexora --memory-bw-gbps"), replace=True)
        kw["gpu"] = gname
    return []


def overrides(a) -> Overrides:
    o = Overrides(ar_bytes=a.ar_bytes, kv_bytes=a.kv_bytes_base, no_kv_shard=a.no_kv_shard)
    return o


def layer_math_s(sc, adjust=None) -> float:
    """Math time (s) of one layer of a decode step on one GPU at 100 % of peak FLOP/s."""
    from ..simulate import params
    from ..kernels import layer_work, LAYER_KERNELS, KIND
    P = params(sc)
    if adjust is not None:
        P = adjust(P)
    b = P["B"] / P["m"]
    work = layer_work(P, b, b, P["ctx"], False)
    t = 0.0
    for n in LAYER_KERNELS:
        if KIND[n] == "comm":
            continue
        peak = P["F"] if KIND[n] == "gemm" else P["F16"]
        t += float(work[n][0]) / peak
    return t


def apply_compute_ns(sc, compute_ns, ov: Overrides):
    """The scenario with flops/attention efficiency set so one layer's math takes compute_ns."""
    t_peak = layer_math_s(sc, ov.adjust if ov.active else None)
    eff = t_peak / (compute_ns * 1e-9)
    if eff > 1.0:
        ov.notes.append(f"--compute-ns {compute_ns:g} is faster than the GPU's peak FLOP/s allows "
                        f"for this layer ({t_peak * 1e9:,.0f} ns at 100 %); using the peak")
        eff = 1.0
    if not eff > 0:
        raise BadInput(f"--compute-ns {compute_ns:g}: too large for this model (no FLOPs left)")
    over = dict(sc.efficiency or {})
    over.update(flops_efficiency=eff, attention_efficiency=eff)
    return sc.replace(efficiency=over)


def cap_micro_batches(kw: dict, flags: dict) -> list[str]:
    m, b = kw.get("micro_batches", 1), kw.get("batch", 1)
    if m > b:
        kw["micro_batches"] = b
        return [f"--micro-batches {m} is above the batch ({b}): capped at {b} (a micro-batch "
                f"holds at least one sequence); raise --batch-size to fill the pipeline"]
    return []


def moe_flags(a, kw: dict) -> list[str]:
    """--moe-experts 0 was the old 'dense model' (keep the model's own structure), and
    --active-experts (old default 2) meant nothing for a dense model: dropped, with a note
    unless it is the old default."""
    from ..models import get_model
    if a.moe_experts == 0:
        kw.pop("moe_experts", None)
    try:
        spec = get_model(kw["model"])
    except ValueError:
        return []
    out = []
    if a.moe_experts == 0 and spec.is_moe:
        out.append(f"--moe-experts 0 (the old tool's 'dense'): {spec.name} keeps its {spec.experts} "
                   f"experts; --moe-experts 1 --active-experts 1 makes it dense")
    if a.active_experts is not None and not spec.is_moe and not a.moe_experts:
        kw.pop("active_experts", None)
        if a.active_experts != 2:
            out.append(f"--active-experts {a.active_experts}: {spec.name} is a dense model, so it "
                       f"has no effect; add --moe-experts E to make it a mixture of experts")
    return out


@contextlib.contextmanager
def scoped_presets():
    """Presets that --bw-gbps / --latency-ns / --memory-bw-gbps register live for one run:
    removed afterwards, so calling ``main()`` in-process leaves the registries as they were."""
    from ..hardware import INTERCONNECTS, GPUS
    links, gpus = set(INTERCONNECTS), set(GPUS)
    try:
        yield
    finally:
        for k in set(INTERCONNECTS) - links:
            del INTERCONNECTS[k]
        for k in set(GPUS) - gpus:
            del GPUS[k]


def emit(notes) -> None:
    seen = set()
    for n in notes:
        if n not in seen:
            note(n)
            seen.add(n)
