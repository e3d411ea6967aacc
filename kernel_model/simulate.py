"""``simulate(scenario) -> Result``: one inference request, kernel by kernel.

The numbers come from one closed form (``evaluate``) shared with ``sweep``; ``simulate``
adds the per-kernel timeline and the insight sentence.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from .scenario import Scenario
from .collectives import ALGORITHMS
from .formats import format_note
from .runtime import plan_note
from . import tables
from .kernels import LAYER_KERNELS, HEAD_KERNELS, TAIL_KERNELS, KIND
from . import schedule, memory, insight
from .insight import LABELS

CATEGORIES = schedule.CATEGORIES


def link_params(gpu, link, inter, algorithm, gpus_per_node, step_s=0.0,
                direct_max=float("inf")) -> dict:
    """Link numbers for the collectives (see ``kernel_model.collectives``), for callers
    without a Scenario (gemm, training): the preset facts of :func:`tables.link_facts` with
    the calibrated ``step_s`` added to the step latencies, the algorithm code, GPUs per node
    and ``direct_max`` (largest all-reduce, bytes, that "auto" may run one/two-shot).
    A network preset as ``interconnect`` puts every GPU in its own node."""
    host = gpu.host_staged_gbps if gpu is not None else None
    T = dict(tables.link_facts(link, inter, host), step_s=step_s, direct_max=float(direct_max),
             alg=float(ALGORITHMS[algorithm]), gpus_per_node=float(gpus_per_node))
    return tables.derive_link(T)


def params(sc: Scenario) -> dict:
    """The flat dict of numbers (Python floats) that the closed form reads: the length-1
    case of what ``sweep`` builds (:func:`kernel_model.tables.derive`)."""
    return tables.derive(sc.tables())


def evaluate(P) -> dict:
    """The closed form: every headline number, vectorised over the arrays in ``P``."""
    link = P["link"]
    dec = schedule.phase(P, link, prefill=False)
    pre = schedule.phase(P, link, prefill=True)
    mem = memory.per_gpu(P)
    tpot = dec["total"]
    ttft = pre["total"]
    e2e = ttft + (P["o"] - 1.0) * tpot
    code, top = insight.label_code(dec["breakdown"], tpot)
    return {"tpot_s": tpot, "ttft_s": ttft, "e2e_s": e2e,
            "output_tokens_per_s": P["B"] / tpot,
            "memory": mem, "fits": mem["total"] <= mem["capacity"],
            "bottleneck_code": code, "dominant_code": top,
            "breakdown": dec["breakdown"], "ttft_breakdown": pre["breakdown"],
            "decode": dec, "prefill": pre}


@dataclass
class Result:
    """What ``simulate`` returns. Times in seconds, memory in bytes per GPU."""
    scenario: Scenario
    ttft_s: float
    tpot_s: float
    e2e_s: float
    output_tokens_per_s: float
    bottleneck: str
    dominant: str
    breakdown: dict
    ttft_breakdown: dict
    memory: dict
    fits: bool
    warnings: list
    num_gpus: int
    kernels_per_step: int
    collectives_per_step: int
    step_bytes: dict
    host_s: float = 0.0          # host time per forward pass the GPUs wait for (in launch_overhead)
    insight: str = ""
    _timeline_parts: tuple = field(default=None, repr=False)
    _timeline: object = field(default=None, repr=False)

    @property
    def timeline(self):
        """pandas DataFrame, one row per kernel / collective of one decode step and of the
        prefill: phase, stage, gpu, stream, micro_batch, layer, name, kind, start_s, end_s,
        duration_s, flops, bytes, bound."""
        if self._timeline is None:
            from .timeline import build
            self._timeline = build(*self._timeline_parts)
        return self._timeline

    @property
    def memory_gb(self) -> dict:
        return {k: v / 1e9 for k, v in self.memory.items()}

    def to_dict(self) -> dict:
        return {
            "scenario": self.scenario.to_dict(),
            "ttft_s": self.ttft_s, "tpot_s": self.tpot_s, "e2e_s": self.e2e_s,
            "output_tokens_per_s": self.output_tokens_per_s,
            "bottleneck": self.bottleneck, "dominant": self.dominant, "insight": self.insight,
            "breakdown": dict(self.breakdown), "ttft_breakdown": dict(self.ttft_breakdown),
            "memory": dict(self.memory), "fits": self.fits, "warnings": list(self.warnings),
            "num_gpus": self.num_gpus, "kernels_per_step": self.kernels_per_step,
            "collectives_per_step": self.collectives_per_step, "step_bytes": dict(self.step_bytes),
            "host_s": self.host_s,
        }

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    def summary(self) -> str:
        sc = self.scenario
        lines = [
            f"{sc.model} on {self.num_gpus} x {sc.gpu} over {sc.interconnect} "
            f"(tp={sc.tp} pp={sc.pp} ep={sc.ep}, batch {sc.batch}, "
            f"{sc.prompt_tokens}+{sc.output_tokens} tokens, {sc.weight_bits}-bit weights)",
            f"  TTFT {self.ttft_s * 1e3:.2f} ms   TPOT {self.tpot_s * 1e3:.3f} ms   "
            f"e2e {self.e2e_s:.3f} s   {self.output_tokens_per_s:.1f} tokens/s",
            f"  memory per GPU {self.memory['total'] / 1e9:.1f} of {self.memory['capacity'] / 1e9:.1f} GB"
            + ("" if self.fits else "  (DOES NOT FIT)"),
            "  decode step: " + ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in self.breakdown.items()),
            f"  {self.bottleneck}: {self.insight}",
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _f(x) -> float:
    return x if x.__class__ is float else float(np.asarray(x))


def simulate(sc: Scenario | None = None, *, adjust_params=None, **kw) -> Result:
    """Simulate one request: ``simulate(sc)``, ``simulate(sc_dict)``, ``simulate(sc, tp=4)``
    (a copy of ``sc`` with fields replaced) or ``simulate(model=..., tp=..., ...)``.
    ``adjust_params``: a function P -> P applied before the closed form (what-if studies)."""
    if sc is None:
        sc = Scenario(**kw)
    else:
        if isinstance(sc, dict):
            sc = Scenario.from_dict(sc)
        if kw:
            sc = sc.replace(**kw)
    P = params(sc)
    if adjust_params is not None:
        P = adjust_params(P)
    return result_from(sc, P, evaluate(P))


def result_from(sc: Scenario, P: dict, out: dict) -> Result:
    """The :class:`Result` of ``sc`` from its parameters ``P`` and ``evaluate(P)`` (scalars:
    one row of a stacked evaluation, see :func:`kernel_model.stack.row`)."""
    dec, pre = out["decode"], out["prefill"]
    bd = {c: _f(dec["breakdown"][c]) for c in CATEGORIES}
    tbd = {c: _f(pre["breakdown"][c]) for c in CATEGORIES}
    mem = {k: _f(v) for k, v in out["memory"].items()}
    code = int(out["bottleneck_code"])
    dominant = CATEGORIES[int(out["dominant_code"])]
    kt = dec["kt"]
    present = [n for n in LAYER_KERNELS if _f(kt[n][0]) > 0]
    n_layer_k = sum(1 for n in present if KIND[n] != "comm")
    n_layer_c = sum(1 for n in present if KIND[n] == "comm")
    tail_c = sum(1 for n in TAIL_KERNELS if KIND[n] == "comm" and _f(kt[n][0]) > 0)
    L = sc.model_spec().layers
    L_stage = -(-L // sc.pp)                  # layers of the first (busiest) stage
    work = dec["work"]
    step_bytes = {"weights_read": _f(memory.weights_read(P, dec["tokens"])),
                  "kv_read": _f(work["attention"][1]) * L_stage}
    step_bytes["comm_sent"] = L_stage * float(sum(_f(work[n][2]) for n in present))
    fits = bool(out["fits"])
    warnings = []
    if not fits:
        short = (mem["total"] - mem["capacity"]) / 1e9
        warnings.append(f"does not fit: needs {mem['total'] / 1e9:.1f} GB per GPU but a "
                        f"{sc.gpu} has {mem['capacity'] / 1e9:.1f} GB (short by {short:.1f} GB); "
                        f"raise tp/pp, lower weight_bits/kv_bits, batch or context")
    warnings += [n for n in (format_note(sc.weight_format_spec(), sc.gpu_spec()),
                             plan_note(sc.runtime, sc.tp, sc.batch)) if n]
    if sc.pp > 1 and sc.micro_batches < sc.pp:
        warnings.append(f"pp={sc.pp} with {sc.micro_batches} micro-batch(es): stages wait for "
                        f"each other (pipeline bubble); use micro_batches >= {sc.pp} for throughput")
    if sc.interconnect != "none" and sc.link_spec().kind != "network" and sc.num_gpus > sc.gpus_per_node:
        warnings.append(f"{sc.num_gpus} GPUs span {-(-sc.num_gpus // sc.gpus_per_node)} "
                        f"nodes joined by {sc.inter_node_spec().name}")
    res = Result(
        scenario=sc, ttft_s=_f(out["ttft_s"]), tpot_s=_f(out["tpot_s"]), e2e_s=_f(out["e2e_s"]),
        output_tokens_per_s=_f(out["output_tokens_per_s"]), bottleneck=LABELS[code],
        dominant=dominant, breakdown=bd, ttft_breakdown=tbd, memory=mem, fits=fits,
        warnings=warnings, num_gpus=sc.num_gpus,
        kernels_per_step=L_stage * n_layer_k + len(HEAD_KERNELS) + len(TAIL_KERNELS) - 1,
        collectives_per_step=L_stage * n_layer_c + tail_c,
        step_bytes=step_bytes, host_s=_f(dec["host"]),
        _timeline_parts=(sc, P, dec, pre),
    )
    res.insight = insight.sentence(res)
    return res
