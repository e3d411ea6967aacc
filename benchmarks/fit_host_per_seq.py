"""The fitted host time per sequence per step of TensorRT-LLM's two runtimes.

    python benchmarks/fit_host_per_seq.py [--runtime trtllm|trtllm-pytorch] [--every N]
                                          [--grid MICROSECONDS,...]

A runtime's ``host_per_seq_s`` is the host time per sequence on every step that the GPUs
wait for. Two values are fitted, one parameter each, on saturation throughput from
TensorRT-LLM's perf overview (``trtllm-bench``, every request queued at once):

* ``trtllm`` (``runtime.CPP_EXECUTOR_SEQ_S``): the C++ executor (batch manager), in series
  with the engine. Fitted on the H100 / H200 rows of releases 0.13-0.17 (TensorRT engines;
  ``benchmarks/data/trtllm-perf-overview-h100-h200.csv``); checked at 0 and at the shipped
  value on the rows it was not fitted on: the L40S / A100-PCIe and GH200 columns and the
  0.10-0.12 H100 / H200 rows.
* ``trtllm-pytorch`` (``runtime.PYTORCH_EXECUTOR_SEQ_S``): the PyTorch backend's Python
  executor, whose overlap scheduler hides part of it. Fitted on every PyTorch-backend
  saturation row there is (H100 / H200, B200 / GB200, GH200 and ``measurements_2025.csv``),
  pooled, each table's figures printed beside the pooled ones (Hopper wants a little less,
  Blackwell a little more; they pulled far apart while the B200-class FP4 GEMMs ran at
  their whole datasheet peak, ``hardware.GPU.fp4_gemm_ratio``).

The script scans the value over a grid and prints the MAPE at each (mean signed error and
the TP 1 / TP 8 bias beside it). ``--every N`` keeps every N-th fit row (a quick look; the
shipped values come from N = 1).
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


def _csv(name):
    return pd.read_csv(os.path.join(DATA, name))


def cpp_rows(every):
    """(fit rows, {check name: rows}) of the C++ executor."""
    hopper = _csv("trtllm-perf-overview-h100-h200.csv")
    engine = hopper["framework"].str.contains("TensorRT engine")
    fit_rel = hopper["framework"].str.contains(
        "|".join(f"TensorRT-LLM {v}" for v in FIT_RELEASES), regex=True)
    gh200 = _csv("trtllm-perf-overview-gh200.csv")
    checks = {"L40S / A100-PCIe": _csv("trtllm-perf-overview-l40s-a100pcie.csv"),
              "GH200 (TRT engine)": gh200[gh200["framework"].str.contains("TensorRT engine")],
              "H100 / H200 0.10-0.12": hopper[engine & ~fit_rel]}
    label = f"H100 / H200, releases {', '.join(FIT_RELEASES)}"
    return {label: hopper[engine & fit_rel].iloc[::every]}, checks


def pytorch_rows(every):
    """(fit rows per table, no checks) of the PyTorch backend: its saturation rows."""
    sets = {}
    for name, label in (("trtllm-perf-overview-h100-h200.csv", "H100 / H200"),
                        ("trtllm-perf-overview-b200-gb200.csv", "B200 / GB200"),
                        ("trtllm-perf-overview-gh200.csv", "GH200")):
        df = _csv(name)
        sets[label] = df[df["framework"].str.contains("PyTorch backend")].iloc[::every]
    new = pd.read_csv(os.path.join(ROOT, "kernel_model", "data", "measurements_2025.csv"))
    ours = new["framework"].map(lambda f: R.runtime_for_framework(f)[0] == "trtllm-pytorch")
    sets["measurements_2025"] = new[ours & (new["batch"] == 0)].iloc[::every]
    return sets, {}


MODES = {"trtllm": ("CPP_EXECUTOR_SEQ_S", cpp_rows, "0,5,6.5,8,10,15"),
         "trtllm-pytorch": ("PYTORCH_EXECUTOR_SEQ_S", pytorch_rows,
                            "8,10,11,12,14,16,20,30")}


def with_host(runtime: str, seconds: float) -> None:
    """Run the ``runtime`` profile with ``seconds`` of host time per sequence per step."""
    R.RUNTIMES[runtime] = dataclasses.replace(R.RUNTIMES[runtime], host_per_seq_s=seconds)
    tables.runtime_row.cache_clear()


def errors(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows ``kernel_model.validate`` predicts (saturation rows: the serving model)."""
    out = km.validate(rows.reset_index(drop=True))
    return out[out["status"] == "ok"]


def figures(ok: pd.DataFrame) -> dict:
    """MAPE, mean signed error and the TP 1 / TP 8 mean signed errors (%)."""
    err = ok["error_pct"]
    bias = {tp: err[ok["tp"] == tp].mean() for tp in (1, 8)}
    return {"rows": len(ok), "mape": err.abs().mean(), "bias": err.mean(),
            "tp1": bias[1], "tp8": bias[8]}


def line(label, f) -> str:
    def pct(x):
        return "     -  " if pd.isna(x) else f"{x:+6.1f} %"
    return (f"  {label:>12}  {f['rows']:5d} rows  MAPE {f['mape']:5.1f} %  mean {pct(f['bias'])}"
            f"  TP 1 {pct(f['tp1'])}  TP 8 {pct(f['tp8'])}")


def scan(runtime, sets, grid):
    """Print the pooled figures (and each set's, where there are several) at every grid
    value; returns (best MAPE, value)."""
    best = None
    for v in grid:
        with_host(runtime, v)
        per = {name: errors(rows) for name, rows in sets.items()}
        f = figures(pd.concat(per.values()))
        print(line(f"{v * 1e6:g} us", f) + ("  pooled" if len(sets) > 1 else ""))
        if len(sets) > 1:
            for name, ok in per.items():
                print(line("", figures(ok)) + f"  {name}")
        best = min(best or (f["mape"], v), (f["mape"], v))
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", choices=sorted(MODES), default="trtllm",
                    help="the profile whose host time per sequence is scanned")
    ap.add_argument("--every", type=int, default=1, help="keep every N-th fit row (default 1)")
    ap.add_argument("--grid", default=None, help="values to scan, microseconds")
    a = ap.parse_args(argv)
    if a.every < 1:
        ap.error(f"--every {a.every} is not allowed: a whole number >= 1")
    constant, rows_fn, default_grid = MODES[a.runtime]
    try:
        grid = [float(x) * 1e-6 for x in (a.grid or default_grid).split(",")]
    except ValueError:
        ap.error(f"--grid {a.grid!r} is not allowed: comma-separated microseconds, e.g. 0,5,8")
    sets, checks = rows_fn(a.every)
    shipped = getattr(R, constant)
    print(f"{a.runtime}: fit rows " + ", ".join(f"{k} ({len(v)})" for k, v in sets.items()))
    t0 = time.perf_counter()
    best = scan(a.runtime, sets, grid)
    print(f"best on the grid: {best[1] * 1e6:g} us (MAPE {best[0]:.1f} %); "
          f"shipped {constant} = {shipped * 1e6:g} us")
    if checks:
        print("checks (not fitted): at 0 and at the shipped value")
    for name, rows in checks.items():
        for v in (0.0, shipped):
            with_host(a.runtime, v)
            print(line(f"{v * 1e6:g} us", figures(errors(rows))) + f"  {name}")
    with_host(a.runtime, shipped)
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
