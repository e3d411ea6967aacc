"""Median time from a trait change to every mark updated (Python side, no browser).

llama-2-70b on 8 x h100-sxm over nvlink4 (TP=8), the whole Dashboard (timeline of the
decode step included). Each widget message is JSON-encoded as a kernel would before
sending (nexora_widgets.testing.record_comms). Target: <= 30 ms.

    python benchmarks/bench_widgets.py [--repeat 40]
"""
from __future__ import annotations

import argparse
import statistics
import time

from kernel_model import simulate
from nexora_widgets import Dashboard
from nexora_widgets.testing import record_comms

SCENARIO = dict(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)
TARGET_MS = 30.0


def median_ms(step, repeat):
    times = []
    for i in range(repeat):
        t0 = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=40)
    args = ap.parse_args(argv)
    with record_comms() as log:
        d = Dashboard(**SCENARIO)
        m = d.model
        for i in range(3):                                   # warm up
            m.batch = 2 if i % 2 == 0 else 1
        n0, b0 = len(log), sum(x[3] + x[4] for x in log)

        def trait_change(i):                                 # model.batch 1 <-> 2
            m.batch = 2 if m.batch == 1 else 1
        t_trait = median_ms(trait_change, args.repeat)
        per_change = (sum(x[3] + x[4] for x in log) - b0) / args.repeat / 1e3
        msgs = (len(log) - n0) / args.repeat

        tp = d.controls.widgets["tp"]

        def slider_move(i):                                  # the tp slider 8 <-> 4
            tp.value = 4 if tp.value == 8 else 8
        t_slider = median_ms(slider_move, args.repeat)

        res = m.result
        alt = simulate(m.to_scenario().replace(batch=2))
        alt.timeline
        views = {"timeline": d.timeline, "breakdown": d.breakdown, "scaling": d.scaling,
                 "memory": d.memory, "compare": d.compare, "cards": d.cards}
        per_view = {k: median_ms(lambda i, v=v: v.update(alt if i % 2 else res), args.repeat)
                    for k, v in views.items()}
        t_sim = median_ms(lambda i: simulate(m.to_scenario()).timeline, args.repeat)
        t_ctl = median_ms(lambda i: d.controls._refresh_options(), args.repeat)

    n_kernels = int((res.timeline.phase == "decode").sum())
    print(f"dashboard, {SCENARIO['model']} TP={SCENARIO['tp']} on {SCENARIO['gpu']}/{SCENARIO['interconnect']}, "
          f"{n_kernels} kernels+collectives in the decode timeline")
    print(f"trait change -> all marks updated: median {t_trait:.1f} ms (target <= {TARGET_MS:.0f} ms) "
          f"{'OK' if t_trait <= TARGET_MS else 'OVER TARGET'}")
    print(f"tp slider move -> all marks updated: median {t_slider:.1f} ms")
    print(f"  per change: {msgs:.0f} widget messages, {per_change:.0f} kB; simulate()+timeline {t_sim:.1f} ms")
    print("  per view redraw: " + ", ".join(f"{k} {v:.2f} ms" for k, v in per_view.items())
          + f", controls' valid options {t_ctl:.2f} ms")
    return t_trait


if __name__ == "__main__":
    main()
