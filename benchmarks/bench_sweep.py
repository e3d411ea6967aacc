"""Scenarios per second of ``kernel_model.sweep`` (every group in one stacked evaluation),
bytes per row, and agreement with ``simulate()`` on random rows of every group.

Targets (issue 13): >= 1,000,000 scenarios/s on a 1e5 grid over 20+ models x 5+ GPUs x 5+
interconnects; >= 5,000,000/s on one big group; <= 100 B/row with ``compact=True``.
    python benchmarks/bench_sweep.py [repeats]
"""
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kernel_model as km                         # noqa: E402
from kernel_model.sweep import sweep              # noqa: E402
from _common import timed, spread, reference      # noqa: E402

MODELS = ["llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3-8b", "llama-3-70b", "llama-3.1-405b",
          "mixtral-8x7b", "mixtral-8x22b", "qwen2.5-7b", "qwen2.5-72b", "opt-13b", "opt-66b",
          "codellama-34b", "mistral-7b", "qwen3-8b", "qwen3-32b", "qwen3-30b-a3b", "deepseek-v2-lite",
          "deepseek-v3", "gpt-175b", "phi-3-mini", "qwen2-57b-a14b"]
MANY = {"model": MODELS, "gpu": ["h100-sxm", "a100-sxm-80gb", "b200", "mi300x", "h200-sxm"],
        "interconnect": ["nvlink", "nvlink4", "nvlink5", "pcie4_good", "pcie5_good", "ib_ndr"],
        "tp": [1, 2, 4, 8], "batch": [1, 8, 32, 128, 512], "prompt_tokens": [128, 512, 2048, 8192],
        "output_tokens": [128, 1024]}
BIG = {"model": ["llama-3-70b"], "gpu": ["h100-sxm"], "interconnect": ["nvlink4"],
       "tp": [1, 2, 4, 8], "pp": [1, 2, 4], "batch": [1, 2, 4, 8, 16, 32, 64, 128],
       "prompt_tokens": [128, 512, 2048, 8192], "output_tokens": [64, 256, 1024],
       "weight_bits": [16, 8, 4], "kv_bits": [16, 8], "micro_batches": [1, 2, 4],
       "overlap": [0.0, 0.5], "comm_bits": [16, 8], "comm_group": [1, 2],
       "algorithm": ["auto", "ring"], "flash_attention": [True, False]}


QUIET_NS = 1.0      # ns per reference element-op of this machine when nothing else runs


def rate(name, grid, target, repeats, ref, **kw):
    n = math.prod(len(v) for v in grid.values())
    times = timed(lambda: sweep(grid, progress=False, **kw), repeats)
    best = n / min(times)
    med = n / sorted(times)[len(times) // 2]
    scaled = med * (ref / 4e7 * 1e9) / QUIET_NS
    print(f"{name}: {n:,} scenarios, {spread(times)} -> {med:,.0f} scenarios/s median, "
          f"{best:,.0f} best (target >= {target:,}) -> {'OK' if med >= target else 'SLOW'}; "
          f"scaled by the reference to {QUIET_NS} ns/element-op: {scaled:,.0f}/s")
    return med


def agreement(grid, samples_per_group=2, seed=0):
    """Largest relative difference from simulate() on random valid rows of every group."""
    df = sweep(grid, progress=False)
    groups = [k for k in ("model", "gpu", "interconnect") if k in grid]
    codes = np.zeros(len(df), dtype=np.int64)
    for g in groups:
        codes = codes * len(grid[g]) + df[g].cat.codes.to_numpy()
    rng = np.random.default_rng(seed)
    valid = df["valid"].to_numpy()
    worst, n = 0.0, 0
    for g in np.unique(codes):
        rows = np.flatnonzero((codes == g) & valid)
        for i in rng.choice(rows, min(samples_per_group, len(rows)), replace=False):
            row = df.iloc[i]
            r = km.simulate(**{k: (row[k].item() if hasattr(row[k], "item") else row[k]) for k in grid})
            for a, b in ((row.tpot_s, r.tpot_s), (row.ttft_s, r.ttft_s), (row.memory_bytes, r.memory["total"])):
                worst = max(worst, abs(a - b) / abs(b))
            n += 1
    print(f"largest relative difference from simulate() on {n} random rows of "
          f"{len(np.unique(codes))} groups: {worst:.1e} (target <= 1e-12) -> "
          f"{'OK' if worst <= 1e-12 else 'DIFFERS'}")


def main(repeats: int = 7):
    ref = reference()
    sweep({"tp": [1, 2]}, progress=False)                      # warm imports
    name = (f"{len(MANY['model'])} models x {len(MANY['gpu'])} GPUs x "
            f"{len(MANY['interconnect'])} interconnects")
    rate(name, MANY, 1_000_000, repeats, ref)
    rate(name + ", compact=True", MANY, 1_000_000, repeats, ref, compact=True)
    rate("one big group (llama-3-70b, h100, nvlink4)", BIG, 5_000_000, repeats, ref)
    rate("one big group, compact=True", BIG, 5_000_000, repeats, ref, compact=True)
    reference()
    for compact in (False, True):
        df = sweep(MANY, progress=False, compact=compact)
        b = df.memory_usage(deep=False, index=False).sum() / len(df)
        print(f"bytes per row, compact={compact}: {b:.0f} B"
              + (f" (target <= 100) -> {'OK' if b <= 100 else 'LARGE'}" if compact else ""))
    agreement(MANY)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
