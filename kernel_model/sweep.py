"""``sweep(grid) -> pandas.DataFrame``: the closed form over every combination of a grid.

    import kernel_model as km
    df = km.sweep({"model": ["llama-2-13b"], "gpu": ["rtx-4090"], "interconnect": ["pcie4_bad"],
                   "tp": [1, 2, 4], "batch": [1, 8, 32], "prompt_tokens": [200, 2000]})

``grid`` maps :class:`~kernel_model.Scenario` field names to a value or a list of values;
fields left out keep the Scenario default. Two extra axes override the link numbers of the
``interconnect`` preset: ``link_bw_gbps`` (one-direction bandwidth, 1e9 bytes/s) and
``link_latency_us`` (per-hop latency, microseconds).

How it works: combinations are grouped by their non-numeric fields (model, gpu,
interconnect, algorithm, inter_node, runtime, layers / expert overrides, efficiency); for each group
``simulate.params`` is built once and its numeric entries (and the derived ones: ``gps``,
``ctx``, ``wb``/``kvb``/``cb``, ``F``, ``P["link"]``) are replaced by numpy arrays laid out
as an outer product, so ``simulate.evaluate`` runs once per group (or chunk) and computes
each intermediate only over the axes it depends on. The values are those of ``simulate()``
(a test checks 1e-9 relative agreement on random rows).

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
"""
from __future__ import annotations

import importlib
import math
import time
from dataclasses import fields as _dc_fields, MISSING

import numpy as np

from .scenario import Scenario, ALGORITHMS, BITS
from .hardware import get_gpu, get_interconnect, closest
from .models import get_model
from .runtime import get_runtime
from .formats import weight_arrays

_sim = importlib.import_module(__package__ + ".simulate")   # the module (the package exports a function of that name)
from .insight import LABELS

# Scenario fields that enter P only as numbers (swept as arrays inside one group).
INT_FIELDS = ("tp", "pp", "ep", "batch", "prompt_tokens", "output_tokens", "micro_batches",
              "comm_group", "gpus_per_node")
BIT_FIELDS = ("weight_bits", "kv_bits", "comm_bits")
NUMERIC_FIELDS = INT_FIELDS + BIT_FIELDS + ("overlap", "flash_attention")
# Extra axes that override the interconnect preset's numbers.
LINK_AXES = {"link_bw_gbps": "one-direction link bandwidth, 1e9 bytes/s",
             "link_latency_us": "per-hop link latency, microseconds"}
CATEGORIES = _sim.CATEGORIES
MAX_ROWS = 20_000_000      # ~5 GB of output columns
CHUNK = 1 << 16            # elements per evaluate() call (cache-friendly)

_ERRORS = ("tp_heads", "tp_kv", "pp_layers", "ep_dense", "ep_experts", "ep_tp", "mb_batch",
           "none_multi")


def _defaults() -> dict:
    out = {}
    for f in _dc_fields(Scenario):
        out[f.name] = None if f.default is MISSING else f.default
    return out


def scenario_fields() -> list[str]:
    return Scenario.field_names()


def sweep_keys() -> list[str]:
    """Every key ``sweep`` accepts: Scenario fields plus the link-override axes."""
    return scenario_fields() + list(LINK_AXES)


# ---- grid normalisation and per-value checks -------------------------------------------------
def _as_list(key, v):
    if isinstance(v, (str, bytes, dict)) or not np.iterable(v):
        return [v]
    vals = list(v.tolist() if isinstance(v, np.ndarray) else v)
    if not vals:
        raise ValueError(f"{key}: the list of values is empty; give at least one value")
    return vals


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_value(key, v):
    """Raise ValueError for a value that is bad on its own (whatever it is combined with)."""
    if key in INT_FIELDS:
        if not _is_int(v) or v < 1:
            raise ValueError(f"{key}={v!r} is not allowed: must be a whole number >= 1")
        return int(v)
    if key in BIT_FIELDS:
        if not _is_int(v) or int(v) not in BITS:
            raise ValueError(f"{key}={v!r} is not allowed: must be one of 4, 8, 16")
        return int(v)
    if key == "overlap":
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not 0.0 <= float(v) <= 1.0:
            raise ValueError(f"overlap={v!r} is not allowed: must be in [0, 1]")
        return float(v)
    if key == "flash_attention":
        if not isinstance(v, (bool, np.bool_)):
            raise ValueError(f"flash_attention={v!r} is not allowed: must be True or False")
        return bool(v)
    if key == "link_bw_gbps":
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(v) or v <= 0:
            raise ValueError(f"link_bw_gbps={v!r} is not allowed: must be a number > 0 (GB/s)")
        return float(v)
    if key == "link_latency_us":
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not math.isfinite(v) or v < 0:
            raise ValueError(f"link_latency_us={v!r} is not allowed: must be a number >= 0 (µs)")
        return float(v)
    if key == "model":
        get_model(v)
    elif key == "gpu":
        get_gpu(v)
    elif key == "interconnect":
        if v != "none":
            get_interconnect(v)
    elif key == "algorithm":
        if v not in ALGORITHMS:
            near = closest(v, ALGORITHMS)
            raise ValueError(f"algorithm={v!r} is not allowed"
                             + (f"; closest: {', '.join(near)}" if near else "")
                             + f" (valid: {', '.join(ALGORITHMS)})")
    elif key == "runtime":
        get_runtime(v)
    elif key == "inter_node":
        if v != "auto" and get_interconnect(v).kind != "network":
            raise ValueError(f"inter_node={v!r} is not allowed: must be 'auto', 'ib_hdr' or 'ib_ndr'")
    elif key in ("layers", "moe_experts", "active_experts"):
        if v is not None and (not _is_int(v) or v < 1):
            raise ValueError(f"{key}={v!r} is not allowed: must be a whole number >= 1 or None")
        return None if v is None else int(v)
    elif key == "efficiency":
        if v is not None:
            if not isinstance(v, dict):
                raise ValueError(f"efficiency={v!r} is not allowed: must be a dict of calibration fields")
            from .calibration import DEFAULT
            DEFAULT.replace(**v)
    return v


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


# ---- P for one group, numeric entries as (broadcast) arrays --------------------------------
def _group_context(rep: Scenario) -> dict:
    spec, gpu = rep.model_spec(), rep.gpu_spec()
    link = rep.link_spec()
    return {"P": _sim.params(rep), "spec": spec, "gpu": gpu, "net": link.kind == "network",
            "none": rep.interconnect == "none"}


def build_params(ctx: dict, A: dict) -> dict:
    """P of one group with the numeric fields taken from ``A`` (field -> array or scalar).

    Mirrors ``simulate.params``: every entry derived from a numeric field is recomputed.
    """
    P = dict(ctx["P"])
    link = dict(P["link"])
    tp, pp, ep = A["tp"], A["pp"], A["ep"]
    P["tp"], P["pp"], P["ep"] = tp, pp, ep
    P["gps"] = np.maximum(tp, ep)
    P["B"], P["p"], P["o"] = A["batch"], A["prompt_tokens"], A["output_tokens"]
    P["ctx"] = A["prompt_tokens"] + A["output_tokens"] / 2.0
    P["wb"], P["kvb"], P["cb"] = A["_wb"], A["kv_bits"] / 8.0, A["comm_bits"] / 8.0
    P["F"] = A["_F"]
    P["m"], P["overlap"], P["group"] = A["micro_batches"], A["overlap"], A["comm_group"]
    P["flash"], P["gpn"] = A["flash_attention"], A["gpus_per_node"]
    link["gpn"] = 1.0 if ctx["net"] else A["gpus_per_node"]
    if "link_bw_gbps" in A:
        link["bw"] = A["link_bw_gbps"] * 1e9
        if ctx["net"]:
            link["bw_x"] = link["bw"]
    if "link_latency_us" in A:
        link["lat"] = A["link_latency_us"] * 1e-6
        if ctx["net"]:
            link["lat_x"] = link["lat"]
    P["link"] = link
    return P


def _validity(ctx: dict, A: dict):
    """Integer code per combination: 0 valid, i+1 for the first failing rule _ERRORS[i]."""
    spec = ctx["spec"]
    nh = spec.heads
    nkv = spec.kv_heads if not spec.kv_lora_rank else 1
    tp, pp, ep = A["tp"], A["pp"], A["ep"]
    big, small = np.maximum(tp, ep), np.minimum(tp, ep)
    conds = [
        np.fmod(nh, tp) != 0,
        (np.fmod(nkv, tp) != 0) & (np.fmod(tp, nkv) != 0),
        pp > spec.layers,
        (ep > 1) & (not spec.is_moe),
        (ep > 1) & (np.fmod(spec.experts, ep) != 0),
        (ep > 1) & (np.fmod(big, small) != 0),
        A["micro_batches"] > A["batch"],
        (big * pp > 1) & ctx["none"],
    ]
    code = np.zeros((), dtype=np.int8)
    for i in range(len(conds) - 1, -1, -1):
        code = np.where(conds[i], np.int8(i + 1), code)
    return code


def _messages(ctx: dict) -> dict:
    spec = ctx["spec"]
    nkv = spec.kv_heads if not spec.kv_lora_rank else 1
    return {
        1: f"tp does not divide the {spec.heads} attention heads of {spec.name}",
        2: f"tp cannot shard the {nkv} KV heads of {spec.name} (must divide it or be a multiple)",
        3: f"pp larger than the {spec.layers} layers of {spec.name}",
        4: f"ep > 1 but {spec.name} has no experts",
        5: f"ep does not divide the {spec.experts} experts of {spec.name}",
        6: "tp and ep: one must divide the other",
        7: "micro_batches larger than batch",
        8: "interconnect 'none' is only for one GPU",
    }


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
    """Yield index tuples splitting an array of ``shape`` into blocks of <= ~target elements."""
    k = len(shape)
    s = k
    while s > 0 and math.prod(shape[s - 1:]) <= target:
        s -= 1
    if s == 0:
        yield tuple(slice(None) for _ in shape)
        return
    trail = math.prod(shape[s:])
    step = max(1, target // trail)
    for lead in np.ndindex(*shape[:s - 1]):
        for a in range(0, shape[s - 1], step):
            yield tuple(slice(i, i + 1) for i in lead) + (slice(a, min(a + step, shape[s - 1])),) \
                + tuple(slice(None) for _ in shape[s:])


def sweep(grid: dict, *, invalid: str = "mark", ttft_breakdown: bool = False,
          progress=None, chunk: int = CHUNK):
    """Evaluate the closed form for every combination of ``grid`` (see the module doc).

    ``progress``: None shows a bar when the sweep is predicted to take over a second,
    True always, False never. Returns a pandas DataFrame, one row per combination.
    """
    import pandas as pd
    if invalid not in ("mark", "drop", "raise"):
        raise ValueError(f"invalid={invalid!r} is not allowed: must be 'mark', 'drop' or 'raise'")
    items = normalise(grid)
    keys = [k for k, _ in items]
    vals = dict(items)
    numeric = set(NUMERIC_FIELDS) | set(LINK_AXES)
    gkeys = [k for k in keys if k not in numeric]
    nkeys = [k for k in keys if k in numeric]
    gshape = tuple(len(vals[k]) for k in gkeys)
    nshape = tuple(len(vals[k]) for k in nkeys)
    G, Nn = math.prod(gshape), math.prod(nshape)
    N = G * Nn
    if N > MAX_ROWS:
        raise ValueError(f"grid has {N:,} combinations; at most {MAX_ROWS:,} per sweep "
                         f"(split it into several sweeps)")
    defaults = _defaults()
    k = len(nkeys)

    def axis(key, arr):
        pos = nkeys.index(key)
        return np.asarray(arr, dtype=float).reshape([-1 if i == pos else 1 for i in range(k)])

    # numeric axes as float arrays (scalars for fields not in the grid)
    base_A = {}
    for f in NUMERIC_FIELDS:
        if f in vals:
            base_A[f] = axis(f, vals[f])
        else:
            base_A[f] = float(defaults[f])
    for f in LINK_AXES:
        if f in vals:
            base_A[f] = axis(f, vals[f])
    wb_vals = vals.get("weight_bits", [defaults["weight_bits"]])

    cols = ["tpot_s", "ttft_s", "e2e_s", "output_tokens_per_s", "tokens_per_s_per_gpu",
            "num_gpus"] + [f"{c}_s" for c in CATEGORIES] \
        + ["weights_bytes", "kv_cache_bytes", "activations_bytes", "memory_bytes", "capacity_bytes"]
    if ttft_breakdown:
        cols += [f"ttft_{c}_s" for c in CATEGORIES]
    full = (G,) + nshape
    out = {c: np.empty(full) for c in cols}
    bott = np.empty(full, dtype=np.int8)
    dom = np.empty(full, dtype=np.int8)
    fits = np.empty(full, dtype=bool)
    err = np.zeros(full, dtype=np.int32)

    def blank(g, where=Ellipsis):
        for c in cols:
            out[c][g][where] = np.nan
        fits[g][where] = False
        bott[g][where] = -1
        dom[g][where] = -1

    messages = {"": 0}
    mem_keys = (("weights_bytes", "weights"), ("kv_cache_bytes", "kv_cache"),
                ("activations_bytes", "activations"), ("memory_bytes", "total"),
                ("capacity_bytes", "capacity"))

    def msg_code(m):
        return messages.setdefault(m, len(messages))

    prog = _Progress(N, progress)
    try:
        for g, gidx in enumerate(np.ndindex(*gshape) if gshape else [()]):
            gfields = {key: vals[key][i] for key, i in zip(gkeys, gidx)}
            try:
                rep = Scenario(**gfields)
            except ValueError as e:          # the group itself is an invalid combination
                err[g] = msg_code(str(e))
                blank(g)
                prog.update(Nn)
                continue
            ctx = _group_context(rep)
            A = dict(base_A)
            WB, F = weight_arrays(rep.weight_format, wb_vals, ctx["gpu"])   # formats.py
            A["_F"] = axis("weight_bits", F) if "weight_bits" in vals else float(F[0])
            A["_wb"] = axis("weight_bits", WB) if "weight_bits" in vals else float(WB[0])
            code = np.broadcast_to(_validity(ctx, A), nshape)
            msgs = _messages(ctx)
            gmap = np.zeros(len(_ERRORS) + 1, dtype=np.int32)
            for c in np.unique(code):
                if c:
                    gmap[c] = msg_code(msgs[int(c)])
            err[g] = gmap[code]
            ok = code == 0
            if not ok.any():
                blank(g)
                prog.update(Nn)
                continue
            _probe(ctx, A, nkeys, vals, gfields, np.unravel_index(int(np.argmax(ok)), nshape))
            for sl in _chunks(nshape, chunk):
                Ac = _take(A, sl)
                P = build_params(ctx, Ac)
                r = _evaluate(P, Ac)
                tgt = (g,) + sl
                shp = out["tpot_s"][tgt].shape

                def put(name, x):
                    out[name][tgt] = np.broadcast_to(x, shp)

                put("tpot_s", r["tpot_s"])
                put("ttft_s", r["ttft_s"])
                put("e2e_s", r["e2e_s"])
                put("output_tokens_per_s", r["output_tokens_per_s"])
                ngpu = P["gps"] * P["pp"]
                put("num_gpus", ngpu)
                put("tokens_per_s_per_gpu", r["output_tokens_per_s"] / ngpu)
                for c in CATEGORIES:
                    put(f"{c}_s", r["breakdown"][c])
                    if ttft_breakdown:
                        put(f"ttft_{c}_s", r["ttft_breakdown"][c])
                for col, mk in mem_keys:
                    put(col, r["memory"][mk])
                fits[tgt] = np.broadcast_to(r["fits"], shp)
                bott[tgt] = np.broadcast_to(r["bottleneck_code"], shp)
                dom[tgt] = np.broadcast_to(r["dominant_code"], shp)
                prog.update(int(np.prod(shp)))
            bad = ~ok
            if bad.any():
                blank(g, bad)
    finally:
        prog.close()

    # back to itertools.product order over the grid's keys
    mshape, mperm = _merged_transpose(gkeys + nkeys, keys, {kk: len(vals[kk]) for kk in keys})

    def order(a):
        if mperm == sorted(mperm):
            return a.reshape(-1)
        return np.transpose(a.reshape(mshape), mperm).reshape(-1)

    data = {}
    for i, kk in enumerate(keys):
        data[kk] = _key_column(kk, vals[kk], i, keys, vals)
    valid = order(err) == 0
    data["valid"] = valid
    cats = list(messages)
    data["error"] = pd.Categorical.from_codes(order(err), categories=cats)
    data["num_gpus"] = np.where(valid, np.nan_to_num(order(out["num_gpus"])), 0).astype(np.int64)
    for c in cols:
        if c != "num_gpus":
            data[c] = order(out.pop(c))
    data["bottleneck"] = pd.Categorical.from_codes(order(bott), categories=list(LABELS))
    data["dominant"] = pd.Categorical.from_codes(order(dom), categories=list(CATEGORIES))
    data["fits"] = order(fits)
    front = [c for c in ("valid", "error", "num_gpus", "tpot_s", "ttft_s", "e2e_s",
                         "output_tokens_per_s", "tokens_per_s_per_gpu", "bottleneck", "dominant")]
    rest = [c for c in data if c not in keys and c not in front]
    df = pd.DataFrame({c: data[c] for c in keys + front + rest}, copy=False)
    n_bad = int((~valid).sum())
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


def _merged_transpose(layout, target, size):
    """Shape and axis permutation taking an array laid out over ``layout`` axes to
    ``target`` order, with axes that stay neighbours merged (fewer, longer axes copy
    much faster) and size-1 axes dropped."""
    layout = [k for k in layout if size[k] > 1]
    target = [k for k in target if size[k] > 1]
    runs = []                                   # runs of target axes consecutive in layout
    for k in target:
        if runs and layout.index(k) == layout.index(runs[-1][-1]) + 1:
            runs[-1].append(k)
        else:
            runs.append([k])
    by_layout = sorted(range(len(runs)), key=lambda r: layout.index(runs[r][0]))
    shape = tuple(math.prod(size[k] for k in runs[r]) for r in by_layout)
    perm = [by_layout.index(r) for r in range(len(runs))]
    return shape, perm


def _key_column(key, values, i, keys, vals):
    """Column of grid key ``key`` in product order."""
    import pandas as pd
    shape = tuple(len(vals[kk]) for kk in keys)
    rep = math.prod(shape[i + 1:])
    tile = math.prod(shape[:i])
    idx = np.tile(np.repeat(np.arange(shape[i], dtype=np.int32), rep), tile)
    if all(isinstance(v, str) for v in values):
        cats = list(dict.fromkeys(values))
        codes = np.array([cats.index(v) for v in values], dtype=np.int32)[idx]
        return pd.Categorical.from_codes(codes, categories=cats)
    if key == "flash_attention":
        return np.array(values, dtype=bool)[idx]
    if key in INT_FIELDS or key in BIT_FIELDS:
        return np.array(values, dtype=np.int64)[idx]
    if key in ("overlap",) or key in LINK_AXES:
        return np.array(values, dtype=float)[idx]
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr[idx]


def _take(A, sl):
    """The block ``sl`` of every outer-product array in ``A`` (size-1 axes stay whole)."""
    out = {}
    for f, a in A.items():
        if isinstance(a, np.ndarray):
            a = a[tuple(s if n > 1 else slice(None) for s, n in zip(sl, a.shape))]
        out[f] = a
    return out


def _evaluate(P, A):
    """``simulate.evaluate`` on outer-product arrays; if a shape mismatch ever stops it,
    retry with every array broadcast to the chunk's full shape."""
    with np.errstate(all="ignore"):
        try:
            return _sim.evaluate(P)
        except ValueError:
            arrays = [a for a in A.values() if isinstance(a, np.ndarray)]
            if not arrays:
                raise
            shape = np.broadcast_shapes(*(a.shape for a in arrays))
            Pf = {k: (np.broadcast_to(v, shape).copy() if isinstance(v, np.ndarray) else v)
                  for k, v in P.items() if k != "link"}
            Pf["link"] = {k: (np.broadcast_to(v, shape).copy() if isinstance(v, np.ndarray) else v)
                          for k, v in P["link"].items()}
            return _sim.evaluate(Pf)


def _probe(ctx, A, nkeys, vals, gfields, at):
    """Check the vectorised P against ``simulate.params`` at one valid combination.

    Guards the derived entries: if the engine adds or changes one, this raises rather
    than letting the sweep drift from ``simulate()``. Link numbers overridden by the
    link axes are not compared.
    """
    skip_link = any(k in LINK_AXES for k in nkeys)
    kw = dict(gfields)
    for key, i in zip(nkeys, at):
        if key not in LINK_AXES:
            kw[key] = vals[key][i]
    sc = Scenario(**kw)
    ref = _sim.params(sc)
    sl = tuple(slice(i, i + 1) for i in at)
    got = build_params(ctx, _take(A, sl))

    def same(a, b):
        a = float(np.asarray(a).reshape(-1)[0])
        return a == b or abs(a - b) <= 1e-12 * max(abs(a), abs(b))

    for key, v in ref.items():
        if key == "link":
            for lk, lv in v.items():
                if skip_link and lk in ("bw", "lat", "bw_x", "lat_x"):
                    continue
                if lk not in got["link"] or not same(got["link"][lk], lv):
                    raise RuntimeError(f"sweep: P['link'][{lk!r}] differs from simulate.params "
                                       f"for {sc}; kernel_model/sweep.py build_params needs updating")
            continue
        if key not in got or not same(got[key], v):
            raise RuntimeError(f"sweep: P[{key!r}] differs from simulate.params for {sc}; "
                               f"kernel_model/sweep.py build_params needs updating")
