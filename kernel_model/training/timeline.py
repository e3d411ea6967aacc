"""The timeline of one training iteration: every stage's forwards, backwards (with
recompute), pipeline sends, gradient sync and optimizer step, from an event simulation of
the 1F1B or GPipe order (``run_schedule``). Built lazily by ``TrainingResult.timeline``."""
from __future__ import annotations

import numpy as np

TIMELINE_COLUMNS = ("phase", "stage", "gpu", "stream", "micro_batch", "layer", "name", "kind",
                    "start_s", "end_s", "duration_s", "flops", "bytes", "bound")


def _schedule_order(schedule, pp, m, s):
    """Stage ``s``'s ops in order: ("F" | "B", micro-batch) for 1F1B or GPipe."""
    if schedule == "gpipe":
        return [("F", j) for j in range(m)] + [("B", j) for j in range(m)]
    warm = min(pp - s - 1, m)
    ops = [("F", j) for j in range(warm)]
    for i in range(m - warm):
        ops.append(("F", warm + i))
        ops.append(("B", i))
    ops += [("B", j) for j in range(m - warm, m)]
    return ops


def run_schedule(fwd, bwd, hop, m, schedule="1f1b"):
    """Start and end times (s) of every forward and backward of every stage.

    ``fwd[s]``/``bwd[s]``: busy time of stage s per micro-batch; ``hop[s]``: send time
    from stage s to s+1. Each stage runs its ops in 1F1B (or GPipe) order; a forward
    needs the previous stage's forward, a backward the next stage's backward.
    Returns (F_start, F_end, B_start, B_end) arrays of shape (pp, m).
    """
    pp = len(fwd)
    Fs, Fe = np.full((pp, m), np.nan), np.full((pp, m), np.nan)
    Bs, Be = np.full((pp, m), np.nan), np.full((pp, m), np.nan)
    orders = [_schedule_order(schedule, pp, m, s) for s in range(pp)]
    ptr = [0] * pp
    free = [0.0] * pp
    left = sum(len(o) for o in orders)
    direction = 1
    while left:
        moved = 0
        rng = range(pp) if direction > 0 else range(pp - 1, -1, -1)
        for s in rng:
            order = orders[s]
            while ptr[s] < len(order):
                kind, j = order[ptr[s]]
                if kind == "F":
                    ready = 0.0 if s == 0 else Fe[s - 1, j] + hop[s - 1]
                    if s > 0 and np.isnan(Fe[s - 1, j]):
                        break
                    t0 = max(free[s], ready)
                    Fs[s, j], Fe[s, j] = t0, t0 + fwd[s]
                else:
                    if s == pp - 1:
                        ready = Fe[s, j]
                    else:
                        if np.isnan(Be[s + 1, j]):
                            break
                        ready = Be[s + 1, j] + hop[s]
                    t0 = max(free[s], ready)
                    Bs[s, j], Be[s, j] = t0, t0 + bwd[s]
                free[s] = (Fe if kind == "F" else Be)[s, j]
                ptr[s] += 1
                left -= 1
                moved += 1
        if not moved and left:
            raise RuntimeError("pipeline schedule deadlocked")   # cannot happen for 1F1B/GPipe
        direction = -direction
    return Fs, Fe, Bs, Be


def _timeline_frame(sched):
    """The DataFrame behind ``TrainingResult.timeline`` (``TIMELINE_COLUMNS``; seconds, FLOPs
    and bytes per GPU) from the schedule parts ``sched`` of ``simulate_training``."""
    import pandas as pd
    pp, m = sched["pp"], sched["m"]
    fwd, bwd, rec = sched["fwd"], sched["bwd"], sched["rec"]
    Fs, Fe, Bs, Be = run_schedule(fwd, [b + r for b, r in zip(bwd, rec)], sched["hop"], m,
                                  sched["schedule"])
    cols = {c: [] for c in TIMELINE_COLUMNS}

    def add(phase, stage, stream, mb, name, kind, start, dur, flops, byts, bound):
        n = len(start)
        cols["phase"].append(np.full(n, phase, dtype=object))
        cols["stage"].append(np.full(n, stage))
        cols["gpu"].append(np.full(n, stage * sched["gpus_per_stage"]))
        cols["stream"].append(np.full(n, stream, dtype=object))
        cols["micro_batch"].append(np.asarray(mb))
        cols["layer"].append(np.full(n, -1))
        cols["name"].append(np.full(n, name, dtype=object))
        cols["kind"].append(np.full(n, kind, dtype=object))
        cols["start_s"].append(np.asarray(start, dtype=float))
        cols["end_s"].append(np.asarray(start, dtype=float) + dur)
        cols["duration_s"].append(np.full(n, dur))
        cols["flops"].append(np.full(n, flops))
        cols["bytes"].append(np.full(n, byts))
        cols["bound"].append(np.full(n, bound, dtype=object))

    mbs = np.arange(m)
    for s in range(pp):
        add("forward", s, "compute", mbs, "forward", "gemm", Fs[s], fwd[s],
            sched["flops_f"][s], sched["bytes_f"][s], "compute")
        if rec[s] > 0:
            add("recompute", s, "compute", mbs, "recompute", "gemm", Bs[s], rec[s],
                sched["flops_r"][s], sched["bytes_r"][s], "compute")
        add("backward", s, "compute", mbs, "backward", "gemm", Bs[s] + rec[s], bwd[s],
            sched["flops_b"][s], sched["bytes_b"][s], "compute")
        if s < pp - 1:
            h = sched["hop"][s]
            add("p2p", s, "comm", mbs, "send_activations", "comm", Fe[s], h, 0.0, sched["S"], "comm")
            add("p2p", s + 1, "comm", mbs, "send_gradients", "comm", Be[s + 1], h, 0.0, sched["S"], "comm")
    end_pipe = float(np.nanmax(Be))
    if end_pipe - sched["pipe"] <= 1e-9 * sched["pipe"]:
        # the closed form's pipeline time (it also counts the 1F1B steady-state hops that
        # the event schedule may overlap; a rounding-level difference otherwise): the
        # gradient sync and optimizer start there, so the timeline ends exactly at
        # iteration_s (less the host step overhead)
        end_pipe = sched["pipe"]
    t0 = end_pipe
    if sched["t_dp"] > 0:
        name = "grad_allreduce" if sched["zero_stage"] == 0 else "grad_reduce_scatter+param_allgather"
        start = end_pipe + sched["dp_exposed"] - sched["t_dp"]
        for s in range(pp):
            add("dp_communication", s, "comm", [-1], name, "comm", [start], sched["t_dp"],
                0.0, 0.0, "comm")
        t0 = end_pipe + sched["dp_exposed"]
    for s in range(pp):
        add("optimizer", s, "compute", [-1], "optimizer_step", "elementwise", [t0],
            sched["t_opt"], 0.0, 0.0, "memory")
    df = pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})
    return df.sort_values(["stage", "start_s"], kind="stable").reset_index(drop=True)
