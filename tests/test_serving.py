"""serve(): static batches reproduce simulate(), queueing identities, memory, schedulers."""
import math

import numpy as np
import pytest

import kernel_model as km
from kernel_model.serving import (serve, Workload, Trace, LogNormal, max_throughput,
                                  ServingResult)
from kernel_model.serving.simulator import Plan, _transfer_s
from kernel_model.serving.config import ServeConfig, kv_capacity_tokens, as_float_params
from kernel_model.simulate import params

A100 = dict(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none")


def _equal(n, p, o, at=0.0):
    return Workload(trace=Trace([at] * n, [p] * n, [o] * n))


@pytest.mark.parametrize("kw", [
    dict(A100, batch=8, prompt_tokens=500, output_tokens=100),
    dict(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=4, batch=32,
         prompt_tokens=1000, output_tokens=256),
    dict(model="llama-2-13b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=2, pp=2,
         micro_batches=2, batch=16, prompt_tokens=300, output_tokens=64),
    dict(model="qwen3-30b-a3b", gpu="h100-sxm", interconnect="nvlink4", tp=2, ep=2, batch=16,
         prompt_tokens=800, output_tokens=128),
])
def test_static_batch_reproduces_simulate(kw):
    sc = km.Scenario(**kw)
    ref = km.simulate(sc)
    res = serve(sc, _equal(sc.batch, sc.prompt_tokens, sc.output_tokens), scheduler="static",
                max_batch=sc.batch)
    r = res.requests
    assert r["ttft_s"].to_numpy() == pytest.approx(ref.ttft_s, rel=0.01)
    assert r["tpot_s"].to_numpy() == pytest.approx(ref.tpot_s, rel=0.01)
    # one prefill pass, then output_tokens - 1 decode passes of the whole batch
    assert len(res.steps) == sc.output_tokens
    assert (res.steps["decode_seqs"].iloc[1:] == sc.batch).all()


@pytest.mark.parametrize("scheduler", ["continuous", "chunked"])
def test_very_low_rate_gives_single_request_figures(scheduler):
    sc = km.Scenario(**A100, prompt_tokens=400, output_tokens=120)
    one = km.simulate(sc)
    w = Workload(rate_rps=0.05, arrival="constant", prompt=400, output=120, requests=20)
    r = serve(sc, w, scheduler=scheduler).requests
    assert (r["queue_s"] == 0).all()
    assert r["ttft_s"].to_numpy() == pytest.approx(one.ttft_s, rel=1e-9)
    assert r["tpot_s"].to_numpy() == pytest.approx(one.tpot_s, rel=1e-3)
    assert r["e2e_s"].to_numpy() == pytest.approx(one.e2e_s, rel=1e-3)


@pytest.mark.parametrize("scheduler", ["continuous", "chunked", "static"])
def test_littles_law_on_the_queue(scheduler):
    sc = km.Scenario(**A100)
    w = Workload(rate_rps=14, prompt=LogNormal(300, 200), output=LogNormal(200, 150),
                 requests=1500, seed=2)
    s = serve(sc, w, scheduler=scheduler, max_batch=32).summary
    assert s["queue_mean_s"] > 0.01                     # a queue did form
    # time-average queue length (integrated by the engine) = arrival rate x mean wait
    rate = s["requests"] / s["duration_s"]
    assert s["mean_queue_length"] == pytest.approx(rate * s["queue_mean_s"], rel=1e-9)


def test_throughput_rises_with_rate_then_saturates_at_max_throughput():
    sc = km.Scenario(**A100)
    top = max_throughput(sc, 200, 200, max_batch=64)
    sat = top / 200
    got = []
    for f in (0.25, 0.5, 8.0):
        w = Workload(rate_rps=f * sat, prompt=200, output=200, requests=2000, seed=3)
        got.append(serve(sc, w, max_batch=64, record_steps=False).summary["output_tokens_per_s"])
    assert got[0] == pytest.approx(0.25 * top, rel=0.03)        # below saturation: = offered
    assert got[1] == pytest.approx(0.5 * top, rel=0.03)
    assert got[2] == pytest.approx(top, rel=0.02)               # far above: the ceiling
    assert got[2] <= top * 1.001


def test_same_seed_same_result_other_seed_differs():
    sc = km.Scenario(**A100)
    w = Workload(rate_rps=8, prompt=LogNormal(300, 200), output=LogNormal(200, 150),
                 requests=300, seed=7)
    a, b = serve(sc, w), serve(sc, w)
    assert a.requests.equals(b.requests) and a.steps.equals(b.steps)
    c = serve(sc, Workload(**{**w.__dict__, "seed": 8, "trace": None}))
    assert not a.requests["ttft_s"].equals(c.requests["ttft_s"])


def test_kv_capacity_from_the_memory_model_by_hand():
    sc = km.Scenario(**A100)
    P = as_float_params(params(sc))
    tokens, det = kv_capacity_tokens(P, 0.9, 8192)
    per_token = 32 * 2 * 4096 * 2.0                  # layers x (K, V) x hidden x 2 bytes
    assert det["kv_bytes_per_token"] == per_token
    cap = 81920 * 2 ** 20                            # nvidia-smi's total for an A100 80GB, MiB
    assert tokens == pytest.approx((0.9 * cap - det["weights"] - det["activations"]) / per_token)
    assert 12e9 < det["weights"] < 14e9              # 6.7e9 parameters in 16 bits


def test_full_cache_preempts_and_recomputes_and_everything_still_finishes():
    sc = km.Scenario(**A100)
    w = Workload(rate_rps=50, prompt=200, output=LogNormal(1500, 800, hi=3000), requests=300,
                 seed=1)
    tight = serve(sc, w, kv_cache_fraction=0.25, max_batch=256)
    roomy = serve(sc, w, kv_cache_fraction=0.9, max_batch=24)     # 24 x 3200 tokens fit
    assert tight.summary["preemptions"] > 0 and roomy.summary["preemptions"] == 0
    assert tight.summary["preemptions"] == tight.requests["preemptions"].sum()
    r = tight.requests
    assert r["finish_s"].notna().all() and (r["finish_s"] > r["first_token_s"]).all()
    assert tight.summary["kv_utilisation_max"] <= 1.0 + 1e-12


def test_admission_waits_when_the_cache_is_full():
    sc = km.Scenario(**A100)
    plan = Plan(sc, ServeConfig(kv_cache_fraction=0.25, max_batched_tokens=20000), 2000, 2100)
    # admission holds a prompt's blocks (half a block of slack) and keeps 1 % free
    n_fit = int((plan.kv_tokens * 0.99 - 8) // 2000)
    res = serve(sc, _equal(n_fit + 5, 2000, 100), kv_cache_fraction=0.25, max_batch=256,
                max_batched_tokens=20000)
    assert 2 < n_fit < 10 and res.steps["prefill_tokens"].iloc[0] == n_fit * 2000
    r = res.requests
    assert (r["start_s"] == 0).sum() == n_fit
    assert (r["queue_s"] > 0).sum() == 5


def test_prefix_cache_skips_the_cached_prefill():
    sc = km.Scenario(**A100)
    n = 40
    tr = Trace(np.arange(n) * 2.0, [1200] * n, [20] * n, prefix_id=[i % 2 for i in range(n)],
               prefix_tokens=[1000] * n)
    off = serve(sc, Workload(trace=tr)).requests
    on = serve(sc, Workload(trace=tr), prefix_cache=True).requests
    assert (on["cached_tokens"].iloc[:2] == 0).all()            # first of each prefix
    assert (on["cached_tokens"].iloc[2:] == 1000).all()
    assert (off["cached_tokens"] == 0).all()
    assert on["ttft_s"].iloc[2:].max() < 0.5 * off["ttft_s"].iloc[2:].min()


def test_chunked_prefill_protects_decode_latency():
    sc = km.Scenario(**A100)
    w = Workload(rate_rps=1.5, prompt=2000, output=200, requests=400, seed=3)
    cont = serve(sc, w, scheduler="continuous", max_batched_tokens=512).summary
    chunk = serve(sc, w, scheduler="chunked", max_batched_tokens=512).summary
    assert chunk["tpot_p99_s"] < cont["tpot_p99_s"]
    steps = serve(sc, w, scheduler="chunked", max_batched_tokens=512).steps
    assert (steps["prefill_tokens"] + steps["decode_seqs"] <= 512).all()


def test_disaggregated_pools_and_kv_transfer():
    sc = km.Scenario(model="llama-2-13b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=2)
    w = Workload(rate_rps=3, prompt=1000, output=100, requests=200, seed=1)
    res = serve(sc, w, disaggregated=(2, 4))
    st = res.steps
    assert set(st["pool"]) == {"prefill", "decode"}
    assert (st.loc[st["pool"] == "prefill", "decode_seqs"] == 0).all()
    assert (st.loc[st["pool"] == "decode", "prefill_tokens"] == 0).all()
    assert set(res.requests["replica"]) == {1, 2}                # decode instances 1 and 2
    assert res.summary["num_gpus"] == 6
    plan = Plan(sc, ServeConfig(), 1000, 1100)
    # 1000 tokens x 40 layers x 5120 x 2 (K, V) x 2 bytes, half on each GPU, over NVLink
    link = plan.P["link"]
    want = 1000 * 40 * 5120 * 2 * 2 / 2 / link["bw"] + link["lat"]
    assert _transfer_s(plan, 1000, 6) == pytest.approx(want)
    first = res.requests["first_token_s"].to_numpy()
    fin = res.requests["finish_s"].to_numpy()
    assert (fin - first >= want + 99 * 0.9 * km.simulate(sc, batch=1).tpot_s).all()


def test_closed_loop_users_send_the_next_request_when_the_last_ends():
    sc = km.Scenario(**A100)
    w = Workload(users=4, think_s=0.5, prompt=100, output=50, requests=40)
    r = serve(sc, w).requests
    for u in range(4):
        mine = r.iloc[u::4]
        nxt = mine["arrival_s"].to_numpy()[1:]
        assert nxt == pytest.approx(mine["finish_s"].to_numpy()[:-1] + 0.5, rel=1e-12)
    assert r["arrival_s"].iloc[:4].eq(0).all()


def test_replicas_split_the_load():
    sc = km.Scenario(**A100)
    w = Workload(rate_rps=20, prompt=300, output=200, requests=1000, seed=4)
    one = serve(sc, w, replicas=1).summary
    two = serve(sc, w, replicas=2)
    assert set(two.requests["replica"]) == {0, 1}
    assert two.summary["num_gpus"] == 2
    assert two.summary["throughput_rps_per_gpu"] == pytest.approx(two.summary["throughput_rps"] / 2)
    assert two.summary["ttft_p90_s"] < one["ttft_p90_s"]


@pytest.mark.parametrize("bad, match", [
    (lambda: Workload(rate_rps=-1), "rate_rps=-1"),
    (lambda: Workload(requests=0), "requests=0"),
    (lambda: Workload(arrival="bursty"), "arrival='bursty'"),
    (lambda: Trace([], [], []), "empty"),
    (lambda: Workload(prompt=0), "prompt=0"),
])
def test_bad_workloads_name_the_field(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_request_longer_than_the_kv_cache_is_refused():
    sc = km.Scenario(**A100)
    w = Workload(trace=Trace([0.0, 1.0], [100, 4_000_000], [10, 10]))
    with pytest.raises(ValueError, match=r"request 1: .* do not fit the KV cache"):
        serve(sc, w)


@pytest.mark.parametrize("kw, match", [
    (dict(scheduler="chunky"), "closest: chunked"),
    (dict(max_batch=0), "max_batch=0"),
    (dict(kv_cache_fraction=1.5), "kv_cache_fraction=1.5"),
    (dict(disaggregated=(3, 4)), "multiple of the plan"),
    (dict(slo="ttft_p90=abc"), "ttft_p90"),
    (dict(slo={"latency_p90_s": 1}), "latency_p90_s"),
])
def test_bad_options_name_the_field(kw, match):
    sc = km.Scenario(**dict(A100, tp=1))
    if "disaggregated" in kw:
        sc = km.Scenario(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="nvlink", tp=2)
    with pytest.raises(ValueError, match=match):
        serve(sc, Workload(requests=5), **kw)


def test_summary_slo_and_goodput():
    sc = km.Scenario(**A100)
    w = Workload(rate_rps=5, prompt=300, output=100, requests=300, seed=1)
    res = serve(sc, w, slo="ttft_p90=1,tpot_p99=0.05")
    s = res.summary
    assert s["slo"] == {"ttft_p90_s": 1.0, "tpot_p99_s": 0.05}
    assert s["slo_measured"]["ttft_p90_s"] == pytest.approx(
        np.percentile(res.requests["ttft_s"], 90))
    ok = (res.requests["ttft_s"] <= 1.0) & (res.requests["tpot_s"] <= 0.05)
    assert s["goodput_rps"] == pytest.approx(ok.sum() / s["duration_s"])
    assert isinstance(res, ServingResult) and "req/s" in repr(res)
    strict = serve(sc, w, slo={"ttft_p50_s": 1e-4}).summary
    assert strict["slo_met"] is False and strict["goodput_rps"] == 0


def test_reserve_admission_never_preempts_and_holds_whole_requests():
    sc = km.Scenario(**A100)
    w = Workload(rate_rps=50, prompt=200, output=LogNormal(1500, 800, hi=3000), requests=200,
                 seed=1)
    res = serve(sc, w, kv_cache_fraction=0.25, admission="reserve")
    assert res.summary["preemptions"] == 0
    plan = Plan(sc, ServeConfig(kv_cache_fraction=0.25), 200, 3200)
    # at every pass the admitted requests' prompt + output fit the cache
    r = res.requests
    for t in res.steps["time_s"].iloc[::50]:
        live = r[(r["start_s"] <= t) & (r["finish_s"] > t)]
        assert (live["prompt_tokens"] + live["output_tokens"]).sum() <= plan.kv_tokens
    with pytest.raises(ValueError, match="admission='greedy'"):
        serve(sc, w, admission="greedy")


def test_one_token_answers_have_no_tpot_and_meet_a_tpot_slo():
    sc = km.Scenario(**A100)
    res = serve(sc, Workload(rate_rps=2, prompt=100, output=1, requests=20),
                slo={"tpot_p99_s": 0.01})
    assert res.requests["tpot_s"].isna().all()
    assert (res.requests["finish_s"] == res.requests["first_token_s"]).all()
    assert res.summary["slo_met"] and res.summary["goodput_rps"] > 0
