"""``optimize(model, gpu, num_gpus, ...)``: the best parallel plan for serving a model.

Searches tp x pp x ep x batch x weight/KV bits x overlap (x micro-batches) with one
vectorised :func:`kernel_model.sweep.sweep`, keeps the plans that fit in GPU memory and meet
the optional TPOT / TTFT limits, and ranks them by ``objective``:

* ``"throughput"``: output tokens/s per GPU (highest first);
* ``"latency"``: TPOT, seconds per output token of one sequence (lowest first).

A plan may use fewer GPUs than ``num_gpus`` when that number divides ``num_gpus``: the
remaining GPUs run identical data-parallel replicas (``replicas`` column), so tokens/s per
GPU is the same for the whole system. The Pareto front is latency (TPOT) vs throughput
(tokens/s per GPU): no other feasible plan is both faster per token and higher per GPU.
Ties prefer fewer GPUs per replica, higher weight / KV precision, less overlap, smaller
batch, fewer stages, so a plan never asks for more than it needs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

OBJECTIVES = ("throughput", "latency")
PLAN_COLUMNS = ["tp", "pp", "ep", "batch", "micro_batches", "weight_format", "weight_bits", "kv_bits",
                "overlap"]
METRIC_COLUMNS = ["num_gpus", "replicas", "tpot_s", "ttft_s", "e2e_s", "output_tokens_per_s",
                  "tokens_per_s_per_gpu", "total_tokens_per_s", "memory_bytes", "bottleneck"]


@dataclass
class OptimizeResult:
    """Outcome of :func:`optimize`. ``best`` is None when no plan is feasible (see ``reason``)."""
    objective: str
    model: str
    gpu: str
    interconnect: str
    num_gpus: int
    constraints: dict
    best: object = None               # pandas Series: plan columns and metrics
    scenario: object = None           # kernel_model.Scenario of the best plan
    result: object = None             # kernel_model.Result of the best plan (simulate())
    pareto: object = None             # DataFrame, fastest TPOT first
    candidates: object = None         # DataFrame of every feasible plan, best first
    searched: int = 0                 # combinations evaluated
    valid: int = 0                    # of which Scenario accepts
    feasible: int = 0                 # of which fit and meet the limits
    reason: str = ""
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"objective": self.objective, "model": self.model, "gpu": self.gpu,
                "interconnect": self.interconnect, "num_gpus": self.num_gpus,
                "constraints": dict(self.constraints),
                "best": None if self.best is None else _row_dict(self.best),
                "result": None if self.result is None else self.result.to_dict(),
                "pareto": [] if self.pareto is None else [_row_dict(r) for _, r in self.pareto.iterrows()],
                "searched": self.searched, "valid": self.valid, "feasible": self.feasible,
                "reason": self.reason, "seconds": self.seconds}

    def summary(self) -> str:
        head = (f"{self.model} on {self.num_gpus} x {self.gpu} over {self.interconnect}: "
                f"{self.searched:,} plans searched, {self.valid:,} valid, {self.feasible:,} "
                f"feasible ({self.seconds:.2f} s); objective: {self.objective}")
        lim = ", ".join(f"{k} <= {v * 1e3:g} ms" for k, v in self.constraints.items() if v is not None)
        lines = [head + (f"; limits: {lim}" if lim else "")]
        if self.best is None:
            lines.append(f"no feasible plan: {self.reason}")
            return "\n".join(lines)
        b = self.best
        lines.append(
            f"best plan: tp={int(b.tp)} pp={int(b.pp)} ep={int(b.ep)} batch={int(b.batch)} "
            f"micro_batches={int(b.micro_batches)} weight_bits={int(b.weight_bits)} "
            + (f"weight_format={b.weight_format} " if "weight_format" in b else "") +
            f"kv_bits={int(b.kv_bits)} overlap={b.overlap:g} ({int(b.num_gpus)} GPU(s) per replica "
            f"x {int(b.replicas)} replica(s))")
        lines.append(
            f"  TPOT {b.tpot_s * 1e3:.3f} ms  TTFT {b.ttft_s * 1e3:.1f} ms  "
            f"{b.output_tokens_per_s:,.1f} tokens/s per replica  "
            f"{b.tokens_per_s_per_gpu:,.1f} tokens/s per GPU  "
            f"{b.total_tokens_per_s:,.1f} tokens/s in all  memory {b.memory_bytes / 1e9:.1f} GB/GPU")
        if self.result is not None:
            lines.append(f"  {self.result.bottleneck}: {self.result.insight}")
        lines.append("Pareto front (latency vs throughput):")
        lines.append(format_table(self.pareto))
        return "\n".join(lines)


def _row_dict(row) -> dict:
    out = {}
    for k, v in row.items():
        out[k] = v.item() if hasattr(v, "item") else v
    return out


def format_table(df) -> str:
    """Plan table with times in ms and memory in GB, for the terminal."""
    if df is None or len(df) == 0:
        return "  (empty)"
    t = df[[c for c in PLAN_COLUMNS + METRIC_COLUMNS if c in df.columns]].copy()
    for c in ("tpot_s", "ttft_s"):
        t[c.replace("_s", "_ms")] = t.pop(c) * 1e3
    t["e2e_s"] = t.pop("e2e_s")
    t["memory_gb"] = t.pop("memory_bytes") / 1e9
    t["bottleneck"] = t.pop("bottleneck").astype(str)
    return t.to_string(index=False, float_format=lambda x: f"{x:,.3f}")


#: The most GPUs optimize searches (as ``nexora optimize --num-gpus``).
MAX_GPUS = 1_000_000


def _divisors(n: int) -> list[int]:
    """Divisors of n in increasing order (trial division up to sqrt(n))."""
    small = [d for d in range(1, int(n ** 0.5) + 1) if n % d == 0]
    return sorted(set(small) | {n // d for d in small})


def _check_int(name, v):
    from .rules import check_int
    return check_int(name, v, 1, MAX_GPUS)


def _check_limit(name, v):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or not np.isfinite(v):
        raise ValueError(f"{name}={v!r} is not allowed: must be a number of seconds > 0 (or None)")
    return float(v)


def _check_objective(objective):
    """Raise ``ValueError`` (with the closest names) unless ``objective`` is in ``OBJECTIVES``."""
    if objective not in OBJECTIVES:
        from .hardware import closest
        near = closest(objective, OBJECTIVES)
        raise ValueError(f"objective={objective!r} is not allowed"
                         + (f"; closest: {', '.join(near)}" if near else "")
                         + f" (valid: {', '.join(OBJECTIVES)})")


def _check_value_lists(batch, weight_bits, kv_bits, overlap):
    """Raise ``ValueError`` when one of the lists of values to try is empty."""
    for name, v in (("batch", batch), ("weight_bits", weight_bits), ("kv_bits", kv_bits),
                    ("overlap", overlap)):
        if np.ndim(v) and len(v) == 0:
            raise ValueError(f"{name}: the list of values is empty; give at least one value")


def _as_list(v) -> list:
    """``v`` as a list: a sequence's items, or a scalar alone."""
    return list(v) if np.ndim(v) else [v]


def _optional_inputs(prompt_tokens, output_tokens, efficiency) -> dict:
    """The optional scenario inputs that were given (prompt / output tokens, efficiency)."""
    extra = {}
    if prompt_tokens is not None:
        extra["prompt_tokens"] = prompt_tokens
    if output_tokens is not None:
        extra["output_tokens"] = output_tokens
    if efficiency:
        extra["efficiency"] = efficiency
    return extra


def _search_grid(model, gpu, link, divs, batch, weight_bits, kv_bits, overlap, comm_bits,
                 gpus_per_node, runtime, efficiency, extra, weight_formats=None) -> dict:
    """The ``sweep`` grid of every plan field value the plan rules allow on its own."""
    # the values of each plan field that the plan rules allow on their own (kernel_model.rules;
    # combinations are checked again by the sweep)
    from .scenario import Scenario
    from . import rules
    T = Scenario(model=model, gpu=gpu, interconnect=link, runtime=runtime,
                 efficiency=efficiency or None).tables()
    tps = rules.allowed("tp", divs, T)
    pps = rules.allowed("pp", divs, T)
    eps = sorted({1} | set(rules.allowed("ep", divs, dict(T, tp=1.0))))
    mbs = sorted(set(pps))
    grid = {"model": [model], "gpu": [gpu], "interconnect": [link], "tp": tps, "pp": pps,
            "ep": eps, "batch": _as_list(batch), "micro_batches": mbs,
            "weight_bits": _as_list(weight_bits), "kv_bits": _as_list(kv_bits),
            "overlap": _as_list(overlap),
            "comm_bits": [comm_bits], "gpus_per_node": [gpus_per_node], "runtime": [runtime]}
    if weight_formats is not None:       # formats in place of bits: each format sets its bits
        grid.update(weight_format=list(weight_formats), weight_bits=[16])
    grid.update({k: [v] for k, v in extra.items()})
    return grid


def _check_formats(weight_formats):
    """Canonical names of the formats to try (aliases allowed), or None; ``ValueError``
    naming the closest for an unknown one."""
    if weight_formats is None:
        return None
    from .rules import check_value
    out = list(dict.fromkeys(check_value("weight_format", f) for f in _as_list(weight_formats)))
    if not out:
        raise ValueError("weight_formats: the list of values is empty; give at least one format")
    return out


def _format_bits(df, formats):
    """``df`` with its ``weight_bits`` the bits each row's format stores (a searched format
    runs with weight_bits 16, which the format replaces), or without the ``weight_format``
    column where no format was searched."""
    if formats is None:
        return df.drop(columns=["weight_format"], errors="ignore")
    from .formats import get_format
    bits = {f: get_format(f).bits for f in formats if f != "auto"}
    mapped = df["weight_format"].astype(str).map(bits)
    df["weight_bits"] = mapped.fillna(df["weight_bits"]).astype(int)
    df["weight_format"] = df["weight_format"].astype(str)
    return df


def _valid_plans(df, sizes, num_gpus):
    """The valid rows of a sweep whose sizes are allowed, with replica columns added."""
    # micro-batches only matter with several stages: keep m=1 for pp=1, m <= pp otherwise
    keep = df["valid"].to_numpy() & np.isin(df["num_gpus"].to_numpy(), sizes)
    keep &= (df["micro_batches"].to_numpy() <= df["pp"].to_numpy())
    df = df.loc[keep].reset_index(drop=True)
    df["replicas"] = num_gpus // df["num_gpus"]
    df["total_tokens_per_s"] = df["output_tokens_per_s"] * df["replicas"]
    return df


def _feasible(df, max_tpot_s, max_ttft_s):
    """The rows of ``df`` that fit in memory and meet the TPOT / TTFT limits."""
    ok = df["fits"].to_numpy().copy()
    if max_tpot_s is not None:
        ok &= df["tpot_s"].to_numpy() <= max_tpot_s
    if max_ttft_s is not None:
        ok &= df["ttft_s"].to_numpy() <= max_ttft_s
    return df.loc[ok]


def _rank(feas, objective):
    """Feasible plans sorted best first by ``objective``, then the tie-breaks."""
    # tie-breaks: fewer GPUs, higher precision, less overlap, smaller batch, fewer stages
    tie = ["num_gpus", "weight_bits", "kv_bits", "overlap", "batch", "pp", "micro_batches", "ep"]
    tie_asc = [True, False, False, True, True, True, True, True]
    if objective == "throughput":
        order = ["tokens_per_s_per_gpu"] + tie
        asc = [False] + tie_asc
    else:
        order = ["tpot_s", "tokens_per_s_per_gpu"] + tie
        asc = [True, False] + tie_asc
    return feas.sort_values(order, ascending=asc, kind="mergesort").reset_index(drop=True)


def _best_scenario(best, model, gpu, link, comm_bits, gpus_per_node, runtime, extra):
    """The Scenario of the plan in row ``best``."""
    from .scenario import Scenario
    kw = {c: int(best[c]) for c in ("tp", "pp", "ep", "batch", "micro_batches", "weight_bits", "kv_bits")}
    if "weight_format" in best:
        kw["weight_format"] = str(best["weight_format"])
    kw.update(overlap=float(best["overlap"]), model=model, gpu=gpu, interconnect=link,
              comm_bits=comm_bits, gpus_per_node=gpus_per_node, runtime=runtime)
    kw.update(extra)
    return Scenario(**kw)


def optimize(model, gpu, num_gpus, interconnect=None, max_tpot_s=None, max_ttft_s=None,
             objective="throughput", *, batch=(1, 2, 4, 8, 16, 32, 64, 128, 256),
             weight_bits=(16, 8, 4), kv_bits=(16, 8), overlap=(0.0, 0.5),
             prompt_tokens=None, output_tokens=None, comm_bits=16, replicas=True,
             gpus_per_node=8, efficiency=None, pareto_metric="tpot_s",
             runtime="compiled", client=None, scheduler=None,
             weight_formats=None) -> OptimizeResult:
    """Search the plans of ``model`` on ``num_gpus`` GPUs of kind ``gpu`` (see module doc).

    ``interconnect`` defaults to the GPU's usual link. ``max_tpot_s`` / ``max_ttft_s``:
    limits in seconds. ``batch``, ``weight_bits``, ``kv_bits``, ``overlap``: the values tried.
    ``replicas=False`` only keeps plans that use all ``num_gpus`` in one replica.
    ``runtime``: the serving runtime profile of every plan. ``weight_formats`` (e.g. ``("bf16",
    "fp8", "nvfp4")``): the precision formats tried in place of ``weight_bits``.
    ``client`` / ``scheduler``: run the search on a Dask cluster (as ``sweep``).
    """
    import time
    from .hardware import get_gpu
    from .models import get_model
    from .sweep import sweep

    t0 = time.perf_counter()
    _check_objective(objective)
    num_gpus = _check_int("num_gpus", num_gpus)
    max_tpot_s = _check_limit("max_tpot_s", max_tpot_s)
    max_ttft_s = _check_limit("max_ttft_s", max_ttft_s)
    spec = get_model(model)
    g = get_gpu(gpu)
    link = interconnect or g.native_link
    _check_value_lists(batch, weight_bits, kv_bits, overlap)
    formats = _check_formats(weight_formats)

    divs = _divisors(num_gpus)
    sizes = divs if replicas else [num_gpus]
    extra = _optional_inputs(prompt_tokens, output_tokens, efficiency)
    grid = _search_grid(model, gpu, link, divs, batch, weight_bits, kv_bits, overlap, comm_bits,
                        gpus_per_node, runtime, efficiency, extra, formats)
    df = sweep(grid, invalid="mark", progress=False, client=client, scheduler=scheduler)
    searched = len(df)
    df = _format_bits(_valid_plans(df, sizes, num_gpus), formats)
    cons = {"max_tpot_s": max_tpot_s, "max_ttft_s": max_ttft_s}
    feas = _feasible(df, max_tpot_s, max_ttft_s)
    res = OptimizeResult(objective=objective, model=spec.name, gpu=g.name, interconnect=link,
                         num_gpus=num_gpus, constraints=cons, searched=searched, valid=len(df),
                         feasible=len(feas))
    if len(feas) == 0:
        res.reason = _why_none(df, cons, spec.name, g)
        res.pareto = feas
        res.candidates = feas
        res.seconds = time.perf_counter() - t0
        return res
    ranked = _rank(feas, objective)
    res.candidates = ranked
    res.pareto = pareto_front(ranked, latency=pareto_metric)
    res.best = ranked.iloc[0]
    from .simulate import simulate
    res.scenario = _best_scenario(res.best, model, gpu, link, comm_bits, gpus_per_node,
                                  runtime, extra)
    res.result = simulate(res.scenario)
    res.seconds = time.perf_counter() - t0
    return res


def pareto_front(df, latency="tpot_s", throughput="tokens_per_s_per_gpu"):
    """Rows of ``df`` not dominated in (lower ``latency``, higher ``throughput``),
    fastest first. Among equal points the first row of ``df`` is kept (pass it ranked)."""
    if len(df) == 0:
        return df
    lat = df[latency].to_numpy()
    thr = df[throughput].to_numpy()
    idx = np.lexsort((np.arange(len(df)), -thr, lat))      # by latency, then throughput desc
    keep, best = [], -np.inf
    for i in idx:
        if thr[i] > best:
            keep.append(i)
            best = thr[i]
    return df.iloc[keep].reset_index(drop=True)


def _why_none(df, cons, model, gpu) -> str:
    if len(df) == 0:
        return "no valid plan (check num_gpus against the model's heads and layers)"
    fits = df["fits"].to_numpy()
    if not fits.any():
        need = df["memory_bytes"].min() / 1e9
        return (f"no plan fits in memory: the smallest needs {need:.1f} GB per GPU but a {gpu.name} "
                f"has {gpu.capacity_bytes / 1e9:.1f} GB ({gpu.capacity_label}); use more GPUs or "
                f"fewer bits")
    parts = []
    f = df.loc[fits]
    if cons["max_tpot_s"] is not None:
        parts.append(f"fastest TPOT that fits is {f['tpot_s'].min() * 1e3:.3f} ms "
                     f"(limit {cons['max_tpot_s'] * 1e3:g} ms)")
    if cons["max_ttft_s"] is not None:
        parts.append(f"fastest TTFT that fits is {f['ttft_s'].min() * 1e3:.1f} ms "
                     f"(limit {cons['max_ttft_s'] * 1e3:g} ms)")
    return "; ".join(parts) or "no plan meets the limits"
