"""Median wall time of simulate() for llama-2-70b TP=8 on H100/NVLink4, timeline included.

Target: <= 2 ms on the 2-core development machine.
    python benchmarks/bench_simulate.py
"""
import statistics
import time

import kernel_model as km


def main(repeats: int = 200) -> float:
    sc = km.Scenario(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)
    for _ in range(10):
        km.simulate(sc).timeline
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = km.simulate(sc)
        res.timeline                      # build the per-kernel timeline too
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"simulate() llama-2-70b tp=8 with timeline ({len(res.timeline)} rows): "
          f"median {med * 1e3:.3f} ms over {repeats} runs (target <= 2 ms)")
    t0 = time.perf_counter()
    for _ in range(repeats):
        km.simulate(sc)
    print(f"simulate() without building the timeline: {(time.perf_counter() - t0) / repeats * 1e3:.3f} ms")
    return med


if __name__ == "__main__":
    main()
