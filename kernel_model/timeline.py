"""The per-kernel timeline of one prefill and one decode step (a pandas DataFrame).

Each stage runs its kernels back to back on the compute stream; collectives sit on the
comm stream, advanced by their share of the communication hidden behind concurrent math
(``overlap``). Micro-batch j enters stage s when it has left stage s-1 (plus the transfer)
and stage s has finished micro-batch j-1: the pipeline staircase. The prefill fills and
drains the pipeline; a decode step is one period of the steady state (the staircase wraps
around the step time), so its timeline spans exactly the step time less the host time per step
(``Result.host_s``: ``step_overhead_s``, plus ``eager_server_step_s`` on the "eager_server"
runtime), when the GPUs wait.

Size: micro-batches beyond ``DRAWN_MICRO_BATCHES`` are not drawn kernel by kernel but as one
block per stage (name ``later_micro_batches``, kind ``aggregate``, its FLOPs and bytes the sum
of theirs) and one send per stage boundary, so the table stays at a few thousand rows for any
``micro_batches`` (at most ``MAX_MICRO_BATCHES``); ``df.attrs["aggregated"]`` says which.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .kernels import LAYER_KERNELS, HEAD_KERNELS, TAIL_KERNELS, KIND
from .simulate import _f

#: micro-batches drawn kernel by kernel; later ones become one block per stage (a timeline
#: has at most about this many micro-batches' rows, whatever ``micro_batches`` is)
DRAWN_MICRO_BATCHES = 8
#: largest ``micro_batches`` the timeline accepts (the closed form has no limit)
MAX_MICRO_BATCHES = 1_000_000
AGGREGATE = "later_micro_batches"      # name of an aggregated block (kind "aggregate")

NAMES = LAYER_KERNELS + HEAD_KERNELS + TAIL_KERNELS + ("send_activations", AGGREGATE)
KINDS = ("elementwise", "gemm", "attention", "comm", "aggregate")
BOUNDS = ("compute", "memory", "launch", "comm")
STREAMS = ("compute", "comm")
PHASES = ("prefill", "decode")
COLUMNS = ("phase", "stage", "gpu", "stream", "micro_batch", "layer", "name", "kind",
           "start_s", "end_s", "duration_s", "flops", "bytes", "bound")
_SEND = NAMES.index("send_activations")
_BLOCK = NAMES.index(AGGREGATE)
_KIND_CODE = np.array([KINDS.index("aggregate" if x == AGGREGATE else KIND.get(x, "comm"))
                       for x in NAMES])


def _kernel_table(ph, names):
    """Present kernels of ``names``: code, duration, overlap advance, flops, bytes, bound."""
    kt, work = ph["kt"], ph["work"]
    comm_l = sum(_f(kt[n][4]) for n in LAYER_KERNELS)
    hidden = _f(ph["hidden"])
    rows = []
    for n in names:
        t = _f(kt[n][0])
        if t <= 0:
            continue
        comm = KIND[n] == "comm"
        adv = hidden * t / comm_l if (comm and n in LAYER_KERNELS and comm_l > 0) else 0.0
        c, m, l = _f(kt[n][1]), _f(kt[n][2]), _f(kt[n][3])
        bound = 3 if comm else (2 if l > c + m else (0 if c >= m else 1))
        fl, by, cb = work[n]
        rows.append((NAMES.index(n), t, adv, _f(fl), _f(cb) if comm else _f(by), bound))
    if not rows:
        return np.zeros((0, 6))
    return np.array(rows, dtype=float)


def _stage(head, layer, tail, n_layers):
    """Rows of one stage for one micro-batch, starts relative to the stage start."""
    tab = np.concatenate([head, np.tile(layer, (n_layers, 1)), tail])
    lay = np.r_[np.full(len(head), -1), np.repeat(np.arange(n_layers), len(layer)),
                np.full(len(tail), -1)]
    d, a = tab[:, 1], tab[:, 2]
    inc = d - a
    start = np.maximum(np.cumsum(inc) - inc - a, 0.0)
    return tab, lay, start, float(inc.sum())


def _phase(sc, P, ph, phase_code, out):
    """Rows of one phase into ``out``: kernel by kernel for the first ``DRAWN_MICRO_BATCHES``
    micro-batches, then one aggregated block per stage (and one send per stage boundary)."""
    pp, m = sc.pp, sc.micro_batches
    L = sc.model_spec().layers
    Lf = int(_f(ph["L_first"]))
    sizes = [Lf] * (pp - 1) + [L - Lf * (pp - 1)] if pp > 1 else [L]
    if pp > 1 and sizes[-1] < 1:
        base, extra = divmod(L, pp)
        sizes = [base + (1 if i < extra else 0) for i in range(pp)]
    head = _kernel_table(ph, HEAD_KERNELS)
    layer = _kernel_table(ph, LAYER_KERNELS)
    tail = _kernel_table(ph, TAIL_KERNELS)
    empty = np.zeros((0, 6))
    stages = [_stage(head if s == 0 else empty, layer, tail if s == pp - 1 else empty, sizes[s])
              for s in range(pp)]
    t_in, t_x = _f(ph["t_in"]), _f(ph["t_x"])
    n_nodes = int(np.ceil(sc.gpus_per_stage * pp / P["link"]["gpn"]))
    n_cross = min(pp - 1, n_nodes - 1)
    hops = [0.0] + [t_x if (s - 1) >= pp - 1 - n_cross else t_in for s in range(1, pp)]
    drawn = min(m, DRAWN_MICRO_BATCHES)
    end = np.zeros((pp, drawn))
    for j in range(drawn):
        for s in range(pp):
            ready = 0.0
            if s > 0:
                hop = hops[s]
                ready = end[s - 1, j] + hop
                send = np.array([[_SEND, hop, 0.0, 0.0, 0.0, 3]])
                out.append((phase_code, s - 1, j, send, np.array([-1]), np.array([end[s - 1, j]])))
            if j > 0:
                ready = max(ready, end[s, j - 1])
            tab, lay, start, span = stages[s]
            out.append((phase_code, s, j, tab, lay, start + ready))
            end[s, j] = ready + span
    if m > drawn:
        _aggregate(stages, hops, end, m, phase_code, out)


def _aggregate(stages, hops, end, m, phase_code, out):
    """Micro-batches ``K = end.shape[1]`` .. m-1 as one block per stage (and one send per
    stage boundary). Every micro-batch takes the same time on a stage, so the staircase has
    a closed form: micro-batch j leaves stage s at C_s + j * M_s, with C_s the first
    micro-batch's path down to s and M_s the slowest stage among 0..s."""
    pp, K = end.shape
    span = np.array([st[3] for st in stages])
    C = np.cumsum(span + np.array(hops))
    M = np.maximum.accumulate(span)
    n = m - K

    def leave(s, j):                                  # j >= K: closed form
        return C[s] + j * M[s]
    for s in range(pp):
        ready = end[s, K - 1]
        if s > 0:
            first_send = leave(s - 1, K)
            last_in = leave(s - 1, m - 1) + hops[s]
            send = np.array([[_SEND, last_in - first_send, 0.0, 0.0, 0.0, 3]])
            out.append((phase_code, s - 1, K, send, np.array([-1]), np.array([first_send])))
            ready = max(ready, first_send + hops[s])
        tab = stages[s][0]
        tab = tab[_KIND_CODE[tab[:, 0].astype(int)] != 3]      # compute-stream kernels
        by_bound = np.bincount(tab[:, 5].astype(int), weights=tab[:, 1], minlength=3)[:3]
        block = np.array([[_BLOCK, max(leave(s, m - 1) - ready, 0.0), 0.0, n * tab[:, 3].sum(),
                           n * tab[:, 4].sum(), float(np.argmax(by_bound))]])
        out.append((phase_code, s, K, block, np.array([-1]), np.array([ready])))


def columns(sc, P, dec, pre) -> dict:
    """The timeline as numpy columns (no pandas): categorical columns as integer codes into
    ``PHASES``, ``STREAMS``, ``NAMES``, ``KINDS``, ``BOUNDS``; plus "aggregated" (None or
    the (first, last) micro-batch drawn as one block per stage)."""
    if sc.micro_batches > MAX_MICRO_BATCHES:
        raise ValueError(f"micro_batches={sc.micro_batches} is not allowed for a timeline: at "
                         f"most {MAX_MICRO_BATCHES}")
    parts = []
    _phase(sc, P, pre, 0, parts)
    n_pre = len(parts)
    _phase(sc, P, dec, 1, parts)
    # Decode runs in steady state: every micro-batch's next token follows its last one, so a
    # full pipeline never drains. One step is a window of the step time; work that the
    # fill-and-drain order puts past it belongs to the previous step and wraps around.
    window = _f(dec["total"]) - _f(dec["host"])     # host time per step is not GPU work
    wrap = sc.pp > 1 and window > 0
    if wrap:
        for i in range(n_pre, len(parts)):
            code, s, j, tab, lay, start = parts[i]
            parts[i] = (code, s, j, tab, lay, np.mod(start, window))
    n = [len(p[3]) for p in parts]
    tab = np.concatenate([p[3] for p in parts])
    start = np.concatenate([p[5] for p in parts])
    name = tab[:, 0].astype(int)
    kind = _KIND_CODE[name]
    stage = np.repeat([p[1] for p in parts], n)
    c = {"phase": np.repeat([p[0] for p in parts], n).astype(np.int8), "stage": stage,
         "gpu": stage * sc.gpus_per_stage, "stream": (kind == 3).astype(np.int8),
         "micro_batch": np.repeat([p[2] for p in parts], n),
         "layer": np.concatenate([p[4] for p in parts]), "name": name, "kind": kind,
         "start_s": start, "end_s": start + tab[:, 1], "duration_s": tab[:, 1],
         "flops": tab[:, 3], "bytes": tab[:, 4], "bound": tab[:, 5].astype(np.int8)}
    if wrap:
        c = _split_at_window(c, window)
    m = sc.micro_batches
    c["aggregated"] = (DRAWN_MICRO_BATCHES, m - 1) if m > DRAWN_MICRO_BATCHES else None
    return c


_DTYPES = {"phase": PHASES, "stream": STREAMS, "name": NAMES, "kind": KINDS, "bound": BOUNDS}
_DTYPES = {k: pd.CategoricalDtype(list(v)) for k, v in _DTYPES.items()}


def frame(c: dict) -> pd.DataFrame:
    """The DataFrame of :func:`columns` (categorical columns named, ``attrs["aggregated"]``)."""
    df = pd.DataFrame({k: (pd.Categorical.from_codes(c[k], dtype=_DTYPES[k]) if k in _DTYPES
                           else c[k]) for k in COLUMNS}, copy=False)
    df.attrs["aggregated"] = c["aggregated"]
    return df


def build(sc, P, dec, pre) -> pd.DataFrame:
    """The timeline DataFrame (see the module docstring). ``df.attrs["aggregated"]``: None,
    or (first, last) micro-batch drawn as one block per stage (``kind == "aggregate"``)."""
    return frame(columns(sc, P, dec, pre))


def _split_at_window(c: dict, window: float) -> dict:
    """Kernels that straddle the end of the decode window continue at its start."""
    over = (c["phase"] == 1) & (c["end_s"] > window * (1 + 1e-12))
    if not over.any():
        return c
    tail = {k: v[over] for k, v in c.items()}
    c["end_s"] = np.where(over, window, c["end_s"])
    c["duration_s"] = np.where(over, window - c["start_s"], c["duration_s"])
    tail["end_s"] = tail["end_s"] - window
    tail["start_s"] = np.zeros(len(tail["end_s"]))
    tail["duration_s"] = tail["end_s"]
    return {k: np.concatenate([c[k], tail[k]]) for k in c}
