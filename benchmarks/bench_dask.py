"""Scenarios per second of ``sweep`` on a dask.distributed LocalCluster with 1 and 2 worker
processes (issue 13 item 6), each block of ~``chunk_rows`` scenarios one Dask task.

    python benchmarks/bench_dask.py [ROWS] [CHUNK_ROWS]      # default 1e7 rows, 1e6 per task

The blocks are evaluated on the workers and only their row counts come back (``lazy=True``
and a count per partition), so the figure is the cluster's evaluation rate, not the speed of
shipping gigabytes to this process. On a 2-core machine 2 workers cannot beat 1 by much.
"""
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import spread, reference          # noqa: E402


def grid(rows: float) -> dict:
    g = {"model": ["llama-2-7b", "llama-3-70b", "mixtral-8x7b", "qwen2.5-72b"],
         "gpu": ["h100-sxm", "a100-sxm-80gb"], "interconnect": ["nvlink4", "pcie4_good"],
         "tp": [1, 2, 4, 8], "pp": [1, 2], "batch": [1, 2, 4, 8, 16, 32, 64, 128],
         "output_tokens": [64, 256, 1024, 4096], "weight_bits": [16, 8, 4], "kv_bits": [16, 8]}
    n = math.prod(len(v) for v in g.values())
    k = max(1, round(rows / n))
    g["prompt_tokens"] = [64 + 16 * i for i in range(k)]
    return g


def main(rows: float = 1e7, chunk_rows: int = 1_000_000, repeats: int = 3):
    from distributed import Client, LocalCluster
    import kernel_model as km
    reference()
    g = grid(rows)
    n = math.prod(len(v) for v in g.values())
    print(f"grid: {n:,} scenarios in blocks of ~{chunk_rows:,}")
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=40) as cluster, Client(cluster) as client:
            km.sweep({"tp": [1, 2]}, client=client, progress=False)          # warm the workers
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                ddf = km.sweep(g, client=client, lazy=True, chunk_rows=chunk_rows)
                counted = int(ddf.map_partitions(len).compute().sum())
                times.append(time.perf_counter() - t0)
            assert counted == n, (counted, n)
            med = sorted(times)[len(times) // 2]
            print(f"{workers} worker(s): {spread(times)} -> {n / med:,.0f} scenarios/s")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(float(args[0]) if args else 1e7, int(float(args[1])) if len(args) > 1 else 1_000_000)
