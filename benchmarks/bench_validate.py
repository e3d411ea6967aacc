"""How fast ``nexora validate`` simulates measurement rows (target: >= 1000 rows/s on the
shipped file; a million-row file in seconds, not minutes).

    python benchmarks/bench_validate.py [PATH.csv] [--rows N] [--repeat R]

Prints rows per second as the median and spread (min-max) over ``R`` runs for: the whole
``validate()`` (read, check, map to scenarios, closed form) on the file and on a file of
``N`` rows (default 1,000,000: the file repeated, and the same with random plans, many
impossible, so many groups), the closed form alone on the stacked parameters (what each
step of ``calibrate.fit`` costs), one ``simulate()`` per row for comparison, and the time
of one full calibration fit.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kernel_model as km                                          # noqa: E402
from kernel_model import validate as V, calibrate as C             # noqa: E402

TARGET = 1000.0


def timed(fn, repeat):
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return ts


def rate_line(label, n, ts) -> str:
    rates = [n / t for t in ts]
    return (f"{label:<34} {statistics.median(rates):>12,.0f} rows/s  (spread "
            f"{min(rates):,.0f}-{max(rates):,.0f} over {len(ts)} runs; median "
            f"{statistics.median(ts):.3f} s for {n:,} rows)")


def random_plans(raw: pd.DataFrame, n: int, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    raw = raw[raw["metric"] != "iteration_s"]
    df = raw.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    df["id"] = [f"r{i}" for i in range(n)]
    tp = rng.choice([1, 2, 3, 4, 8, 16], n)
    pp = rng.choice([1, 1, 2, 4], n)
    df["tp"], df["pp"] = tp.astype(str), pp.astype(str)
    df["num_gpus"] = (tp * pp * rng.choice([1, 1, 2], n)).astype(str)
    df["batch"] = rng.integers(1, 64, n).astype(str)
    df["prompt_tokens"] = rng.integers(1, 4000, n).astype(str)
    df["output_tokens"] = rng.integers(1, 500, n).astype(str)
    return df


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", default=V.find_measurements())
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    if a.path is None:
        print("measurements.csv not found: pass its path", file=sys.stderr)
        return 2
    raw = pd.read_csv(a.path, dtype=str, keep_default_na=False)
    n = len(raw)
    t_val = timed(lambda: V.validate(a.path, progress=False), max(a.repeat, 5))
    print(f"file: {a.path} ({n} rows)")
    print(rate_line("validate()", n, t_val))
    with tempfile.TemporaryDirectory() as d:
        rep = os.path.join(d, "repeated.csv")
        pd.concat([raw] * (a.rows // n + 1), ignore_index=True).iloc[:a.rows].to_csv(rep, index=False)
        print(rate_line(f"validate() file repeated", a.rows,
                        timed(lambda: V.validate(rep, progress=False), a.repeat)))
        rnd = os.path.join(d, "random.csv")
        random_plans(raw, a.rows).to_csv(rnd, index=False)
        df = V.validate(rnd, progress=False)
        print(rate_line(f"validate() random plans", a.rows,
                        timed(lambda: V.validate(rnd, progress=False), a.repeat))
              + f"  [{(df['status'] == 'ok').sum():,} simulated]")
    prep = V.prepare(a.path)
    m = len(prep.inf_index)
    print(rate_line("closed form only", m, timed(lambda: V.predict_arrays(prep.P, prep.metrics), 20)))
    scs = prep.scenarios
    print(rate_line("simulate() per row", m, timed(lambda: [km.simulate(sc) for sc in scs], 3)))
    t0 = time.perf_counter()
    _, fit = C.fit(a.path)
    print(f"{'calibrate.fit()':<34} {time.perf_counter() - t0:>12.2f} s  ({fit['evaluations']} "
          f"evaluations, MAPE {fit['mape_before']:.1f} % -> {fit['mape_after']:.1f} %)")
    s = V.summarize(V.validate(a.path))
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
        sat = n5["saturation"]
        print(f"measurements_2025.csv, fixed-batch rows: MAPE {n5['overall']:.1f} % over "
              f"{n5['ok'] - sat['rows']} rows ({per}); saturation rows (serving model): "
              f"MAPE {sat['mape']:.1f} % over {sat['rows']} rows (target 20 %)")
    for name, what in (("llamacpp.csv", "llama.cpp runtimes; their launch gaps are fitted on it"),
                       ("sglang.csv", "SGLang; its launch gap is fitted on it"),
                       ("localengines.csv", "MLC LLM, ExLlamaV2; their gaps are fitted on it"),
                       ("tgi-sagemaker-g5.csv", "TGI 1.0.3 on A10G; its FP16 rows and the p4d "
                        "rows fit the eager-server host time")):
        path = V.find_measurements(name)
        if path:
            m = V.summarize(V.validate(path))
            per = ", ".join(f"{k} {v:.1f} %" for k, v in m["by_source"]["mape"].items())
            print(f"{name} ({what}): MAPE {m['overall']:.1f} % over {m['ok']} rows ({per})")
    rate = statistics.median(n / t for t in t_val)
    print(f"target >= {TARGET:.0f} rows/s: {'PASS' if rate >= TARGET else 'FAIL'}")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
