"""Refit the collective model's link and protocol numbers on kernel_model/data/collectives.csv.

    python tools/fit_collectives.py [--csv PATH]

Prints the fitted values (to be written into kernel_model/hardware.py by hand, each with the
systems it rests on) and the validation summary they give. Needs scipy (not a dependency of
the package: the shipped numbers are plain constants).

What is fitted, and on what (never one number per row):
* each interconnect preset's bus bandwidth and LL step latency, on the systems it stands for
  (docs/INTERCONNECTS.md); presets without measured systems are left alone;
* NCCL's protocol constants (eager call cost, LL bandwidth share, Simple latency factor and
  extra call cost), the socket-crossing latency factor and bandwidth cap, and the share of
  the bus bandwidth one/two-shot kernels reach: shared by every system.
Loss: soft-L1 on log(predicted / measured), each system weighted rows^-0.75 so large
tables do not drown small ones; rows with only a bus bandwidth count half; each PCIe
system's small-message floor (median of the all-reduces <= 64 KiB) is one more residual.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from kernel_model import hardware as H                       # noqa: E402
from kernel_model import validate_collectives as VC          # noqa: E402

# ib_hdr / ib_ndr are not fitted: IB-H100-64-SHARP is bound by the nodes' NVLink ring (SHARP is
# not modelled) and IB-A100-3node-HDR's nodes carry half a DGX A100's NICs, so a per-GPU NIC
# share fitted there would not transfer
PRESET_FIELDS = {
    "pcie4_bad": ("bw_gbps", "latency_s"), "pcie4_good": ("bw_gbps",),
    "pcie5_good": ("bw_gbps", "latency_s"), "nvlink": ("bw_gbps", "latency_s"),
    "nvlink4": ("bw_gbps", "latency_s"),
    "nvlink_bridge": ("bw_gbps",),
    "roce": ("bw_gbps", "latency_s"), "efa": ("bw_gbps", "latency_s"),
    "tcp": ("bw_gbps", "latency_s"), "tcpxo": ("bw_gbps", "latency_s"),
}
CONSTANTS = ("eager_call_s", "ll_frac", "simple_lat", "simple_call_s", "socket_lat",
             "socket_bw_gbps", "direct_frac", "direct_call")
# physical ranges: LL carries 8 data bytes per 16-byte line, more with LL128 on NVLink;
# concurrent peer reads reach at least half the bus; crossing a socket neither speeds up
# nor beats a same-socket PCIe 5 ring
BOUNDS = {"ll_frac": (0.4, 0.8), "direct_frac": (0.5, 1.0), "simple_lat": (1.0, 10.0),
          "socket_lat": (1.0, 4.0), "socket_bw_gbps": (10.0, 46.0),
          "direct_call": (0.2, 1.0)}


def keys(only=None):
    """What is fitted: every preset's fields and the shared constants, or with ``only`` (a
    list of preset names) just those presets' fields, everything else held."""
    out = [("preset", p, f) for p, fs in PRESET_FIELDS.items() for f in fs
           if only is None or p in only]
    return out + ([("const", None, c) for c in CONSTANTS] if only is None else [])


def get(k):
    kind, p, f = k
    return H.COLLECTIVE_CONSTANTS[f] if kind == "const" else getattr(H.INTERCONNECTS[p], f)


def put(k, v):
    kind, p, f = k
    if kind == "const":
        H.COLLECTIVE_CONSTANTS[f] = v
    else:
        H.INTERCONNECTS[p] = dataclasses.replace(H.INTERCONNECTS[p], **{f: v})
    # tied, not fitted: pcie5_bad is pcie5_good across sockets; a P2P step over PCIe costs the
    # same on Gen4 (no small-message data) as on Gen5; NVLink 5 (large messages only) steps
    # as NVLink 4
    ties = {("pcie5_good", "bw_gbps"): ["pcie5_bad"], ("pcie5_good", "latency_s"): ["pcie5_bad", "pcie4_good"],
            ("nvlink4", "latency_s"): ["nvlink5"]}
    for q in ties.get((p, f), []):
        H.INTERCONNECTS[q] = dataclasses.replace(H.INTERCONNECTS[q], **{f: v})
    if (p, f) == ("nvlink4", "bw_gbps"):    # NVLink 5 doubles NVLink 4's 450 GB/s per GPU
        H.INTERCONNECTS["nvlink5"] = dataclasses.replace(H.INTERCONNECTS["nvlink5"], bw_gbps=2 * v)
    H.derive_fewer_links()                  # H800 / A800: their bases with fewer links


A2A_CHECK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "benchmarks", "data", "nccl-alltoall-h20-x8.csv")


def a2a_call(csv, check=A2A_CHECK):
    """The all-to-all call cost (s): the median, over the all-to-all rows with a time of
    ``csv`` and of the H20 check table, of the measured time less the model's without it."""
    old = H.COLLECTIVE_CONSTANTS["a2a_call_s"]
    H.COLLECTIVE_CONSTANTS["a2a_call_s"] = 0.0
    try:
        out = pd.concat([VC.validate_collectives(pd.read_csv(p), p) for p in (csv, check)])
    finally:
        H.COLLECTIVE_CONSTANTS["a2a_call_s"] = old
    a2a = out[(out.collective == "all_to_all") & out.timed & (out.status == "ok")]
    return float(np.median(a2a.measured_us - a2a.predicted_us)) * 1e-6


def main(argv=None):
    from scipy.optimize import least_squares
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", default=os.path.join(os.path.dirname(VC.__file__), "data", "collectives.csv"))
    ap.add_argument("--targets", type=int, default=0, metavar="EVALS",
                    help="then search (Powell, EVALS evaluations) for values that meet the "
                         "issue's per-system and PCIe-floor targets")
    ap.add_argument("--only", metavar="PRESETS",
                    help="comma-separated presets to refit, all else held (the network presets "
                         "were last refitted so: --only roce,efa,tcp,tcpxo)")
    ap.add_argument("--a2a", action="store_true",
                    help="print the all-to-all call cost (a2a_call_s) the all-to-all rows measure "
                         "and stop")
    a = ap.parse_args(argv)
    if a.a2a:
        print(f"a2a_call_s = {a2a_call(a.csv):.3g}  (hardware.COLLECTIVE_CONSTANTS: "
              f"{H.COLLECTIVE_CONSTANTS['a2a_call_s']:.3g})")
        return
    only = a.only.split(",") if a.only else None
    unknown = [p for p in only or () if p not in PRESET_FIELDS]
    if unknown:
        ap.error(f"--only: {', '.join(unknown)} not fitted here (fitted presets: "
                 f"{', '.join(PRESET_FIELDS)})")
    df = pd.read_csv(a.csv)
    ks = keys(only)
    x0 = np.log([get(k) for k in ks])
    sizes = df.groupby("system").size()
    w = np.array([sizes[s] ** -0.75 for s in df.system])
    w = w * np.where(df.time_us.notna(), 1.0, 0.5)

    def resid(x):
        for k, v in zip(ks, np.exp(x)):
            lo, hi = BOUNDS.get(k[2], (0, np.inf))
            put(k, float(min(max(v, lo), hi)))
        out = VC.validate_collectives(df, a.csv)
        r = np.log(out.predicted_us.fillna(1.0).astype(float) / out.measured_us.astype(float))
        fl = VC.summarize(out)["floors"]         # each PCIe system's small-message floor
        rf = np.log(fl.predicted_us / fl.measured_us).to_numpy()
        return np.concatenate([np.where(out.status == "ok", r, 0.0) * w, 0.5 * rf])

    sol = least_squares(resid, x0, loss="soft_l1", f_scale=0.05, diff_step=1e-3, max_nfev=60)
    resid(sol.x)
    if a.targets:
        from scipy.optimize import minimize

        def miss(x):                 # how far the targets are missed (0 = all met)
            resid(x)
            s = VC.summarize(VC.validate_collectives(df, a.csv))
            per = s["per_system"].median_abs_pct.to_numpy()
            fl = np.abs(s["floors"].error_pct.to_numpy())
            return (np.sum(np.maximum(per - 0.9 * VC.TARGET_SYSTEM, 0) ** 2)
                    + np.sum(np.maximum(fl - 0.9 * VC.TARGET_FLOOR, 0) ** 2)
                    + 0.01 * s["overall_mape"] ** 2)
        sol2 = minimize(miss, sol.x, method="Powell", options={"maxfev": a.targets, "xtol": 1e-3})
        resid(sol2.x)
    for k in ks:
        print(f"{k[1] or 'const'}.{k[2]} = {get(k):.4g}")
    out = VC.validate_collectives(df, a.csv)
    print(VC.report(out))


if __name__ == "__main__":
    main()
