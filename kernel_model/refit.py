"""The shipped calibration's recipe: which fields are fitted, on which files. Re-runnable.

    python -m kernel_model.refit            # fit, print the parameters with the rows that
                                            # support each (the runtime gaps fitted alone on
                                            # their own files too, SOLO), every file's errors,
                                            # and the DEFAULT literal for calibration.py
    cal, rep = refit()                      # the same from Python

After a change to the engine (e.g. the collective model), run it, paste the printed literal
over ``DEFAULT`` in ``kernel_model/calibration.py`` and check the targets it prints.

The recipe keeps the fitted parameters few and physical (``PARAMS``, seven values for 113
rows): six global fields (GEMM / attention / HBM efficiency, the per-kernel launch gap,
the collective call overhead, the roofline blend) and one per-runtime override,
``launch_overhead_s@vllm``: the vLLM rows (A100: koyeb, argonne, vllm-ci; MI300X: AMD's
vLLM 0.9 / 0.10 latency table) share a launch gap shorter than the C++ runtimes'. No
family override is fitted: every non-A100 family has one source or none, so a family term
could not be told apart from that source's stack. The hold-out file checks this for
Hopper: fitting ``launch_overhead_s@hopper`` on one of its two non-vLLM sources and testing
on the other, the gap fitted on NVIDIA's NIM table (9.7 us) takes NeMo's H100 sweep from
5.5 % to 23 %, and the gap fitted on NeMo's sweep (15.1 us) is the global one: no Hopper
term transfers between stacks (December 2026). ``eager_server_step_s``, the host time per
pass of TGI < 2.0, is fitted alone (``eager_server``) on the FP16 rows of the one study that
measured TGI 1.0.3 on two machines: its three p4d rows in ``measurements.csv`` and its six g5
(A10G) rows in ``tgi-sagemaker-g5.csv``. The machines disagree (the p4d rows imply 13-17 ms
a pass, the g5 rows -1 to 6), so the fit takes the value where the worse machine's MAPE is
smallest (8.62 ms, 24 % each), moved up as far as the p4d rows need to stay within the 20 %
per-source target ``measurements.csv`` keeps (issue 5); fitted with the shipped ``PARAMS`` held.
Rerun after that change, the ``PARAMS`` step lowers its loss by 0.005 points (8.773 -> 8.768 %:
the launch gap 16.0 -> 16.3 us, the roofline exponent 1.77 -> 1.83, along the flat valley
``refit`` describes) and the eager step then lands at 9.56 ms; the shipped values are kept.
``step_overhead_s`` stays 0: fitted, it trades against
the launch gap and costs the issue-5 TP-scaling targets nothing to leave out. The
llama.cpp launch gaps (``launch_overhead_s@llamacpp``, ``@llamacpp-2024`` and
``@llamacpp-2024-eager``) are fitted each alone on ``llamacpp.csv``, the only rows that depend
on them, with this recipe's values held (``kernel_model/data/README.md``); ``@llamacpp-eager``
is derived from them (``calibration.llamacpp_eager_gap``). SGLang's gap
(``launch_overhead_s@sglang``) is fitted alone on ``sglang.csv`` in the same way, and MLC
LLM's and ExLlamaV2's on ``localengines.csv``: no row of ``FILES`` runs these stacks.
"""
from __future__ import annotations

import sys

import pandas as pd

from . import calibrate as C
from . import validate as V

FILES = ("measurements.csv", "measurements_2025.csv")
HOLDOUT = "holdout.csv"                    # never fitted on: the transfer check
PARAMS = ("flops_efficiency", "attention_efficiency", "hbm_efficiency", "launch_overhead_s",
          "collective_overhead_s", "roofline_exponent", "launch_overhead_s@vllm")
# issue 11 targets, percent
TARGETS = {"measurements.csv": 10.0, "measurements_2025.csv": 15.0}
TARGET_SOURCE = 25.0


def files() -> list[str]:
    out = []
    for name in FILES:
        p = V.find_measurements(name)
        if p is None:
            raise ValueError(f"{name}: not found in kernel_model/data/ or ../shared/data/")
        out.append(p)
    return out


def refit(max_evals: int = 1500, params=PARAMS, start=None):
    """Fit ``params`` on every file of ``FILES`` together; (Calibration, report). The search
    starts from ``start``, by default the shipped ``DEFAULT`` (a warm start: after an engine
    change the fit moves the shipped point as far as the data ask). The loss is flat along
    the collective call overhead / roofline exponent direction: after the December 2026
    collective rebuild the search from the ``Calibration`` class defaults ends 0.002 MAPE
    points lower, at a neighbouring point where one TP 1->8 sweep misses its 15 % target by
    0.3 (15.3 %); the warm start keeps every target (worst sweep 14.5 %)."""
    from .calibration import DEFAULT
    if start is None:
        start = {**V.efficiency_dict(DEFAULT), "families": {},
                 "runtimes": {r: dict(o) for r, o in DEFAULT.runtimes.items()}}
    return C.fit(files(), params=params, max_evals=max_evals, start=start)


# fields fitted each alone on a file of their own, this recipe's values held (the files of
# FILES have no row on these runtimes); llamacpp-eager is derived from them (see calibration)
SOLO = (("llamacpp.csv", "launch_overhead_s@llamacpp"),
        ("llamacpp.csv", "launch_overhead_s@llamacpp-2024"),
        ("llamacpp.csv", "launch_overhead_s@llamacpp-2024-eager"),
        ("sglang.csv", "launch_overhead_s@sglang"),
        ("localengines.csv", "launch_overhead_s@mlc"),
        ("localengines.csv", "launch_overhead_s@exllamav2"))


def solo(cal):
    """Fit each ``SOLO`` field alone on its file, everything else as in ``cal``; (the
    calibration with them, [(file, report), ...]). The llamacpp-eager gap is llamacpp's plus
    the graph saving the 2024 rows show (``calibration.llamacpp_eager_gap``)."""
    reports = []
    for name, param in SOLO:
        got, rep = C.fit(V.find_measurements(name), params=(param,), start=cal)
        runtime = param.partition("@")[2]
        cal = cal.replace(runtimes={**cal.runtimes, runtime: dict(got.runtimes[runtime])})
        reports.append((name, rep))
    from .calibration import llamacpp_eager_gap
    eager = llamacpp_eager_gap(*(cal.runtimes[r]["launch_overhead_s"]
                                 for r in ("llamacpp", "llamacpp-2024", "llamacpp-2024-eager")))
    cal = cal.replace(runtimes={**cal.runtimes, "llamacpp-eager": {"launch_overhead_s": eager}})
    return cal, reports


# the TGI 1.0.3 study (hf-tgi-sagemaker): its p4d rows ship in measurements.csv, its g5 rows here
EAGER_FILE = "tgi-sagemaker-g5.csv"


def eager_rows() -> dict[str, pd.DataFrame]:
    """The rows ``eager_server_step_s`` is fitted on, by machine: the FP16 rows of the TGI
    1.0.3 study (its GPTQ rows miss by an amount that grows with the weights, a kernel's
    inefficiency, not host time; ``kernel_model/data/README.md``)."""
    m = pd.read_csv(V.find_measurements("measurements.csv"))
    g5 = pd.read_csv(V.find_measurements(EAGER_FILE))
    return {"p4d (8 x A100-SXM, measurements.csv)": m[m["source"] == "hf-tgi-sagemaker"],
            f"g5 (A10G, {EAGER_FILE})": g5[g5["weight_bits"] == 16]}


def eager_mape(cal, rows=None) -> dict[str, float]:
    """MAPE (%) of each machine's rows of ``eager_rows()`` under ``cal``."""
    rows = eager_rows() if rows is None else rows
    return {k: float(V.validate(df, calibration=cal, progress=False)["error_pct"].abs().mean())
            for k, df in rows.items()}


def _golden(f, a: float, b: float, tol: float) -> float:
    """The x in [a, b] where a unimodal ``f`` is smallest (golden-section search)."""
    g = (5 ** 0.5 - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    while b - a > tol:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return (a + b) / 2


def eager_server(cal, lo: float = 0.0, hi: float = 0.02, tol: float = 1e-5):
    """Fit ``eager_server_step_s`` alone, everything else as in ``cal``: the value in [lo, hi] s
    where the worse machine's MAPE is smallest, then, if the p4d rows (a source of the shipped
    ``measurements.csv``) would leave the per-source target the project keeps there
    (``validate_report.TARGET_SOURCE``, 20 %), the smallest larger value that keeps them
    inside it (their MAPE falls as the value grows up to their own best, ~15 ms). Returns (the
    calibration with it, {machine: MAPE %}, the unconstrained value)."""
    from .validate_report import TARGET_SOURCE
    rows = eager_rows()
    shipped = next(iter(rows))

    def mape(x):
        return eager_mape(cal.replace(eager_server_step_s=x), rows)

    free = _golden(lambda x: max(mape(x).values()), lo, hi, tol)
    x = free
    if mape(free)[shipped] > TARGET_SOURCE:
        a, b = free, hi
        while b - a > tol:
            mid = (a + b) / 2
            a, b = (mid, b) if mape(mid)[shipped] > TARGET_SOURCE else (a, mid)
        x = b
    best = cal.replace(eager_server_step_s=round(x, 5))
    return best, eager_mape(best, rows), round(free, 5)


def check(cal=None) -> list[tuple[str, float, float, bool]]:
    """(target, value %, limit %, passed) of issue 11 on the shipped files under ``cal``."""
    out = []
    for name, limit in TARGETS.items():
        s = V.summarize(V.validate(V.find_measurements(name), calibration=cal))
        out.append((f"{name} overall MAPE", s["overall"], limit, s["overall"] <= limit))
        for src, r in s["by_source"].iterrows():
            out.append((f"{name} MAPE {src}", r["mape"], TARGET_SOURCE, r["mape"] <= TARGET_SOURCE))
        if name == "measurements.csv":            # issue 5's targets (TTFT, TP scaling) too
            for _, r in V.targets(s).iloc[1:].iterrows():
                if not r["target"].startswith("MAPE "):
                    out.append((f"{name} {r['target']}", r["value"], r["limit"], r["passed"]))
    return out


def literal(cal) -> str:
    """``DEFAULT = Calibration(...)`` for kernel_model/calibration.py."""
    fields = [f"{k}={getattr(cal, k)!r}" for k in C.numeric_fields()]
    fams = {f: dict(o) for f, o in cal.families.items()}
    rts = {r: dict(o) for r, o in cal.runtimes.items()}
    body = ",\n    ".join(fields + [f"families={fams!r}", f"runtimes={rts!r}"])
    return (f"DEFAULT = Calibration(\n    {body},\n    source=\"fitted by kernel_model.refit on "
            f"{' + '.join(FILES)}\")")


def main(argv=None) -> int:
    cal, rep = refit()
    print(C.format_fit(rep))
    print()
    cal, reports = solo(cal)
    for name, r in reports:
        print(f"fitted alone on {name}:")
        print(C.format_fit(r))
        print()
    cal, by, free = eager_server(cal)
    counts = {k: len(df) for k, df in eager_rows().items()}
    print(f"eager_server_step_s = {cal.eager_server_step_s * 1e3:.2f} ms, fitted alone on the "
          f"TGI 1.0.3 FP16 rows (the worse machine's MAPE smallest at {free * 1e3:.2f} ms; "
          f"the p4d source kept within its target):")
    for k, v in by.items():
        print(f"  {k}: {counts[k]} rows, MAPE {v:.1f} %")
    print()
    for name in FILES + (HOLDOUT,):
        s = V.summarize(V.validate(V.find_measurements(name), calibration=cal))
        print(f"{name}: MAPE {s['overall']:.1f} % over {s['ok']} rows")
        print(s["by_source"].to_string(float_format=lambda x: f"{x:.1f}"))
        print()
    for t, v, lim, ok in check(cal):
        print(f"  {'PASS' if ok else 'FAIL'}  {t}: {v:.1f} % (limit {lim:g} %)")
    print()
    print(literal(cal))
    return 0


if __name__ == "__main__":
    sys.exit(main())
