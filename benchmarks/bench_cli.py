"""Wall time of ``nexora`` commands (a fresh process each run), and the in-process figures
of ``nexora --bench``.

Target: ``--json`` <= 0.5 s on the 2-core development machine.
    python benchmarks/bench_cli.py
"""
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = [
    ["--preset", "pcie4_bad", "--tp", "4", "--json"],
    ["--preset", "pcie4_bad", "--tp", "4"],                     # text: optimiser + TP comparison
    ["--preset", "pcie4_bad", "--tp", "4", "--json-compat"],
    ["--preset", "pcie4_bad", "--tp", "4", "--no-opt"],
]


def command() -> list[str]:
    exe = shutil.which("nexora")
    return [exe] if exe else [sys.executable, "-m", "kernel_model"]


def wall(args, repeats):
    cmd = command() + args
    subprocess.run(cmd, capture_output=True, check=True)           # warm the file cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return times


def main(repeats: int = 7) -> float:
    first = None
    for args in COMMANDS:
        t = wall(args, repeats)
        med = statistics.median(t)
        first = med if first is None else first
        print(f"nexora {' '.join(args)}: median {med:.3f} s, spread {min(t):.3f}-{max(t):.3f} s "
              f"over {repeats} runs")
    print(f"--json target <= 0.5 s -> {'OK' if first <= 0.5 else 'SLOW'}")
    out = subprocess.run(command() + ["--preset", "pcie4_bad", "--tp", "4", "--bench"],
                         capture_output=True, text=True, check=True).stdout
    print("nexora --preset pcie4_bad --tp 4 --bench:\n  " + out.strip().replace("\n", "\n  "))
    return first


if __name__ == "__main__":
    main()
