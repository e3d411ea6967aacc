"""The one fitted parameter of TensorRT-LLM's C++ executor: host time per sequence per step.

    python benchmarks/fit_cpp_executor.py [--every N] [--grid 0,5,6.5,8,10,15]

``runtime.CPP_EXECUTOR_SEQ_S`` is the host time TensorRT-LLM's C++ executor (batch manager)
spends per sequence on every step, in series with the engine. It is fitted on one set of
rows: the H100 / H200 columns of TensorRT-LLM's perf overview, releases 0.13-0.17
(TensorRT engines benchmarked with ``trtllm-bench``, saturation throughput;
``benchmarks/data/trtllm-perf-overview-h100-h200.csv``). This script scans the value over a
grid on those rows and prints the MAPE at each (mean signed error and the TP 1 / TP 8 bias
beside it), then the same figures at 0 and at the shipped value on the rows it was not fitted
on: the same page's L40S / A100-PCIe and GH200 columns and its 0.10-0.12 H100 / H200 rows.
``--every N`` keeps every N-th fit row (a quick look; the shipped value comes from N = 1).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import kernel_model as km                                           # noqa: E402
from kernel_model import runtime as R, tables                       # noqa: E402

DATA = os.path.join(ROOT, "benchmarks", "data")
FIT_RELEASES = ("0.13", "0.14", "0.15", "0.17")


def with_host(seconds: float) -> None:
    """Run the ``trtllm`` profile with ``seconds`` of host time per sequence per step."""
    R.RUNTIMES["trtllm"] = dataclasses.replace(R.RUNTIMES["trtllm"], host_per_seq_s=seconds)
    tables.runtime_row.cache_clear()


def figures(rows: pd.DataFrame) -> dict:
    """MAPE, mean signed error and the TP 1 / TP 8 mean signed errors (%) of ``rows`` as
    ``kernel_model.validate`` predicts them (saturation rows: the serving model)."""
    out = km.validate(rows)
    ok = out[out["status"] == "ok"]
    err = ok["error_pct"]
    bias = {tp: err[ok["tp"] == tp].mean() for tp in (1, 8)}
    return {"rows": len(ok), "mape": err.abs().mean(), "bias": err.mean(),
            "tp1": bias[1], "tp8": bias[8]}


def line(label, f) -> str:
    def pct(x):
        return "     -  " if pd.isna(x) else f"{x:+6.1f} %"
    return (f"  {label:>12}  {f['rows']:5d} rows  MAPE {f['mape']:5.1f} %  mean {pct(f['bias'])}"
            f"  TP 1 {pct(f['tp1'])}  TP 8 {pct(f['tp8'])}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=1, help="keep every N-th fit row (default 1)")
    ap.add_argument("--grid", default="0,5,6.5,8,10,15", help="values to scan, microseconds")
    a = ap.parse_args(argv)
    if a.every < 1:
        ap.error(f"--every {a.every} is not allowed: a whole number >= 1")
    try:
        grid = [float(x) * 1e-6 for x in a.grid.split(",")]
    except ValueError:
        ap.error(f"--grid {a.grid!r} is not allowed: comma-separated microseconds, e.g. 0,5,8")
    hopper = pd.read_csv(os.path.join(DATA, "trtllm-perf-overview-h100-h200.csv"))
    engine = hopper["framework"].str.contains("TensorRT engine")
    fit_rel = hopper["framework"].str.contains("|".join(f"TensorRT-LLM {v}" for v in FIT_RELEASES),
                                               regex=True)
    fit = hopper[engine & fit_rel].iloc[::a.every].reset_index(drop=True)
    shipped = R.CPP_EXECUTOR_SEQ_S
    print(f"fit rows: H100 / H200, releases {', '.join(FIT_RELEASES)} ({len(fit)} rows)")
    best = None
    t0 = time.perf_counter()
    for v in grid:
        with_host(v)
        f = figures(fit)
        print(line(f"{v * 1e6:g} us", f))
        best = min(best or (f["mape"], v), (f["mape"], v))
    print(f"best on the grid: {best[1] * 1e6:g} us (MAPE {best[0]:.1f} %); "
          f"shipped CPP_EXECUTOR_SEQ_S = {shipped * 1e6:g} us")
    gh200 = pd.read_csv(os.path.join(DATA, "trtllm-perf-overview-gh200.csv"))
    checks = {"L40S / A100-PCIe": pd.read_csv(os.path.join(DATA, "trtllm-perf-overview-l40s-a100pcie.csv")),
              "GH200 (TRT engine)": gh200[gh200["framework"].str.contains("TensorRT engine")],
              "H100 / H200 0.10-0.12": hopper[engine & ~fit_rel]}
    print("checks (not fitted): at 0 and at the shipped value")
    for name, rows in checks.items():
        rows = rows.reset_index(drop=True)
        for v in (0.0, shipped):
            with_host(v)
            print(line(f"{v * 1e6:g} us", figures(rows)) + f"  {name}")
    with_host(shipped)
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
