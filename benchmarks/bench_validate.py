"""How fast ``nexora validate`` simulates measurement rows (target: >= 1000 rows/s).

    python benchmarks/bench_validate.py [PATH.csv]

Prints rows simulated per second for: the whole ``validate()`` (read, check, map to
scenarios, closed form), the same on a file 50x larger, the closed form alone on the
stacked parameters (what each step of ``calibrate.fit`` costs), one ``simulate()`` per
row for comparison, and the time of one full calibration fit.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kernel_model as km                                          # noqa: E402
from kernel_model import validate as V, calibrate as C             # noqa: E402

TARGET = 1000.0


def best_of(fn, repeat=5):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else V.find_measurements()
    if path is None:
        print("measurements.csv not found: pass its path", file=sys.stderr)
        return 2
    raw = pd.read_csv(path)
    n = len(raw)
    t_val = best_of(lambda: V.validate(path))
    with tempfile.TemporaryDirectory() as d:
        big = os.path.join(d, "big.csv")
        pd.concat([raw] * 50, ignore_index=True).to_csv(big, index=False)
        t_big = best_of(lambda: V.validate(big), repeat=2)
    prep = V.prepare(path)
    m = len(prep.inf_index)
    t_eval = best_of(lambda: V.predict_arrays(prep.P, prep.metrics), repeat=20)
    t_sim = best_of(lambda: [km.simulate(sc) for sc in prep.scenarios], repeat=3)
    t0 = time.perf_counter()
    _, rep = C.fit(path)
    t_fit = time.perf_counter() - t0
    rate = n / t_val
    print(f"file: {path} ({n} rows, {m} in closed form)")
    print(f"validate():              {rate:10.0f} rows/s  ({t_val * 1e3:.1f} ms for {n} rows)")
    print(f"validate() 50x file:     {50 * n / t_big:10.0f} rows/s  ({t_big:.2f} s for {50 * n} rows)")
    print(f"closed form only:        {m / t_eval:10.0f} rows/s  ({t_eval * 1e3:.2f} ms per pass)")
    print(f"simulate() per row:      {m / t_sim:10.0f} rows/s")
    print(f"calibrate.fit():         {t_fit:10.2f} s  ({rep['evaluations']} evaluations, "
          f"MAPE {rep['mape_before']:.1f} % -> {rep['mape_after']:.1f} %)")
    s = V.summarize(V.validate(path))
    print(f"accuracy: overall MAPE {s['overall']:.1f} %; worst source "
          f"{s['by_source']['mape'].idxmax()} {s['by_source']['mape'].max():.1f} %")
    hold = V.find_measurements("holdout.csv")
    if hold:
        h = V.summarize(V.validate(hold))
        per = ", ".join(f"{k} {v:.1f} %" for k, v in h["by_source"]["mape"].items())
        print(f"hold-out, never fitted (H100/H200): MAPE {h['overall']:.1f} % over {h['ok']} rows ({per})")
    new = V.find_measurements("measurements_2025.csv")
    if new:
        n5 = V.summarize(V.validate(new))
        per = ", ".join(f"{k} {v:.1f} %" for k, v in n5["by_source"]["mape"].items())
        print(f"measurements_2025.csv, fixed-batch rows: MAPE {n5['overall']:.1f} % over "
              f"{n5['ok']} rows ({per}); {len(n5['excluded'])} saturation rows excluded")
    print(f"target >= {TARGET:.0f} rows/s: {'PASS' if rate >= TARGET else 'FAIL'}")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
