"""What :func:`~kernel_model.training.simulate_training` returns: :class:`TrainingResult`,
with its lazily built timeline, dict / JSON forms and a text summary."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from .timeline import _timeline_frame


@dataclass
class TrainingResult:
    """What :func:`simulate_training` returns. Seconds, bytes per GPU, FLOP/s."""
    config: dict
    iteration_s: float
    breakdown: dict            # by cause (engine categories); sums to iteration_s
    phases: dict               # by phase (PHASES); sums to iteration_s
    mfu: float                 # model FLOPs / (iteration_s * num_gpus * peak)
    hfu: float                 # FLOPs performed (with recompute) / (iteration_s * num_gpus * peak)
    tokens_per_s: float
    samples_per_s: float
    memory: dict               # bytes per GPU: weights, gradients, optimizer_states, activations, total, capacity
    fits: bool
    warnings: list
    num_gpus: int
    nodes: int
    micro_batches: int
    bubble_fraction: float     # pipeline_bubble / iteration_s
    model_flops: float         # per iteration, all GPUs (forward + backward, no recompute)
    hardware_flops: float      # per iteration, all GPUs, with recompute
    per_gpu: dict              # flops, hbm_bytes, link_bytes of one GPU of the critical stage per iteration
    totals: dict               # flops, hbm_bytes, link_bytes (intra-node), network_bytes over all GPUs per iteration
    peak_flops: float          # per GPU, FLOP/s, of the compute precision
    stage_s: list = field(default_factory=list)   # busy time per stage per micro-batch
    _parts: tuple = field(default=None, repr=False)
    _timeline: object = field(default=None, repr=False)

    @property
    def memory_gb(self) -> dict:
        return {k: v / 1e9 for k, v in self.memory.items()}

    @property
    def timeline(self):
        """pandas DataFrame of the schedule, one row per (stage, micro-batch, op): phase
        (forward | backward | recompute | p2p | dp_communication | optimizer), stage, gpu
        (first GPU of the stage), stream (compute | comm), micro_batch (-1: once per
        iteration), layer (-1: all the stage's layers), name, kind (gemm for the passes, whose
        time is mostly GEMMs; comm; elementwise for the optimizer), start_s, end_s,
        duration_s, flops, bytes (per GPU), bound."""
        if self._timeline is None:
            self._timeline = _timeline_frame(*self._parts)
        return self._timeline

    def to_dict(self) -> dict:
        return {"config": dict(self.config), "iteration_s": self.iteration_s,
                "breakdown": dict(self.breakdown), "phases": dict(self.phases),
                "mfu": self.mfu, "hfu": self.hfu, "tokens_per_s": self.tokens_per_s,
                "samples_per_s": self.samples_per_s, "memory": dict(self.memory),
                "fits": self.fits, "warnings": list(self.warnings), "num_gpus": self.num_gpus,
                "nodes": self.nodes, "micro_batches": self.micro_batches,
                "bubble_fraction": self.bubble_fraction, "model_flops": self.model_flops,
                "hardware_flops": self.hardware_flops, "per_gpu": dict(self.per_gpu),
                "totals": dict(self.totals),
                "peak_flops": self.peak_flops}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    def summary(self) -> str:
        c = self.config
        mem = self.memory
        lines = [
            f"training {c['model']} on {self.num_gpus} x {c['gpu']} ({self.nodes} node(s)): "
            f"tp={c['tp']} pp={c['pp']} dp={c['dp']} cp={c['cp']} ep={c['ep']}, "
            f"seq {c['seq_len']}, global batch {c['global_batch']} "
            f"({self.micro_batches} micro-batches of {c['micro_batch']}), "
            f"recompute {c['recompute']}, ZeRO {c['zero_stage']}, {c['schedule']}",
            f"  iteration {self.iteration_s:.3f} s   MFU {self.mfu:.1%}   "
            f"{self.tokens_per_s:,.0f} tokens/s   bubble {self.bubble_fraction:.1%}",
            "  by cause: " + ", ".join(f"{k} {v:.3f} s" for k, v in self.breakdown.items()),
            "  by phase: " + ", ".join(f"{k} {v:.3f} s" for k, v in self.phases.items()),
            f"  memory per GPU {mem['total'] / 1e9:.1f} of {mem['capacity'] / 1e9:.1f} GB: "
            f"weights {mem['weights'] / 1e9:.1f}, gradients {mem['gradients'] / 1e9:.1f}, "
            f"optimizer {mem['optimizer_states'] / 1e9:.1f}, activations "
            f"{mem['activations'] / 1e9:.1f}" + ("" if self.fits else "  (DOES NOT FIT)"),
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

