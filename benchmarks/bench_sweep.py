"""Scenarios per second of ``kernel_model.sweep`` (closed form, vectorised) and its
agreement with ``simulate()`` on a random sample.

Target: >= 1,000,000 scenarios/s on the 2-core development machine.
    python benchmarks/bench_sweep.py
"""
import math
import statistics
import time

import numpy as np

import kernel_model as km
from kernel_model.sweep import sweep

GRID = {"model": ["llama-3-70b", "mixtral-8x7b"], "gpu": ["h100-sxm", "a100-sxm-80gb"],
        "interconnect": ["nvlink4"], "tp": [1, 2, 4, 8], "pp": [1, 2, 4],
        "batch": [1, 2, 4, 8, 16, 32, 64, 128], "prompt_tokens": [128, 512, 2048, 8192],
        "output_tokens": [64, 256, 1024], "weight_bits": [16, 8, 4], "kv_bits": [16, 8],
        "micro_batches": [1, 2, 4], "overlap": [0.0, 0.5], "comm_bits": [16, 8],
        "comm_group": [1, 2], "algorithm": ["auto", "ring"]}


def main(repeats: int = 5) -> float:
    n = math.prod(len(v) for v in GRID.values())
    sweep({"tp": [1, 2]}, progress=False)                      # warm imports
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        df = sweep(GRID, progress=False)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    rate = n / med
    print(f"sweep of {n:,} scenarios ({df.attrs['invalid']:,} invalid, marked): median {med:.3f} s "
          f"-> {rate:,.0f} scenarios/s (target >= 1,000,000) -> {'OK' if rate >= 1e6 else 'SLOW'}")
    rng = np.random.default_rng(0)
    idx = rng.choice(np.flatnonzero(df["valid"].to_numpy()), 200, replace=False)
    worst = 0.0
    for i in idx:
        row = df.iloc[i]
        kw = {k: (row[k].item() if hasattr(row[k], "item") else row[k]) for k in GRID}
        r = km.simulate(km.Scenario(**kw))
        for a, b in ((row.tpot_s, r.tpot_s), (row.ttft_s, r.ttft_s), (row.memory_bytes, r.memory["total"])):
            worst = max(worst, abs(a - b) / abs(b))
    print(f"largest relative difference from simulate() on 200 random rows: {worst:.1e} (test: <= 1e-9)")
    return rate


if __name__ == "__main__":
    main()
