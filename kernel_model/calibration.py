"""Calibration: the few physical parameters fitted to published measurements.

Every value is a property of how kernels run on real GPUs, never a per-row correction:
the same numbers apply to every GPU, whose own peak FLOP/s, HBM and link bandwidth
and latency carry the differences between hardware.
"""
from __future__ import annotations

from dataclasses import dataclass, asdict, fields, replace


@dataclass(frozen=True)
class Calibration:
    flops_efficiency: float = 0.72       # achieved / dense peak FLOP/s of large GEMMs
    attention_efficiency: float = 0.79   # achieved / peak FLOP/s of (flash) attention kernels
    hbm_efficiency: float = 0.88         # achieved / peak HBM bandwidth of streaming kernels
    launch_overhead_s: float = 11.7e-6    # gap per kernel launch (CUDA-graph replay), s
    collective_overhead_s: float = 8.6e-6 # per sync round of a collective call (x log2 ranks), s
    collective_step_s: float = 0.0       # extra latency per algorithm step (hop handshake), s
    direct_allreduce_max_bytes: float = 524288.0   # "auto" uses one/two-shot all-reduce up to this size
    step_overhead_s: float = 0.0         # host work per decode step (sampling, scheduling), s
    eager_server_step_s: float = 15.5e-3  # host time per forward pass, "eager_server" runtime, s
    roofline_exponent: float = 1.46       # n in (compute^n + memory^n)^(1/n); inf = ideal max
    source: str = "defaults"

    def to_dict(self) -> dict:
        return asdict(self)

    def replace(self, **kw) -> "Calibration":
        names = {f.name for f in fields(self)}
        bad = [k for k in kw if k not in names]
        if bad:
            from .hardware import closest
            near = closest(bad[0], names)
            raise ValueError(f"efficiency field {bad[0]!r} is unknown"
                             + (f"; closest: {', '.join(near)}" if near else "")
                             + f" (valid: {', '.join(sorted(n for n in names if n != 'source'))})")
        for k, v in kw.items():
            if k == "source":
                continue
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"efficiency field {k}={v!r} must be a number >= 0")
            if k.endswith("efficiency") and not 0 < v <= 1:
                raise ValueError(f"efficiency field {k}={v!r} must be in (0, 1]")
        return replace(self, **kw)


# Fitted on shared/data/measurements.csv by kernel_model.calibrate.fit (see
# benchmarks/bench_validate.py and `nexora validate`).
DEFAULT = Calibration(source="fitted to shared/data/measurements.csv (A100 inference)")
