"""``simulate_training``: one optimizer step, from the checked inputs through the
micro-batch passes, the pipeline, data parallelism and the optimizer to a
:class:`~kernel_model.training.result.TrainingResult`."""
from __future__ import annotations

import math

from .accounting import breakdown, phases, flop_counts, traffic
from .data_parallel import dp_groups, zero3_time, dp_sync, optimizer_step
from .inputs import TrainingInputs, check_inputs, engine_params
from .memory import _memory, fit_warning
from .passes import micro_batch_passes
from .pipeline import stage_times, pipeline_hops, pipeline_time
from .result import TrainingResult


def simulate_training(model="gpt-175b", gpu="a100-sxm-80gb", interconnect=None, *,
                      seq_len=2048, global_batch=64, micro_batch=1, dp=1, tp=1, pp=1, cp=1,
                      ep=1, recompute="none", sequence_parallel=False, zero_stage=0,
                      schedule="1f1b", precision="bf16", weight_bits=None, grad_bits=16,
                      optimizer="adam", flash_attention=True, tp_overlap=0.0, dp_overlap=1.0,
                      algorithm="auto", layers=None, num_gpus=None, gpus_per_node=8,
                      inter_node="auto", efficiency=None) -> TrainingResult:
    """Simulate one optimizer step (iteration) of training.

    ``model``/``gpu``/``interconnect``: preset names (``interconnect`` None: the GPU's native
    link). ``global_batch`` sequences of ``seq_len`` tokens per iteration, ``micro_batch``
    sequences per micro-batch per data-parallel replica. ``precision``: bf16 / fp16 (16-bit
    weights, fp32 master copy), fp8 (FP8 GEMMs, bf16 weights, fp32 master), fp32 (TF32
    GEMMs at half the 16-bit peak, no master copy); ``weight_bits=8`` is accepted as fp8.
    ``grad_bits``: 16 or 32 (gradient buffers and their all-reduce). ``tp_overlap``: share
    of TP communication hidden behind concurrent GEMMs; ``dp_overlap``: share of DP
    communication hidden behind the last backward / first forward. ``num_gpus``, when
    given, must equal ``tp * cp * dp * pp``. ``efficiency``: calibration overrides.
    """
    a = check_inputs(
        model, gpu, interconnect, seq_len=seq_len, global_batch=global_batch,
        micro_batch=micro_batch, dp=dp, tp=tp, pp=pp, cp=cp, ep=ep, recompute=recompute,
        sequence_parallel=sequence_parallel, zero_stage=zero_stage, schedule=schedule,
        precision=precision, weight_bits=weight_bits, grad_bits=grad_bits, optimizer=optimizer,
        flash_attention=flash_attention, tp_overlap=tp_overlap, dp_overlap=dp_overlap,
        algorithm=algorithm, layers=layers, num_gpus=num_gpus, gpus_per_node=gpus_per_node,
        inter_node=inter_node, efficiency=efficiency)
    return _simulate(a)


def _simulate(a: TrainingInputs) -> TrainingResult:
    """One iteration of the checked inputs ``a``: seconds, bytes per GPU, FLOPs, MFU."""
    g, sc, P = engine_params(a)
    lp, ends = micro_batch_passes(a, sc, P)
    spec = sc.model_spec()
    L = spec.layers
    st = stage_times(P, lp, ends, L, a.pp)
    hops = pipeline_hops(a, P)

    # the critical stage's parameters per GPU over the data-parallel groups
    dpg = dp_groups(a, P)
    n_dense, n_exp = st.params[st.crit]
    z3_mb = zero3_time(a, dpg, n_dense, n_exp, st.busy[st.crit])
    pl = pipeline_time(a, st, hops, z3_mb)
    t_dp, dp_exposed = dp_sync(a, dpg, n_dense, n_exp, st.bwd[0] + st.rec[0], st.fwd[0])
    t_opt, opt_compute, state_b, opt_bytes_pp = optimizer_step(a, P, dpg, n_dense, n_exp)
    iteration = pl.pipe + dp_exposed + t_opt + P["t_step"]

    ph = phases(P, a, st, pl, dp_exposed, t_opt)
    model_flops, hardware_flops = flop_counts(a, lp, ends, L)
    peak = P["F"]
    total = a.total
    per_gpu, tot = traffic(P, a, lp, ends, st, hops, dpg, opt_bytes_pp)
    # memory per GPU (the busiest stage: stage 0 holds the most in-flight micro-batches)
    mem = _memory(P, a, st, dpg, state_b)
    fits = mem["total"] <= mem["capacity"]
    nodes = math.ceil(total / P["gpn"])
    res = TrainingResult(
        config=_config(a, g, sc, spec.name, L),
        iteration_s=float(iteration),
        breakdown=breakdown(P, a, lp, ends, st, pl, dp_exposed, t_opt, opt_compute),
        phases=ph, mfu=float(model_flops / (iteration * total * peak)),
        hfu=float(hardware_flops / (iteration * total * peak)),
        tokens_per_s=a.global_batch * a.seq_len / iteration,
        samples_per_s=a.global_batch / iteration, memory=mem, fits=bool(fits),
        warnings=_warnings(a, g, sc, mem, fits, nodes), num_gpus=total, nodes=nodes,
        micro_batches=a.m, bubble_fraction=ph["pipeline_bubble"] / iteration,
        model_flops=float(model_flops), hardware_flops=float(hardware_flops),
        per_gpu=per_gpu, totals=tot, peak_flops=float(peak), stage_s=pl.stage_mb)
    res._parts = (_schedule_parts(a, lp, st, hops, pl, t_dp, dp_exposed, t_opt),)
    return res


def _warnings(a, g, sc, mem, fits, nodes):
    """Warnings of an iteration: memory that does not fit, a starved pipeline, many nodes."""
    warnings = []
    if not fits:
        warnings.append(fit_warning(mem, g.name))
    pp, m = a.pp, a.m
    if pp > 1 and m < pp:
        warnings.append(f"{m} micro-batch(es) for pp={pp}: most of the pipeline idles; use a "
                        f"global_batch with at least {pp} micro-batches per replica")
    if nodes > 1 and sc.link_spec().kind != "network":
        warnings.append(f"{a.total} GPUs span {nodes} nodes joined by "
                        f"{sc.inter_node_spec().name}")
    return warnings


def _config(a, g, sc, model_name, L):
    """The result's ``config``: the run's settings as resolved (names, sizes, options)."""
    return dict(model=model_name, gpu=g.name, interconnect=sc.link_spec().name,
                inter_node=sc.inter_node_spec().name, seq_len=a.seq_len,
                global_batch=a.global_batch, micro_batch=a.micro_batch, dp=a.dp, tp=a.tp,
                pp=a.pp, cp=a.cp, ep=a.ep, recompute=a.recompute, sequence_parallel=a.sp,
                zero_stage=a.zero_stage, schedule=a.schedule, precision=a.precision,
                grad_bits=int(a.gbytes * 8), optimizer=a.optimizer,
                flash_attention=a.flash, tp_overlap=float(a.tp_overlap),
                dp_overlap=float(a.dp_overlap), algorithm=a.algorithm, layers=L,
                gpus_per_node=a.gpus_per_node)


def _schedule_parts(a, lp, st, hops, pl, t_dp, dp_exposed, t_opt):
    """What :func:`~kernel_model.training.timeline._timeline_frame` needs: seconds per stage
    per micro-batch, hops, sync and optimizer seconds, FLOPs and bytes per stage."""
    return dict(fwd=pl.f_mb, bwd=[t - r for t, r in zip(pl.b_mb, st.rec)],
                rec=st.rec, hop=hops.hop, m=a.m, pp=a.pp, schedule=a.schedule,
                gpus_per_stage=hops.group, t_dp=t_dp, dp_exposed=dp_exposed, t_opt=t_opt,
                S=hops.S, zero_stage=a.zero_stage, pipe=pl.pipe,
                **{f"{k}_{p}": [n * lp[f"{t}_tot"][i] for n in st.sizes]
                   for p, t in (("f", "fwd"), ("b", "bwd"), ("r", "rec"))
                   for k, i in (("flops", 0), ("bytes", 1))})
