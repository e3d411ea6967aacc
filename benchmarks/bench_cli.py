"""Wall time of ``nexora --preset pcie4_bad --tp 4 --json`` (a fresh process each run).

Target: <= 0.5 s on the 2-core development machine.
    python benchmarks/bench_cli.py
"""
import shutil
import statistics
import subprocess
import sys
import time

ARGS = ["--preset", "pcie4_bad", "--tp", "4", "--json"]


def command() -> list[str]:
    exe = shutil.which("nexora")
    return [exe] if exe else [sys.executable, "-m", "kernel_model"]


def main(repeats: int = 9) -> float:
    cmd = command() + ARGS
    subprocess.run(cmd, capture_output=True, check=True)           # warm the file cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"{' '.join(['nexora'] + ARGS)}: median {med:.3f} s wall, best {min(times):.3f} s "
          f"over {repeats} runs (target <= 0.5 s) -> {'OK' if med <= 0.5 else 'SLOW'}")
    t0 = time.perf_counter()
    subprocess.run(command() + ["--preset", "pcie4_bad", "--tp", "4"], capture_output=True, check=True)
    print(f"text output with the TP comparison: {time.perf_counter() - t0:.3f} s wall")
    return med


if __name__ == "__main__":
    main()
