"""The collective model against published collective timings (issue 11 figures).

    python benchmarks/bench_collectives.py [PATH.csv]

Prints the per-system median error, the overall MAPE, the PCIe small-message floors and the
targets (per system <= 25 %, overall <= 25 %, every PCIe floor within 30 %), then how fast
the collective model runs: the vectorised all-reduce over 10^6 (size, ranks) points and the
whole validation, as medians with the spread of 7 runs, beside a fixed numpy reference
workload timed in the same run (so figures compare across machines).
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kernel_model as km                                           # noqa: E402
from kernel_model import collectives as coll                        # noqa: E402
from kernel_model import validate_collectives as VC                 # noqa: E402
from kernel_model.hardware import COLLECTIVE_CONSTANTS              # noqa: E402
from kernel_model.simulate import link_params                       # noqa: E402


def timed(fn, repeat=7):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), min(ts), max(ts)


def reference():
    a = np.random.default_rng(0).random(1_000_000)
    return float(np.sqrt(a * a + 1.0).sum())


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else os.path.join(os.path.dirname(km.__file__), "data", "collectives.csv")
    df = pd.read_csv(path)
    out = VC.validate_collectives(df, path)
    s = VC.summarize(out)
    print(VC.report(out, s))
    print(f"overall within {VC.TARGET_OVERALL:.0f} %: "
          f"{'PASS' if s['overall_mape'] <= VC.TARGET_OVERALL else 'FAIL'}")

    L = link_params(None, km.get_interconnect("pcie4_bad"), km.get_interconnect("ib_ndr"),
                    "auto", 8)
    S = np.logspace(0, 33, 1_000_000, base=2)
    n = np.where(np.arange(S.size) % 2 == 0, 4.0, 16.0)
    c = COLLECTIVE_CONSTANTS["eager_call_s"]
    ref = timed(reference)
    vec = timed(lambda: coll.allreduce(S, n, L, c))
    val = timed(lambda: VC.validate_collectives(df, path))
    print(f"\nnumpy reference workload: {ref[0] * 1e3:.1f} ms (spread {ref[1] * 1e3:.1f}-{ref[2] * 1e3:.1f})")
    print(f"all-reduce model, 10^6 points: {vec[0] * 1e3:.1f} ms median "
          f"(spread {vec[1] * 1e3:.1f}-{vec[2] * 1e3:.1f}) = {S.size / vec[0] / 1e6:.1f} M/s, "
          f"{vec[0] / ref[0]:.1f}x the reference")
    print(f"validate {len(df)} rows: {val[0] * 1e3:.0f} ms median "
          f"(spread {val[1] * 1e3:.0f}-{val[2] * 1e3:.0f}) = {len(df) / val[0]:.0f} rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
