"""Wall time of ``nexora`` commands (a fresh process each run) with the ratio of ``--json``
to ``python -c "import numpy"`` (the floor of any numpy program) measured in the same run,
and the in-process figures of ``nexora --bench``.

Target: ``nexora --preset pcie4_bad --tp 4 --json`` <= 0.2 s on the 2-core development machine.
    python benchmarks/bench_cli.py [repeats]
"""
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import timed, spread, reference      # noqa: E402

COMMANDS = [
    ["--preset", "pcie4_bad", "--tp", "4", "--json"],
    ["--preset", "pcie4_bad", "--tp", "4"],                     # text: optimiser + TP comparison
    ["--preset", "pcie4_bad", "--tp", "4", "--json-compat"],
    ["--preset", "pcie4_bad", "--tp", "4", "--no-opt"],
]


def command() -> list[str]:
    exe = shutil.which("nexora")
    return [exe] if exe else [sys.executable, "-m", "kernel_model"]


def _run(cmd):
    subprocess.run(cmd, capture_output=True, check=True)


def main(repeats: int = 11) -> float:
    reference()
    numpy_t = timed(lambda: _run([sys.executable, "-c", "import numpy"]), repeats)
    base = statistics.median(numpy_t)
    print(f'python -c "import numpy": {spread(numpy_t)}')
    first = None
    for args in COMMANDS:
        t = timed(lambda: _run(command() + args), repeats)
        med = statistics.median(t)
        first = med if first is None else first
        print(f"nexora {' '.join(args)}: {spread(t)}; {med / base:.2f} x the numpy import")
    print(f"--json target <= 0.2 s -> {'OK' if first <= 0.2 else 'SLOW'}")
    out = subprocess.run(command() + ["--preset", "pcie4_bad", "--tp", "4", "--bench"],
                         capture_output=True, text=True, check=True).stdout
    print("nexora --preset pcie4_bad --tp 4 --bench:\n  " + out.strip().replace("\n", "\n  "))
    return first


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 11)
