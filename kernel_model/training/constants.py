"""The choices ``simulate_training`` accepts, the phases it reports, its one fitted
parameter and the backward / forward work ratios per kernel kind."""
from __future__ import annotations

from dataclasses import dataclass

RECOMPUTE = ("none", "selective", "full")
SCHEDULES = ("1f1b", "gpipe")
PRECISIONS = ("bf16", "fp16", "fp8", "fp32")
OPTIMIZERS = ("adam", "sgd")
PHASES = ("forward", "backward", "recompute", "p2p", "pipeline_bubble", "dp_communication",
          "optimizer")


@dataclass(frozen=True)
class TrainingCalibration:
    """The one fitted training parameter, and where it comes from.

    ``gemm_efficiency``: achieved / dense peak FLOP/s of training GEMMs. Their rows are
    ``micro_batch * seq_len`` tokens (>= 2048) against hidden sizes >= 6144, far larger than
    the prefill GEMMs the inference calibration averages over; cuBLAS runs such shapes at
    80-90 % of the A100's dense peak. Fitted to shared/data/training_measurements.csv
    (Megatron-LM GPT 22B-1T on A100, Korthikanti et al. 2022) with the engine's kernels,
    collectives, HBM efficiency and roofline unchanged (see benchmarks/bench_training.py).
    An explicit ``efficiency={"flops_efficiency": x}`` passed to ``simulate_training``
    takes precedence.
    """
    gemm_efficiency: float = 0.84
    source: str = "fitted to shared/data/training_measurements.csv (A100 Megatron GPT)"


TRAINING_CALIBRATION = TrainingCalibration()

# Backward / forward ratios per kernel kind (FLOPs and HBM bytes).
BWD_FLOPS = {"gemm": 2.0, "elementwise": 2.0}
BWD_BYTES = {"gemm": 2.0, "attention": 2.0, "elementwise": 2.0}
FLASH_BWD_ATTENTION = 2.5   # FlashAttention backward: 5 matmuls against 2 in the forward
PLAIN_BWD_ATTENTION = 2.0   # unfused attention backward reads the stored scores
