"""Time of ``optimize("llama-3-70b", "h100-sxm", 8)``: in-process (imports warm; one stacked
sweep over every plan) and as a fresh ``nexora optimize`` process.

Target: <= 2 s on the 2-core development machine.
    python benchmarks/bench_optimize.py [repeats]
"""
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernel_model.optimize import optimize          # noqa: E402
from _common import timed, spread, reference         # noqa: E402


def main(repeats: int = 7) -> float:
    reference()
    optimize("llama-2-7b", "h100-sxm", 2)                      # warm imports
    times = timed(lambda: optimize("llama-3-70b", "h100-sxm", 8), repeats)
    res = optimize("llama-3-70b", "h100-sxm", 8)
    med = statistics.median(times)
    b = res.best
    print(f"optimize llama-3-70b on 8 x h100-sxm: {res.searched:,} plans, {res.feasible:,} feasible, "
          f"{spread(times)} (target <= 2 s) -> {'OK' if med <= 2 else 'SLOW'}")
    print(f"  best: tp={b.tp} pp={b.pp} batch={b.batch} weight_bits={b.weight_bits} "
          f"kv_bits={b.kv_bits} overlap={b.overlap:g}: {b.tokens_per_s_per_gpu:,.0f} tokens/s per GPU, "
          f"TPOT {b.tpot_s * 1e3:.2f} ms; Pareto front {len(res.pareto)} plans")
    times = timed(lambda: optimize("mixtral-8x22b", "h100-sxm", 64), 3)
    res = optimize("mixtral-8x22b", "h100-sxm", 64)
    print(f"optimize mixtral-8x22b on 64 x h100-sxm: {res.searched:,} plans, {spread(times)}")
    exe = shutil.which("nexora")
    cmd = ([exe] if exe else [sys.executable, "-m", "kernel_model"]) + [
        "optimize", "--model", "llama-3-70b", "--gpu", "h100-sxm", "--num-gpus", "8"]
    times = timed(lambda: subprocess.run(cmd, capture_output=True, check=True), 3, warm=0)
    print(f"  `nexora optimize ...` as a fresh process: {spread(times)}")
    return med


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
