"""Shared by the benchmarks: medians with their spread, and a fixed numpy reference workload
timed in the same run so that figures can be compared across machines."""
from __future__ import annotations

import statistics
import time

import numpy as np


def timed(fn, repeats: int, warm: int = 1) -> list[float]:
    """Wall times (s) of ``repeats`` calls of ``fn`` after ``warm`` untimed ones."""
    for _ in range(warm):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def spread(times, scale: float = 1.0, unit: str = "s", digits: int = 3) -> str:
    """``median X unit (IQR a-b, n runs)`` of ``times`` multiplied by ``scale``."""
    t = sorted(x * scale for x in times)
    med = statistics.median(t)
    q = statistics.quantiles(t, n=4) if len(t) >= 2 else [t[0], t[0], t[0]]
    return f"median {med:.{digits}f} {unit} (IQR {q[0]:.{digits}f}-{q[2]:.{digits}f}, {len(t)} runs)"


_REF = None


def reference(repeats: int = 7) -> float:
    """Median seconds of a fixed numpy workload: 40 float64 operations over 1e5 elements
    (cache-resident, like the engine's chunks), 10 times: 4e7 element-operations. Printed
    with ns per element-operation so that figures can be scaled between machines."""
    global _REF
    rng = np.random.default_rng(0)
    a, b = rng.random(100_000), rng.random(100_000) + 1.0

    def work():
        for _ in range(10):
            x = a
            for _ in range(10):
                x = np.maximum(x * b + a, a / b) - np.minimum(x, b)
        return x

    times = timed(work, repeats)
    _REF = statistics.median(times)
    print(f"reference numpy workload (4e7 float64 element-ops): {spread(times, 1e3, 'ms', 1)}"
          f" = {_REF / 4e7 * 1e9:.2f} ns per element-op")
    return _REF
