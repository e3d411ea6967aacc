"""Training model: errors against the Megatron-LM measurements, and simulation speed.

    python benchmarks/bench_training.py [path/to/training_measurements.csv]

Prints, per row, measured and predicted iteration time and the signed error, then MAPE and
the worst row, once with FlashAttention (the default) and once without it (what the 2022
Megatron-LM runs used); then the time to simulate GPT-175B on 64 A100s (target: 50 ms).
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kernel_model as km                                    # noqa: E402
from kernel_model.training import simulate_training, TRAINING_CALIBRATION   # noqa: E402

CANDIDATES = [Path(km.__file__).parent / "data" / "training_measurements.csv",
              Path(__file__).resolve().parents[2] / "shared" / "data" / "training_measurements.csv"]


def rows(path=None) -> pd.DataFrame:
    for p in ([Path(path)] if path else CANDIDATES):
        if p.exists():
            return pd.read_csv(p)
    raise SystemExit("training_measurements.csv not found; pass its path")


def errors(df, **kw):
    out = []
    for _, r in df.iterrows():
        res = simulate_training(model=r.model, gpu=r.gpu, seq_len=int(r.seq_len),
                                global_batch=int(r.global_batch), micro_batch=int(r.micro_batch),
                                dp=int(r.dp), tp=int(r.tp), pp=int(r.pp), recompute=r.recompute,
                                sequence_parallel=r.sequence_parallel, **kw)
        out.append((r, res, (res.iteration_s - r.value) / r.value * 100))
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    df = rows(argv[0] if argv else None)
    print(f"training calibration: gemm_efficiency={TRAINING_CALIBRATION.gemm_efficiency} "
          f"({TRAINING_CALIBRATION.source})")
    for label, kw in (("FlashAttention (default)", {}),
                      ("no FlashAttention (as in the 2022 runs)", {"flash_attention": False})):
        print(f"\n== {label} ==")
        print(f"{'id':8s} {'model':10s} {'plan':16s} {'recompute':12s} {'measured':>9s} "
              f"{'predicted':>9s} {'error':>7s} {'MFU':>6s} {'bubble':>7s}")
        errs = []
        for r, res, e in errors(df, **kw):
            errs.append(e)
            plan = f"tp{r.tp} pp{r.pp} dp{r.dp}"
            rc = r.recompute + ("+sp" if str(r.sequence_parallel).lower() == "true" else "")
            print(f"{r.id:8s} {r.model:10s} {plan:16s} {rc:12s} {r.value:9.2f} "
                  f"{res.iteration_s:9.2f} {e:+6.1f}% {res.mfu:6.1%} {res.bubble_fraction:7.1%}")
        a = np.abs(errs)
        print(f"MAPE {a.mean():.1f} %   worst {a.max():.1f} %   (targets: <= 15 %, <= 25 %)")

    kw = dict(model="gpt-175b", gpu="a100-sxm-80gb", seq_len=2048, global_batch=64,
              micro_batch=1, dp=1, tp=8, pp=8, recompute="selective", sequence_parallel=True)
    simulate_training(**kw)
    ts = []
    for _ in range(50):
        t0 = time.perf_counter()
        res = simulate_training(**kw)
        ts.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    tl = res.timeline
    t_tl = time.perf_counter() - t0
    print(f"\nGPT-175B on 64 x A100 (tp8 pp8, 64 micro-batches): simulate_training median "
          f"{statistics.median(ts) * 1e3:.2f} ms (max {max(ts) * 1e3:.2f} ms; target 50 ms); "
          f"timeline of {len(tl)} rows built in {t_tl * 1e3:.0f} ms (lazily, on first access)")
    print(res.summary())


if __name__ == "__main__":
    main()
