"""Python time from a trait change to every mark updated (no browser), median and spread.

llama-2-70b on 8 x h100-sxm over nvlink4 (TP=8), the whole Dashboard (timeline of the
decode step included). Each widget message is JSON-encoded as a kernel would before
sending (nexora_widgets.testing.record_comms). Counts the closed-form ``evaluate()`` calls
per change (target: ONE, the result and every chart's plans stacked together), and as a
cross-check the closed form's decode-phase runs (``schedule.phase``, one per evaluation
however ``evaluate`` was imported), checks that an extra TimelineChart and a RooflineChart on the same model add no evaluation
and no second derivation of the timeline rows, and prints a fixed numpy reference workload
so figures compare across machines. CPU time (``time.process_time``) is printed beside wall
time: on a shared machine it is the steadier figure. Target: <= 5 ms per change.

    python benchmarks/bench_widgets.py [--repeat 60]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from kernel_model import simulate
from nexora_widgets import Dashboard, RooflineChart, TimelineChart
from nexora_widgets import timeline as tl_mod
from nexora_widgets.testing import record_comms
from kernel_model import schedule as _schedule

SCENARIO = dict(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)
TARGET_MS = 5.0
_sim = sys.modules["kernel_model.simulate"]


def stats(step, repeat, clock=time.perf_counter):
    """(median, 10th, 90th percentile) in ms of ``step(i)`` over ``repeat`` runs."""
    times = []
    for i in range(repeat):
        t0 = clock()
        step(i)
        times.append((clock() - t0) * 1e3)
    q = np.percentile(times, [10, 90])
    return statistics.median(times), float(q[0]), float(q[1])


def fmt(s):
    return f"median {s[0]:.2f} ms (p10-p90 {s[1]:.2f}-{s[2]:.2f})"


def numpy_reference(repeat=20):
    """A fixed workload: 1e6-element float64 multiply-add + sum, ms (median)."""
    a, b = np.random.default_rng(0).random((2, 1_000_000))
    return stats(lambda i: float((a * b + a).sum()), repeat)


class Counter:
    """Counts calls of ``_sim.evaluate``, of the closed form's decode phase (``schedule.phase``
    with prefill=False: once per evaluation, whoever calls it) and of the timeline-row
    derivation while active."""

    def __init__(self):
        self.evaluate = self.rows = self.decode_phases = 0

    def __enter__(self):
        self._ev, self._rows, self._phase = _sim.evaluate, tl_mod._columns, _schedule.phase

        def ev(P):
            self.evaluate += 1
            return self._ev(P)

        def rows(res, phase):
            self.rows += 1
            return self._rows(res, phase)

        def phase(P, link, prefill, **kw):
            self.decode_phases += not prefill
            return self._phase(P, link, prefill, **kw)
        _sim.evaluate, tl_mod._columns, _schedule.phase = ev, rows, phase
        return self

    def __exit__(self, *exc):
        _sim.evaluate, tl_mod._columns, _schedule.phase = self._ev, self._rows, self._phase


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=60)
    args = ap.parse_args(argv)
    with record_comms() as log:
        d = Dashboard(**SCENARIO)
        m = d.model
        for i in range(4):                                   # warm up
            m.batch = 2 if i % 2 == 0 else 1

        def trait_change(i):                                 # model.batch 1 <-> 2
            m.batch = 2 if m.batch == 1 else 1
        n0, b0 = len(log), sum(x[3] + x[4] for x in log)
        wall = stats(trait_change, args.repeat)
        msgs = (len(log) - n0) / args.repeat
        kb = (sum(x[3] + x[4] for x in log) - b0) / args.repeat / 1e3
        cpu = stats(trait_change, args.repeat, time.process_time)
        with Counter() as c:
            for i in range(10):
                trait_change(i)
        ev_per_change, rows_per_change = c.evaluate / 10, c.rows / 10
        phases_per_change = c.decode_phases / 10

        tp = d.controls.widgets["tp"]
        slider = stats(lambda i: setattr(tp, "value", 4 if tp.value == 8 else 8), args.repeat)

        extra = [TimelineChart(m, css=False), RooflineChart(m, css=False)]
        with Counter() as c2:
            for i in range(10):
                trait_change(i)
        with_extra = stats(trait_change, args.repeat, time.process_time)
        t_sim = stats(lambda i: simulate(m.to_scenario()), args.repeat)
        del extra
    ref = numpy_reference()
    n_kernels = int((m.result.timeline.phase == "decode").sum())
    print(f"dashboard, {SCENARIO['model']} TP={SCENARIO['tp']} on {SCENARIO['gpu']}/"
          f"{SCENARIO['interconnect']}, {n_kernels} kernels+collectives in the decode timeline; "
          f"{args.repeat} changes each")
    print(f"numpy reference (1e6 multiply-add + sum): {fmt(ref)}")
    print(f"trait change -> all marks updated, wall: {fmt(wall)}")
    print(f"trait change -> all marks updated, CPU:  {fmt(cpu)} (target <= {TARGET_MS:.0f} ms) "
          f"{'OK' if cpu[0] <= TARGET_MS else 'OVER TARGET'}")
    print(f"tp slider move -> all marks updated, wall: {fmt(slider)}")
    print(f"  per change: {ev_per_change:g} evaluate() call(s) (target 1: the result, the scaling "
          f"and the compare plans stacked; {phases_per_change:g} closed-form decode phase runs), "
          f"{rows_per_change:g} timeline-row derivations, {msgs:.0f} widget messages, {kb:.0f} kB")
    print(f"  + a second TimelineChart and a RooflineChart: {c2.evaluate / 10:g} evaluate() and "
          f"{c2.rows / 10:g} row derivations per change, CPU {fmt(with_extra)}")
    print(f"  simulate() alone (no timeline): {fmt(t_sim)}")
    return cpu[0]


if __name__ == "__main__":
    main()
