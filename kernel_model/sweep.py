"""``sweep(grid) -> pandas.DataFrame``: the closed form over every combination of a grid.

    import kernel_model as km
    df = km.sweep({"model": ["llama-2-13b"], "gpu": ["rtx-4090"], "interconnect": ["pcie4_bad"],
                   "tp": [1, 2, 4], "batch": [1, 8, 32], "prompt_tokens": [200, 2000]})

``grid`` maps :class:`~kernel_model.Scenario` field names to a value or a list of values;
fields left out keep the Scenario default. Two extra axes override the link numbers of the
``interconnect`` preset: ``link_bw_gbps`` (one-direction bandwidth, 1e9 bytes/s) and
``link_latency_us`` (per-hop latency, microseconds).

How it works (``kernel_model.stack``): every key of the grid is an axis. The preset facts
(model shape, GPU, links, calibration, runtime) become arrays along the axes they depend
on, the numeric fields arrays along their own axis; ``tables.derive`` (the code that
``simulate.params`` runs for one scenario) turns them into ``P`` and ``simulate.evaluate``
runs once per chunk of ~``chunk`` rows for every model, GPU and link at once, computing
each intermediate only over the axes it depends on. The plan rules are
``kernel_model.rules.plan_codes``, the same code ``Scenario`` runs. The values are those of
``simulate()`` (a test checks 1e-12 relative agreement on random rows of every group).

Rows come in ``itertools.product`` order over the grid's keys. Combinations that
``Scenario`` would reject (tp not dividing the heads, pp larger than the layers, ...) are
never computed silently: ``invalid="mark"`` (default) keeps them with ``valid=False``, the
reason in ``error`` and NaN metrics; ``"drop"`` removes them; ``"raise"`` raises
``ValueError``. ``df.attrs["invalid"]`` is their count either way.

Output columns: the grid's keys, then ``valid``, ``error``, ``num_gpus``, ``tpot_s``,
``ttft_s``, ``e2e_s`` (seconds), ``output_tokens_per_s``, ``tokens_per_s_per_gpu``,
``bottleneck``, ``dominant``, the decode-step breakdown ``compute_s``, ``hbm_s``,
``communication_s``, ``launch_overhead_s``, ``pipeline_bubble_s`` (seconds per step), memory
per GPU ``weights_bytes``, ``kv_cache_bytes``, ``activations_bytes``, ``memory_bytes``,
``capacity_bytes`` (bytes) and ``fits``; with ``ttft_breakdown=True`` also ``ttft_<cause>_s``.

``compact=True`` stores the metrics as float32, the key columns as categoricals and
``num_gpus`` as int32 (under 100 bytes a row; float32 keeps ~7 significant digits).
``to_parquet=PATH`` also writes the table there. ``client=`` (a ``dask.distributed``
Client), ``scheduler="tcp://host:8786"`` or ``lazy=True`` run it on a Dask cluster in
chunks of ~``chunk_rows`` scenarios (see ``kernel_model.distributed``).
"""
from __future__ import annotations

import math
import time

import numpy as np

from . import rules, stack
from .rules import BITS, MAX_ROWS  # noqa: F401  (re-exported)
from .hardware import closest
from .insight import LABELS
from .schedule import CATEGORIES

# Scenario fields that enter T only as numbers (an axis each).
INT_FIELDS = tuple(rules.INT_BOUNDS)
BIT_FIELDS = rules.BIT_FIELDS
NUMERIC_FIELDS = INT_FIELDS + BIT_FIELDS + ("overlap", "flash_attention")
# Extra axes that override the interconnect preset's numbers.
LINK_AXES = {"link_bw_gbps": "one-direction link bandwidth, 1e9 bytes/s",
             "link_latency_us": "per-hop link latency, microseconds"}
CHUNK = 1 << 17            # rows per evaluate() call (cache-friendly)
METRICS = ("tpot_s", "ttft_s", "e2e_s", "output_tokens_per_s", "tokens_per_s_per_gpu")
MEMORY = (("weights_bytes", "weights"), ("kv_cache_bytes", "kv_cache"),
          ("activations_bytes", "activations"), ("memory_bytes", "total"),
          ("capacity_bytes", "capacity"))


def scenario_fields() -> list[str]:
    from .scenario import Scenario
    return Scenario.field_names()


def sweep_keys() -> list[str]:
    """Every key ``sweep`` accepts: Scenario fields plus the link-override axes."""
    return scenario_fields() + list(LINK_AXES)


# ---- grid normalisation: the field rules of kernel_model.rules, value by value --------------
def _as_list(key, v):
    from .models import ModelSpec
    if isinstance(v, (str, bytes, dict, ModelSpec)) or not np.iterable(v):
        return [v]
    vals = list(v.tolist() if isinstance(v, np.ndarray) else v)
    if not vals:
        raise ValueError(f"{key}: the list of values is empty; give at least one value")
    return vals


def _check_value(key, v):
    """The canonical value, or ValueError for a value bad on its own."""
    if key == "link_bw_gbps":
        return rules.check_real(key, v, 1e-9, 1e9)
    if key == "link_latency_us":
        return rules.check_real(key, v, 0.0, 1e9)
    return rules.check_value(key, v)


def normalise(grid) -> list[tuple[str, list]]:
    """``[(key, [values...]), ...]`` in grid order, every value checked on its own."""
    if not isinstance(grid, dict):
        raise ValueError(f"grid must be a dict of field -> value or list of values, "
                         f"not {type(grid).__name__}")
    valid = sweep_keys()
    out = []
    for key, v in grid.items():
        if key not in valid:
            near = closest(key, valid)
            raise ValueError(f"sweep field {key!r} is unknown"
                             + (f"; closest: {', '.join(near)}" if near else "")
                             + f" (valid: {', '.join(valid)})")
        out.append((key, [_check_value(key, x) for x in _as_list(key, v)]))
    return out


# ---- progress --------------------------------------------------------------------------------
class _Progress:
    """Starts a bar (kernel_model.progress) once the sweep is predicted to take over 1 s."""

    def __init__(self, total, mode):
        self.total, self.mode, self.done, self.bar = total, mode, 0, None
        self.t0 = time.perf_counter()

    def update(self, n):
        self.done += n
        if self.mode is False:
            return
        if self.bar is None:
            el = time.perf_counter() - self.t0
            if self.mode is True or (self.done < self.total and el / max(self.done, 1) * self.total > 1.0):
                from .progress import progress_bar
                self.bar = progress_bar(self.total, desc="sweep", unit="scenarios")
                self.bar.update(self.done)
            return
        self.bar.update(n)

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ---- the sweep -------------------------------------------------------------------------------
def _chunks(shape, target):
    return stack.chunks(shape, target)


def sweep(grid: dict, *, invalid: str = "mark", ttft_breakdown: bool = False,
          progress=None, chunk: int = CHUNK, compact: bool = False, to_parquet=None,
          client=None, scheduler=None, lazy: bool = False, chunk_rows: int = 1_000_000):
    """Evaluate the closed form for every combination of ``grid`` (see the module doc).

    ``progress``: None shows a bar when the sweep is predicted to take over a second,
    True always, False never. Returns a pandas DataFrame, one row per combination (a
    ``dask.dataframe`` with ``lazy=True``).
    """
    if invalid not in ("mark", "drop", "raise"):
        raise ValueError(f"invalid={invalid!r} is not allowed: must be 'mark', 'drop' or 'raise'")
    if client is not None or scheduler is not None or lazy:
        from .distributed import sweep_distributed
        return sweep_distributed(grid, client=client, scheduler=scheduler, lazy=lazy,
                                 invalid=invalid, ttft_breakdown=ttft_breakdown,
                                 progress=progress, chunk=chunk, compact=compact,
                                 to_parquet=to_parquet, chunk_rows=chunk_rows)
    if to_parquet is not None:
        _check_new_path(to_parquet)
    df = sweep_block(normalise(grid), invalid=invalid, ttft_breakdown=ttft_breakdown,
                     progress=progress, chunk=chunk, compact=compact)
    if to_parquet is not None:
        df.to_parquet(to_parquet)
    return df


def _check_new_path(path):
    import os
    if os.path.exists(path):
        raise ValueError(f"to_parquet={str(path)!r} already exists; name a new path "
                         f"(nothing is overwritten)")


def sweep_block(items, *, invalid="mark", ttft_breakdown=False, progress=None, chunk=CHUNK,
                compact=False, full=None):
    """The sweep of normalised ``items`` (see :func:`normalise`). ``full``: the whole grid's
    values when ``items`` is one block of a distributed sweep, so that the key columns'
    categories are the whole grid's."""
    import pandas as pd
    keys = [k for k, _ in items]
    vals = dict(items)
    shape = tuple(len(vals[k]) for k in keys)
    N = math.prod(shape)
    if N > MAX_ROWS:
        raise ValueError(f"grid has {N:,} combinations; at most {MAX_ROWS:,} per sweep "
                         f"(split it into several sweeps, or pass client=... to use Dask)")
    T, index, combos = stack.build_T(keys, vals)
    err, messages = stack.error_codes(keys, vals, T, index, combos)
    P = _derive(T)
    ftype = np.float32 if compact else np.float64
    cols = list(METRICS) + [f"{c}_s" for c in CATEGORIES] + [c for c, _ in MEMORY]
    if ttft_breakdown:
        cols += [f"ttft_{c}_s" for c in CATEGORIES]
    out = {c: np.empty(N, dtype=ftype) for c in cols}
    ngpu = np.empty(N, dtype=np.int32 if compact else np.int64)
    fits = np.empty(N, dtype=bool)
    bott = np.empty(N, dtype=np.int8)
    dom = np.empty(N, dtype=np.int8)
    prog = _Progress(N, progress)
    try:
        for sl in stack.chunks(shape, chunk):
            start = int(np.ravel_multi_index(tuple(s.start or 0 for s in sl), shape))
            cshape = tuple(len(range(*s.indices(n))) for s, n in zip(sl, shape))
            n = math.prod(cshape)
            stop = start + n

            def put(arr, x):
                _fill(arr[start:stop].reshape(cshape), x)

            r = _evaluate(stack.take(P, sl))
            Pc = r["P"]
            g = Pc["gps"] * Pc["pp"]
            put(out["tpot_s"], r["tpot_s"])
            put(out["ttft_s"], r["ttft_s"])
            put(out["e2e_s"], r["e2e_s"])
            put(out["output_tokens_per_s"], r["output_tokens_per_s"])
            put(out["tokens_per_s_per_gpu"], r["output_tokens_per_s"] / g)
            put(ngpu, np.asarray(g).astype(ngpu.dtype))
            for c in CATEGORIES:
                put(out[f"{c}_s"], r["breakdown"][c])
                if ttft_breakdown:
                    put(out[f"ttft_{c}_s"], r["ttft_breakdown"][c])
            for col, mk in MEMORY:
                put(out[col], r["memory"][mk])
            put(fits, r["fits"])
            put(bott, r["bottleneck_code"])
            put(dom, r["dominant_code"])
            prog.update(n)
    finally:
        prog.close()
    err = np.broadcast_to(err, shape).reshape(-1) if shape else np.asarray(err).reshape(-1)
    valid = err == 0
    bad = np.flatnonzero(~valid)
    if len(bad):
        for c in cols:
            out[c][bad] = np.nan
        ngpu[bad], fits[bad], bott[bad], dom[bad] = 0, False, -1, -1
    data = {k: _key_column(k, vals[k], i, keys, shape, compact, full)
            for i, k in enumerate(keys)}
    data["valid"] = valid
    data["error"] = _cat(err, messages)
    data["num_gpus"] = ngpu
    for c in METRICS:
        data[c] = out.pop(c)
    data["bottleneck"] = _cat(bott, list(LABELS))
    data["dominant"] = _cat(dom, list(CATEGORIES))
    data.update(out)
    data["fits"] = fits
    df = pd.DataFrame(data, copy=False)
    return _finish(df, keys, vals, invalid)


def _fill(dst, x):
    """``dst[...] = x`` for x broadcast over some axes of ``dst``, fast: adjacent axes are
    merged, and a short innermost broadcast axis (numpy would loop 2-8 elements at a time)
    is written as that many strided copies with long inner loops instead."""
    if not isinstance(x, np.ndarray) or x.ndim == 0:
        dst[...] = x
        return
    ds, xs = dst.shape, (1,) * (dst.ndim - x.ndim) + x.shape
    runs = []                                  # [dst size, x size] of merged axes
    for d, e in zip(ds, xs):
        if d == 1:
            continue
        kind = e == d
        if runs and runs[-1][2] == kind:
            runs[-1][0] *= d
            runs[-1][1] *= e
        else:
            runs.append([d, e, kind])
    if not runs:
        dst[...] = x.reshape(dst.shape) if x.size == dst.size else x
        return
    d2 = dst.reshape(tuple(r[0] for r in runs))
    x2 = np.ascontiguousarray(x).reshape(tuple(r[1] for r in runs))
    _fill_runs(d2, x2, runs, 1)


def _fill_runs(d2, x2, runs, loops):
    last = runs[-1]
    if len(runs) == 1 or last[0] >= 16 or loops * last[0] > 64:
        d2[...] = x2
        return
    for k in range(last[0]):                   # strided copies, each with long inner loops
        _fill_runs(d2[..., k], x2[..., k if last[2] else 0], runs[:-1], loops * last[0])


def _finish(df, keys, vals, invalid):
    valid = df["valid"].to_numpy()
    n_bad = int(len(valid) - np.count_nonzero(valid))
    if n_bad and invalid == "raise":
        first = df.loc[~valid].iloc[0]
        where = ", ".join(f"{kk}={(first[kk].item() if hasattr(first[kk], 'item') else first[kk])!r}"
                          for kk in keys)
        raise ValueError(f"{n_bad} invalid combination(s); first: {where}: {first['error']}")
    if n_bad and invalid == "drop":
        df = df.loc[valid].reset_index(drop=True)
    df.attrs["invalid"] = n_bad
    df.attrs["grid"] = {kk: list(vals[kk]) for kk in keys}
    return df


def _derive(T):
    from .tables import derive
    with np.errstate(all="ignore"):
        return derive(T)


def _evaluate(P):
    """``simulate.evaluate`` on a block (invalid rows may divide by zero: ignored, blanked)."""
    from .simulate import evaluate
    with np.errstate(all="ignore"):
        r = evaluate(P)
    r["P"] = P
    return r


def _key_column(key, values, i, keys, shape, compact, full=None):
    """Column of grid key ``key`` in product order (categorical for strings, and for every
    key with ``compact``); ``full``: the whole grid's values (categories of a block)."""
    allv = (full or {}).get(key, values)
    n = len(values)
    rep, tile = math.prod(shape[i + 1:]), math.prod(shape[:i])

    def spread(a):                                     # a[idx] for idx of axis i, C order
        a = np.asarray(a)
        if rep >= 16:
            return np.broadcast_to(a.reshape(1, n, 1), (tile, n, rep)).reshape(-1)
        return np.tile(np.repeat(a, rep), tile)

    hashable = all(isinstance(v, (str, int, float, bool)) and v is not None for v in allv)
    if hashable and (compact or all(isinstance(v, str) for v in allv)):
        cats = list(dict.fromkeys(allv))
        dt = np.int8 if len(cats) < 127 else np.int32
        codes = np.array([cats.index(v) for v in values], dtype=dt)
        return _cat(spread(codes), cats)
    if key in rules.BOOL_FIELDS and hashable:
        return spread(np.array(values, dtype=bool))
    if (key in INT_FIELDS or key in BIT_FIELDS) and hashable:
        return spread(np.array(values, dtype=np.int64))
    if (key in rules.REAL_BOUNDS or key in LINK_AXES) and hashable:
        return spread(np.array(values, dtype=float))
    arr = np.empty(n, dtype=object)
    arr[:] = [_display(v) for v in values]
    return spread(arr)


def _cat(codes, cats):
    """A Categorical from codes this module made (in range by construction: not re-checked)."""
    import pandas as pd
    try:
        return pd.Categorical.from_codes(codes, categories=cats, validate=False)
    except TypeError:                                   # pandas < 2.1
        return pd.Categorical.from_codes(codes, categories=cats)


def _display(v):
    from .models import ModelSpec
    return v.name if isinstance(v, ModelSpec) else v
