"""Wall time of ``simulate()`` for llama-2-70b TP=8 on H100/NVLink4: without the timeline
(the scalar fast path; target <= 0.2 ms, stretch 0.1 ms) and with it (target <= 2 ms).

    python benchmarks/bench_simulate.py [repeats]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kernel_model as km                          # noqa: E402
from _common import timed, spread, reference       # noqa: E402


def main(repeats: int = 2000):
    reference()
    sc = km.Scenario(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)
    t = timed(lambda: km.simulate(sc), repeats, warm=50)
    med = sorted(t)[len(t) // 2]
    print(f"simulate() without the timeline: {spread(t, 1e3, 'ms')} (target <= 0.2 ms, "
          f"stretch 0.1 ms) -> {'OK' if med <= 2e-4 else 'SLOW'}"
          + (" (stretch met)" if med <= 1e-4 else ""))
    kw = dict(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)
    t = timed(lambda: km.simulate(**kw), repeats // 2, warm=20)
    print(f"simulate(**fields) incl. building the Scenario: {spread(t, 1e3, 'ms')}")
    t = timed(lambda: km.simulate(sc).timeline, repeats // 10, warm=5)
    rows = len(km.simulate(sc).timeline)
    med = sorted(t)[len(t) // 2]
    print(f"simulate() with the timeline ({rows} rows): {spread(t, 1e3, 'ms')} "
          f"(target <= 2 ms) -> {'OK' if med <= 2e-3 else 'SLOW'}")
    scs = [sc.replace(tp=tp, batch=b) for tp in (1, 2, 4, 8) for b in (1, 8, 64)]
    t = timed(lambda: km.evaluate_scenarios(scs), repeats // 10, warm=5)
    print(f"evaluate_scenarios() of {len(scs)} scenarios in one stacked pass: {spread(t, 1e3, 'ms')}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
