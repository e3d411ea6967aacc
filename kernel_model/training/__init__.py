"""Training step time, memory and MFU of a dense or MoE transformer on many GPUs.

``simulate_training(...) -> TrainingResult`` reuses the inference engine's kernels
(:func:`kernel_model.kernels.layer_work` / :func:`~kernel_model.kernels.kernel_times`) and
collectives on the parameter dict of :func:`kernel_model.simulate.params`, so hardware,
calibration and model shapes are shared with ``simulate()``.

One micro-batch on one pipeline stage:

* forward   a prefill-like pass of ``micro_batch * seq_len / cp`` tokens through the stage's
            layers (TP all-reduces, MoE all-to-alls, context-parallel KV exchange);
* backward  GEMMs twice the forward FLOPs and bytes (input and weight gradients), attention
            2.5x (FlashAttention recomputes the scores) or 2x, element-wise kernels 2x, the
            same TP collectives as the forward;
* recompute ``full``: the whole layer forward again (with its collectives) before its
            backward; ``selective``: the attention core again (free with FlashAttention,
            whose backward already recomputes it); ``none``: nothing.

The pipeline (1F1B or GPipe, ``m = global_batch / (micro_batch * dp)`` micro-batches) takes
``(m - 1) * max_s(t_s) + sum_s(t_s)`` plus the activation / gradient sends between stages,
i.e. a bubble of ``(pp - 1) / m`` of the work for equal stages. Data parallelism adds the
gradient all-reduce (ZeRO 0), reduce-scatter + parameter all-gather (ZeRO 1, 2) or
per-micro-batch parameter all-gathers (ZeRO 3); a fraction ``dp_overlap`` of it hides
behind the backward of the last micro-batch (and the next forward, for the all-gather).
Then the optimizer step streams its states through HBM.

GPUs are numbered TP fastest, then CP, DP, PP (Megatron order); groups that span more than
``gpus_per_node`` GPUs use the inter-node link (ib_hdr for Ampere, ib_ndr for newer).

Times in seconds, memory in bytes per GPU, FLOPs counted as performed (causal attention
computes half the score matrix).

Modules: ``constants`` (choices, phases, the fitted calibration, backward ratios),
``inputs`` (argument checks, the engine's parameters), ``costs`` (collectives and
element-wise kernels as training uses them), ``passes`` (one micro-batch's forward,
backward and recompute per layer and at the ends), ``pipeline`` (stages, sends, 1F1B /
GPipe time), ``data_parallel`` (ZeRO, gradient sync, optimizer step), ``memory``,
``accounting`` (time by cause and phase, FLOPs, traffic), ``iteration``
(``simulate_training``), ``result`` (``TrainingResult``), ``timeline`` (the event schedule
behind ``TrainingResult.timeline``) and ``cli`` (``nexora --mode training``).
"""
from __future__ import annotations

from .constants import (RECOMPUTE, SCHEDULES, PRECISIONS, OPTIMIZERS, PHASES,
                        TrainingCalibration, TRAINING_CALIBRATION, BWD_FLOPS, BWD_BYTES,
                        FLASH_BWD_ATTENTION, PLAIN_BWD_ATTENTION)
from .timeline import TIMELINE_COLUMNS, run_schedule
from .result import TrainingResult
from .iteration import simulate_training
from .cli import cli_main

__all__ = ["simulate_training", "TrainingResult", "TrainingCalibration", "TRAINING_CALIBRATION",
           "RECOMPUTE", "SCHEDULES", "PRECISIONS", "OPTIMIZERS", "PHASES", "BWD_FLOPS",
           "BWD_BYTES", "FLASH_BWD_ATTENTION", "PLAIN_BWD_ATTENTION", "TIMELINE_COLUMNS",
           "run_schedule", "cli_main"]
