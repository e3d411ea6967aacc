"""Wall time of ``nexora --preset pcie4_bad --tp 4 --json`` as a fresh process, and its ratio
to ``python -c "import numpy"`` (the floor of any numpy program) measured in the same run.

Target: <= 0.2 s on the 2-core development machine.
    python benchmarks/bench_cli.py [repeats]
"""
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import timed, spread, reference      # noqa: E402

ARGS = ["--preset", "pcie4_bad", "--tp", "4", "--json"]


def command() -> list[str]:
    exe = shutil.which("nexora")
    return [exe] if exe else [sys.executable, "-m", "kernel_model"]


def main(repeats: int = 11) -> float:
    reference()
    cmd = command() + ARGS
    run = lambda c: subprocess.run(c, capture_output=True, check=True)   # noqa: E731
    numpy_t = timed(lambda: run([sys.executable, "-c", "import numpy"]), repeats)
    cli_t = timed(lambda: run(cmd), repeats)
    med, base = statistics.median(cli_t), statistics.median(numpy_t)
    print(f'python -c "import numpy": {spread(numpy_t)}')
    print(f"{' '.join(['nexora'] + ARGS)}: {spread(cli_t)} (target <= 0.2 s) -> "
          f"{'OK' if med <= 0.2 else 'SLOW'}; {med / base:.2f} x the numpy import")
    t = timed(lambda: run(command() + ["--preset", "pcie4_bad", "--tp", "4"]), 3)
    print(f"text output with the TP comparison: {spread(t)}")
    return med


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 11)
