"""``simulate_training``'s arguments checked and normalised (:class:`TrainingInputs`), and
the engine's parameter dict they select (:func:`engine_params`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..gemm import bad_choice, whole_number, peak_flops
from ..hardware import get_gpu
from ..scenario import Scenario
from ..simulate import params
from .constants import RECOMPUTE, SCHEDULES, PRECISIONS, OPTIMIZERS, TRAINING_CALIBRATION


def _flag(name, v) -> bool:
    """``v`` as a bool (true / false, 1 / 0, yes / no); ValueError otherwise."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return v.strip().lower() in ("true", "1", "yes")
    raise ValueError(f"{name}={v!r} is not allowed: must be true or false")


@dataclass(frozen=True)
class TrainingInputs:
    """``simulate_training``'s arguments after :func:`check_inputs`: sizes as whole numbers,
    flags as bools, ``precision`` resolved from ``weight_bits``."""
    model: object
    gpu: object
    interconnect: object
    seq_len: int
    global_batch: int
    micro_batch: int
    dp: int
    tp: int
    pp: int
    cp: int
    ep: int
    recompute: str
    sp: bool
    zero_stage: int
    schedule: str
    precision: str
    grad_bits: int
    optimizer: str
    flash: bool
    tp_overlap: float
    dp_overlap: float
    algorithm: str
    layers: object
    gpus_per_node: int
    inter_node: str
    efficiency: object

    @property
    def total(self) -> int:
        """GPUs in all: tp * cp * dp * pp."""
        return self.tp * self.cp * self.dp * self.pp

    @property
    def m(self) -> int:
        """Micro-batches per data-parallel replica per iteration."""
        return self.global_batch // (self.micro_batch * self.dp)

    @property
    def wbytes(self) -> float:
        """Bytes per weight as stored (fp32 training keeps 4, the rest 2)."""
        return 4.0 if self.precision == "fp32" else 2.0

    @property
    def gbytes(self) -> float:
        """Bytes per gradient (buffers and their data-parallel sync)."""
        return 4.0 if self.precision == "fp32" else self.grad_bits / 8.0


def _check_choices(precision, recompute, schedule, optimizer, weight_bits, zero_stage,
                   grad_bits) -> str:
    """The precision (``weight_bits=8`` selects fp8) after checking the named choices."""
    if weight_bits is not None:
        if weight_bits not in (8, 16):
            raise ValueError(f"weight_bits={weight_bits!r} is not allowed: training supports "
                             f"16 (bf16) or 8 (fp8)")
        if weight_bits == 8:
            precision = "fp8"
    for name, v, allowed in (("precision", precision, PRECISIONS),
                             ("recompute", recompute, RECOMPUTE),
                             ("schedule", schedule, SCHEDULES),
                             ("optimizer", optimizer, OPTIMIZERS)):
        if v not in allowed:
            raise bad_choice(name, v, allowed)
    if zero_stage not in (0, 1, 2, 3) or isinstance(zero_stage, bool):
        raise ValueError(f"zero_stage={zero_stage!r} is not allowed: must be 0, 1, 2 or 3")
    if grad_bits not in (16, 32):
        raise ValueError(f"grad_bits={grad_bits!r} is not allowed: must be 16 or 32")
    return precision


def _check_layout(seq_len, global_batch, micro_batch, dp, tp, pp, cp, ep, num_gpus):
    """ValueError unless the batch, sequence and parallel sizes fit together."""
    if global_batch % (micro_batch * dp):
        raise ValueError(f"global_batch={global_batch} is not allowed: must be a multiple of "
                         f"micro_batch * dp = {micro_batch * dp}")
    if seq_len % cp:
        raise ValueError(f"cp={cp} does not divide seq_len={seq_len}")
    if ep > tp and (ep % tp or dp % (ep // tp)):
        raise ValueError(f"ep={ep} is not allowed with tp={tp}, dp={dp}: expert parallelism "
                         f"beyond tp borrows data-parallel ranks, so ep/tp must divide dp")
    total = tp * cp * dp * pp
    if num_gpus is not None and whole_number("num_gpus", num_gpus) != total:
        raise ValueError(f"num_gpus={num_gpus} does not match tp*cp*dp*pp = {tp}*{cp}*{dp}*{pp}"
                         f" = {total}")


def check_inputs(model, gpu, interconnect, *, seq_len, global_batch, micro_batch, dp, tp, pp,
                 cp, ep, recompute, sequence_parallel, zero_stage, schedule, precision,
                 weight_bits, grad_bits, optimizer, flash_attention, tp_overlap, dp_overlap,
                 algorithm, layers, num_gpus, gpus_per_node, inter_node,
                 efficiency) -> TrainingInputs:
    """``simulate_training``'s arguments checked (ValueError on the first bad one) and
    normalised."""
    precision = _check_choices(precision, recompute, schedule, optimizer, weight_bits,
                               zero_stage, grad_bits)
    seq_len, global_batch, micro_batch, dp, tp, pp, cp, ep, gpus_per_node = (
        whole_number(name, v) for name, v in (
            ("seq_len", seq_len), ("global_batch", global_batch), ("micro_batch", micro_batch),
            ("dp", dp), ("tp", tp), ("pp", pp), ("cp", cp), ("ep", ep),
            ("gpus_per_node", gpus_per_node)))
    if layers is not None:
        layers = whole_number("layers", layers)
    for name, v in (("tp_overlap", tp_overlap), ("dp_overlap", dp_overlap)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            raise ValueError(f"{name}={v!r} is not allowed: must be in [0, 1]")
    sp = _flag("sequence_parallel", sequence_parallel)
    flash = _flag("flash_attention", flash_attention)
    _check_layout(seq_len, global_batch, micro_batch, dp, tp, pp, cp, ep, num_gpus)
    return TrainingInputs(
        model=model, gpu=gpu, interconnect=interconnect, seq_len=seq_len,
        global_batch=global_batch, micro_batch=micro_batch, dp=dp, tp=tp, pp=pp, cp=cp, ep=ep,
        recompute=recompute, sp=sp, zero_stage=zero_stage, schedule=schedule,
        precision=precision, grad_bits=grad_bits, optimizer=optimizer, flash=flash,
        tp_overlap=tp_overlap, dp_overlap=dp_overlap, algorithm=algorithm, layers=layers,
        gpus_per_node=gpus_per_node, inter_node=inter_node, efficiency=efficiency)


def engine_params(a: TrainingInputs):
    """(GPU, Scenario, the engine's parameter dict) of a training run: training GEMM
    efficiency, the precision's peak FLOP/s and bytes per weight set."""
    g = get_gpu(a.gpu)
    sc = Scenario(model=a.model, gpu=a.gpu, interconnect=a.interconnect or g.native_link,
                  tp=a.tp, pp=a.pp, ep=a.ep, batch=a.micro_batch, prompt_tokens=a.seq_len,
                  output_tokens=1, weight_bits=8 if a.precision == "fp8" else 16,
                  overlap=float(a.tp_overlap), algorithm=a.algorithm, flash_attention=a.flash,
                  layers=a.layers, gpus_per_node=a.gpus_per_node, inter_node=a.inter_node,
                  efficiency=a.efficiency)
    if a.precision == "fp8" and not g.fp8_tflops:
        raise ValueError(f"precision='fp8' is not allowed on gpu={a.gpu!r}: it has no FP8 tensor "
                         f"cores (use bf16)")
    P = params(sc)
    if not (a.efficiency and "flops_efficiency" in a.efficiency):
        P["ef"] = TRAINING_CALIBRATION.gemm_efficiency
    P["F"] = peak_flops(g, a.precision)       # fp32 trains on TF32 tensor cores
    if a.precision == "fp32":
        P["wb"] = 4.0
    return g, sc, P
