"""GEMM mode: one matrix multiply C[m, n] = A[m, k] @ B[k, n] on one or several GPUs.

``gemm(m, k, n, gpu=..., dtype=..., tp=..., shard=...)`` uses the engine's roofline
(:func:`kernel_model.kernels.roofline`) and calibration (:data:`kernel_model.calibration.DEFAULT`
unless ``efficiency`` overrides fields), plus the collective that the sharding needs:

* ``shard="col"`` (column-parallel): B is split along n; each GPU computes C[:, n/tp] and an
  all-gather assembles C (``gather=False`` leaves it sharded, as Megatron's MLP-up does);
* ``shard="row"`` (row-parallel): A and B are split along k; each GPU computes a partial
  C[m, n] and an all-reduce sums them.

``backward=True`` adds the two backward GEMMs (input and weight gradients, same FLOPs each)
and the backward collective (col: all-reduce of dA; row: none).

Times in seconds, FLOP/s in 1e12 (TFLOP/s), bytes per GPU, intensity in FLOP/byte.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, asdict

import numpy as np

from . import collectives as coll
from .calibration import DEFAULT
from .hardware import get_gpu, get_interconnect, inter_node_for, closest
from .kernels import roofline
from .collectives import ALGORITHMS
from .simulate import link_params
from . import rules

# dtype -> (bytes per input element, bytes per output element)
DTYPES = {"fp32": (4, 4), "tf32": (4, 4), "bf16": (2, 2), "fp16": (2, 2), "fp8": (1, 2)}
SHARDS = ("col", "row")


def peak_flops(gpu, dtype: str) -> float:
    """Dense tensor-core peak (FLOP/s) of ``gpu`` for ``dtype`` (fp32 runs as TF32, half the
    16-bit peak on Ampere and newer)."""
    if dtype in ("fp32", "tf32"):
        return gpu.bf16_tflops * 1e12 / 2.0
    if dtype == "fp8" and not gpu.fp8_tflops:
        ok = [d for d in DTYPES if d != "fp8"]
        raise ValueError(f"dtype='fp8' is not allowed on gpu={gpu.name!r}: it has no FP8 "
                         f"tensor cores (valid here: {', '.join(ok)})")
    return gpu.peak_flops(8 if dtype == "fp8" else 16)


# ---- input checks and the CLI runner (shared with kernel_model.training) --------------------
def bad_choice(name, value, allowed) -> ValueError:
    """``name=value is not allowed; closest: ... (valid: ...)`` for a value outside ``allowed``."""
    near = closest(str(value), [str(a) for a in allowed])
    hint = f"; closest: {', '.join(near)}" if near else ""
    return ValueError(f"{name}={value!r} is not allowed{hint} (valid: "
                      f"{', '.join(str(a) for a in allowed)})")


def whole_number(name, v, minimum=1) -> int:
    """``v`` as an int, or ValueError naming ``name`` unless it is a whole number >= minimum."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{name}={v!r} is not allowed: must be a whole number >= {minimum}")
    return int(v)


def run_cli(parser, argv, mode, run) -> int:
    """``nexora --mode <mode>``: parse ``argv``, print ``run(args)`` (text) and return 0; on
    bad input print one ``nexora: error:`` line on stderr and return 2."""
    from .cli import BadInput
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        a = parser.parse_args(argv)
        if a.mode != mode:
            raise ValueError(f"--mode={a.mode!r} is not allowed here: this is the {mode} mode")
        text = run(a)
    except (ValueError, OSError, BadInput) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"nexora: error: {msg}", file=sys.stderr)
        return 2
    except SystemExit as e:          # --help
        return int(e.code or 0)
    print(text)
    return 0


@dataclass
class GemmResult:
    """One GEMM's time and where it sits on the roofline."""
    m: int
    k: int
    n: int
    gpu: str
    dtype: str
    tp: int
    shard: str
    backward: bool
    time_s: float                 # kernel(s) + collective(s)
    kernel_s: float               # roofline time of the GEMM(s) on one GPU, with launch
    compute_s: float              # FLOPs / achievable FLOP/s, one GPU
    memory_s: float               # HBM bytes / achievable bandwidth, one GPU
    comm_s: float                 # collective time
    collective: str               # none | all-gather | all-reduce (| + all-reduce for backward)
    flops: float                  # total over all GPUs
    flops_per_gpu: float
    bytes_per_gpu: float          # HBM bytes one GPU reads and writes
    comm_bytes: float             # message size of the collective(s)
    arithmetic_intensity: float   # flops_per_gpu / bytes_per_gpu, FLOP/byte
    ridge_intensity: float        # achievable FLOP/s / achievable bytes/s, FLOP/byte
    peak_tflops: float            # dense peak of one GPU for this dtype
    achievable_tflops: float      # peak x calibrated GEMM efficiency
    achieved_tflops: float        # flops / time_s / 1e12 (all GPUs together)
    achieved_tflops_per_gpu: float
    bound: str                    # "compute" | "memory" (the GEMM kernel itself)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        sh = f", tp={self.tp} {self.shard}-parallel" if self.tp > 1 else ""
        comm = (f", {self.collective} {self.comm_s * 1e6:.1f} us" if self.collective != "none"
                else "")
        lines = [f"GEMM {self.m} x {self.k} x {self.n} ({self.dtype}) on {self.gpu}{sh}"
                 + (" with backward" if self.backward else ""),
                 f"  time {self.time_s * 1e6:.1f} us (kernel {self.kernel_s * 1e6:.1f} us{comm})",
                 f"  {self.achieved_tflops:.1f} TFLOP/s achieved ({self.achieved_tflops_per_gpu:.1f} "
                 f"per GPU of {self.peak_tflops:.0f} peak, {self.achievable_tflops:.0f} achievable)",
                 f"  arithmetic intensity {self.arithmetic_intensity:.1f} FLOP/byte "
                 f"(ridge {self.ridge_intensity:.1f}): {self.bound.upper()}-BOUND"]
        return "\n".join(lines)


def gemm(m, k, n, gpu="h100-sxm", dtype="bf16", tp=1, shard="col", *, interconnect=None,
         gather=True, backward=False, algorithm="auto", gpus_per_node=8, efficiency=None
         ) -> GemmResult:
    """Time of C[m, n] = A[m, k] @ B[k, n] (sizes in elements) on ``tp`` GPUs.

    ``interconnect``: preset joining the GPUs (None: the GPU's native link).
    """
    m, k, n = (whole_number(a, v) for a, v in (("m", m), ("k", k), ("n", n)))
    for name, v, allowed in (("dtype", dtype, DTYPES), ("shard", shard, SHARDS),
                             ("algorithm", algorithm, ALGORITHMS)):
        if v not in allowed:
            raise bad_choice(name, v, list(allowed))
    # the Scenario's own rules for the fields they share
    tp = rules.check_value("tp", tp)
    gpus_per_node = rules.check_value("gpus_per_node", gpus_per_node)
    gather, backward = rules.check_bool("gather", gather), rules.check_bool("backward", backward)
    g = get_gpu(gpu)
    rules.check_link_algorithm(algorithm, get_interconnect(interconnect or g.native_link))
    cal = DEFAULT.replace(**efficiency) if efficiency else DEFAULT
    split = n if shard == "col" else k
    if tp > 1 and split % tp:
        dim = "n" if shard == "col" else "k"
        raise ValueError(f"tp={tp} does not divide {dim}={split} ({shard}-parallel splits {dim})")
    peak = peak_flops(g, dtype)
    ib, ob = DTYPES[dtype]
    if shard == "col":
        a_el, b_el, c_el = m * k, k * n / tp, m * n / tp
    else:
        a_el, b_el, c_el = m * k / tp, k * n / tp, m * n
    f1 = 2.0 * m * k * n / tp
    by1 = (a_el + b_el) * ib + c_el * ob
    flops_gpu, bytes_gpu = f1, by1
    nk = 1
    if backward:
        # dA = dC @ B^T and dB = A^T @ dC: same FLOPs, each reads two operands, writes one
        flops_gpu += 2 * f1
        bytes_gpu += (c_el * ob + b_el * ib + a_el * ob) + (a_el * ib + c_el * ob + b_el * ob)
        nk = 3
    F, B = peak * cal.flops_efficiency, g.hbm_gbps * 1e9 * cal.hbm_efficiency
    t, c, mm = roofline(flops_gpu, bytes_gpu, F, B, cal.roofline_exponent)
    kernel = float(t) + nk * cal.launch_overhead_s
    # the collective(s)
    comm, comm_bytes, what = 0.0, 0.0, "none"
    if tp > 1:
        L = link_params(g, get_interconnect(interconnect or g.native_link), inter_node_for(g),
                        algorithm, gpus_per_node, cal.collective_step_s)
        S = float(m * n * ob)
        if shard == "col":
            if gather:
                comm += float(coll.allgather(S, tp, L, cal.collective_overhead_s))
                comm_bytes += S
                what = "all-gather"
            if backward:
                Sa = float(m * k * ob)
                comm += float(coll.allreduce(Sa, tp, L, cal.collective_overhead_s))
                comm_bytes += Sa
                what = "all-reduce" if what == "none" else what + " + all-reduce"
        else:
            comm += float(coll.allreduce(S, tp, L, cal.collective_overhead_s))
            comm_bytes += S
            what = "all-reduce"
    total = kernel + comm
    flops_all = flops_gpu * tp
    return GemmResult(
        m=m, k=k, n=n, gpu=g.name, dtype=dtype, tp=tp, shard=shard, backward=bool(backward),
        time_s=total, kernel_s=kernel, compute_s=float(c), memory_s=float(mm), comm_s=comm,
        collective=what, flops=flops_all, flops_per_gpu=flops_gpu, bytes_per_gpu=bytes_gpu,
        comm_bytes=comm_bytes, arithmetic_intensity=flops_gpu / bytes_gpu, ridge_intensity=F / B,
        peak_tflops=peak / 1e12, achievable_tflops=F / 1e12,
        achieved_tflops=flops_all / total / 1e12, achieved_tflops_per_gpu=flops_gpu / total / 1e12,
        bound="compute" if float(c) >= float(mm) else "memory")


# ---- CLI -------------------------------------------------------------------------------------
def cli_main(argv=None) -> int:
    """``nexora --mode gemm --m 4096 --k 4096 --n 4096 --gpu h100-sxm [--dtype fp8]
    [--tp 2 --shard row] [--backward] [--json]``. Exit 2 with one line on bad input."""
    from .cli import _Parser
    p = _Parser(prog="nexora --mode gemm", allow_abbrev=False, description="Time and roofline position of one GEMM.")
    p.add_argument("--mode", default="gemm")
    p.add_argument("--m", type=int, required=True)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--gpu", default="h100-sxm")
    p.add_argument("--dtype", default="bf16")
    p.add_argument("--tp", type=int, default=1)
    p.add_argument("--shard", default="col")
    p.add_argument("--interconnect", default=None)
    p.add_argument("--no-gather", action="store_true")
    p.add_argument("--backward", action="store_true")
    p.add_argument("--json", action="store_true")

    def run(a):
        r = gemm(a.m, a.k, a.n, gpu=a.gpu, dtype=a.dtype, tp=a.tp, shard=a.shard,
                 interconnect=a.interconnect, gather=not a.no_gather, backward=a.backward)
        return json.dumps(r.to_dict(), indent=2) if a.json else r.summary()
    return run_cli(p, argv, "gemm", run)
