"""Speed of kernel_model.serving (targets from issue 14, on the 2-core development machine):

    serve()          10,000 chat-like requests (kernel_model/data/trace_chat.csv lengths,
                     Poisson) on one replica                                  <= 1 s
    capacity()       one plan under ttft_p90 <= 1 s, tpot_p99 <= 50 ms         <= 10 s
    plan_capacity()  Llama-3-70B on 8 x H100, every TP x PP x replicas split,
                     16/8-bit weights, continuous/chunked                       <= 60 s

    python benchmarks/bench_serving.py [repeats]
Prints the median and the spread (min..max) of each.
"""
import statistics
import sys
import time

import kernel_model as km
from kernel_model.serving import Workload, LogNormal, serve, capacity, plan_capacity

CHAT = dict(prompt=LogNormal(161.31, 161.31, 4, 2048), output=LogNormal(337.99, 337.99, 4, 2048))
SLO = {"ttft_p90_s": 1.0, "tpot_p99_s": 0.05}


def _time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times), out


def _line(name, target, med, lo, hi, extra):
    ok = "OK" if med <= target else "SLOW"
    print(f"{name:<16} median {med:7.3f} s  (spread {lo:.3f}..{hi:.3f} s, target <= {target:g} s)"
          f" -> {ok}  {extra}")


def main(repeats: int = 3):
    sc7 = km.Scenario(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none")
    w = Workload(rate_rps=5.0, requests=10_000, seed=1, **CHAT)
    serve(sc7, Workload(rate_rps=5.0, requests=100, **CHAT))          # warm imports
    for steps in (True, False):
        med, lo, hi, res = _time(lambda: serve(sc7, w, scheduler="continuous",
                                               record_steps=steps), repeats)
        s = res.summary
        _line("serve" + ("" if steps else " (no steps)"), 1.0, med, lo, hi,
              f"{s['requests']:,} requests, {s['steps']:,} steps, mean batch {s['mean_batch']:.1f}")
    sc70 = km.Scenario(model="llama-3-70b", gpu="h100-sxm", interconnect="nvlink4", tp=4,
                       weight_bits=8, kv_bits=8)
    med, lo, hi, c = _time(lambda: capacity(sc70, Workload(requests=1000, **CHAT), SLO),
                           repeats)
    _line("capacity", 10.0, med, lo, hi,
          f"llama-3-70b TP4 FP8 on H100: {c.rate_rps:.3g} req/s, {len(c.points)} runs")
    med, lo, hi, df = _time(lambda: plan_capacity("llama-3-70b", "h100-sxm", 8, SLO,
                                                  gpu_hour_usd=2.5), max(1, repeats - 2))
    b = df.iloc[0]
    _line("plan_capacity", 60.0, med, lo, hi,
          f"{len(df)} plans; best tp={b.tp} pp={b.pp} x{b.replicas} {b.weight_bits}-bit "
          f"{b.scheduler}: {b.goodput_rps_per_gpu:.3g} req/s per GPU, "
          f"${b.usd_per_m_output_tokens:.3g}/M output tokens")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
