"""Time of ``optimize("llama-3-70b", "h100-sxm", 8)``: in-process (imports warm) and as a
fresh ``nexora optimize`` process.

Target: <= 2 s on the 2-core development machine.
    python benchmarks/bench_optimize.py
"""
import shutil
import statistics
import subprocess
import sys
import time

from kernel_model.optimize import optimize


def main(repeats: int = 5) -> float:
    optimize("llama-2-7b", "h100-sxm", 2)                      # warm imports
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = optimize("llama-3-70b", "h100-sxm", 8)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    b = res.best
    print(f"optimize llama-3-70b on 8 x h100-sxm: {res.searched:,} plans, {res.feasible:,} feasible, "
          f"median {med:.3f} s (target <= 2 s) -> {'OK' if med <= 2 else 'SLOW'}")
    print(f"  best: tp={b.tp} pp={b.pp} batch={b.batch} weight_bits={b.weight_bits} "
          f"kv_bits={b.kv_bits} overlap={b.overlap:g}: {b.tokens_per_s_per_gpu:,.0f} tokens/s per GPU, "
          f"TPOT {b.tpot_s * 1e3:.2f} ms; Pareto front {len(res.pareto)} plans")
    exe = shutil.which("nexora")
    cmd = ([exe] if exe else [sys.executable, "-m", "kernel_model"]) + [
        "optimize", "--model", "llama-3-70b", "--gpu", "h100-sxm", "--num-gpus", "8"]
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True)
    print(f"  `nexora optimize ...` as a fresh process: {time.perf_counter() - t0:.3f} s wall")
    return med


if __name__ == "__main__":
    main()
