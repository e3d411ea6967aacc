"""``nexora --bench``: time ``simulate()`` in-process (ns per call, calls per second, as the
old tool printed) and the vectorised sweep rate beside it.

The old closed form took nanoseconds per call, so ``--bench-iters 1000000`` took well under a
second; ``simulate()`` builds a whole per-kernel result in about a millisecond, so the loop is
time-boxed by ``--bench-seconds`` (2 s) and reports the calls it made. The sweep rate times one
vectorised ``sweep()`` of about 100,000 scenarios around the given one.
"""
from __future__ import annotations

import statistics
import time


def time_simulate(sim, sc, iters: int, seconds: float) -> dict:
    sim(sc)                                   # warm caches
    blocks, n, t_all = [], 0, time.perf_counter()
    deadline = t_all + seconds
    while n < iters:
        k = min(20, iters - n)
        t0 = time.perf_counter()
        for _ in range(k):
            sim(sc)
        dt = time.perf_counter() - t0
        blocks.append(dt / k)
        n += k
        if time.perf_counter() >= deadline:
            break
    total = time.perf_counter() - t_all
    per = total / n
    return {"calls": n, "seconds": total, "ns_per_call": per * 1e9, "calls_per_s": 1.0 / per,
            "median_ns": statistics.median(blocks) * 1e9, "min_ns": min(blocks) * 1e9,
            "max_ns": max(blocks) * 1e9, "time_boxed": n < iters}


def time_sweep(sc, target: int = 100_000) -> dict:
    from ..sweep import sweep
    d = sc.to_dict()
    d.pop("efficiency", None)
    grid = {k: [v] for k, v in d.items() if v is not None}
    grid["batch"] = list(range(1, 65))
    grid["prompt_tokens"] = [int(x) for x in range(128, 128 + 64 * 32, 32)]
    grid["overlap"] = [i / 24 for i in range(max(1, target // (64 * 64)))]
    if sc.efficiency:
        grid["efficiency"] = [sc.efficiency]
    n = 1
    for v in grid.values():
        n *= len(v)
    sweep(grid, invalid="mark", progress=None)           # warm-up (imports, first group)
    t0 = time.perf_counter()
    sweep(grid, invalid="mark", progress=None)
    dt = time.perf_counter() - t0
    return {"scenarios": n, "seconds": dt, "per_s": n / dt}


def lines(b: dict, s: dict | None, iters: int, seconds: float) -> list[str]:
    L = [f"simulate(): {b['ns_per_call']:,.0f} ns/call, {b['calls_per_s']:,.0f} calls/s "
         f"({b['calls']:,} calls in {b['seconds']:.2f} s; per call median {b['median_ns']:,.0f} ns, "
         f"range {b['min_ns']:,.0f}-{b['max_ns']:,.0f} ns over blocks of 20)"]
    if b["time_boxed"]:
        L.append(f"  time-boxed at --bench-seconds {seconds:g} before the {iters:,} calls of "
                 f"--bench-iters (simulate() builds a per-kernel result; the sweep below is the "
                 f"closed form alone)")
    if s is not None:
        L.append(f"sweep(): {s['per_s']:,.0f} scenarios/s ({s['scenarios']:,} scenarios in "
                 f"{s['seconds']:.2f} s, vectorised), {1e9 / s['per_s']:,.0f} ns per scenario")
    return L
