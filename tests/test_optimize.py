"""kernel_model.optimize: the best plan and the Pareto front, checked by brute force."""
import itertools
import time

import numpy as np
import pytest

import kernel_model as km
from kernel_model.optimize import optimize, pareto_front

SMALL = dict(batch=(1, 8, 64), weight_bits=(16, 8), kv_bits=(16,), overlap=(0.0, 0.5))


def brute_force(model, gpu, n, link, batch, weight_bits, kv_bits, overlap, replicas=True):
    """Every plan simulate() accepts, with the same rules optimize() states."""
    rows = []
    divs = [d for d in range(1, n + 1) if n % d == 0]
    for tp, pp, ep, b, m, wb, kb, ov in itertools.product(divs, divs, divs, batch, divs,
                                                          weight_bits, kv_bits, overlap):
        if m > pp:
            continue
        try:
            sc = km.Scenario(model=model, gpu=gpu, interconnect=link, tp=tp, pp=pp, ep=ep,
                             batch=b, micro_batches=m, weight_bits=wb, kv_bits=kb, overlap=ov)
        except ValueError:
            continue
        if (n % sc.num_gpus) if replicas else (sc.num_gpus != n):
            continue
        r = km.simulate(sc)
        rows.append((sc, r, r.output_tokens_per_s / sc.num_gpus))
    return rows


@pytest.fixture(scope="module")
def dense4():
    res = optimize("llama-2-13b", "a100-sxm-80gb", 4, **SMALL)
    brute = brute_force("llama-2-13b", "a100-sxm-80gb", 4, "nvlink", **SMALL)
    return res, brute


def test_best_is_the_highest_per_gpu_throughput_that_fits(dense4):
    res, brute = dense4
    feas = [x for x in brute if x[1].fits]
    assert res.valid == len(brute) and res.feasible == len(feas)
    top = max(x[2] for x in feas)
    assert abs(res.best["tokens_per_s_per_gpu"] - top) <= 1e-9 * top
    # the reported plan is real: simulate() of it gives the same numbers
    assert res.result.fits
    assert abs(res.result.tpot_s - res.best["tpot_s"]) <= 1e-9 * res.result.tpot_s
    assert res.best["replicas"] * res.best["num_gpus"] == 4
    assert abs(res.best["total_tokens_per_s"] - res.best["output_tokens_per_s"] * res.best["replicas"]) < 1e-6


def test_pareto_front_is_exactly_the_non_dominated_set(dense4):
    res, brute = dense4
    feas = [(x[1].tpot_s, x[2]) for x in brute if x[1].fits]
    front = list(zip(res.pareto["tpot_s"], res.pareto["tokens_per_s_per_gpu"]))
    tol = 1e-12
    for lat, thr in front:            # nothing strictly better in both
        assert not any(l2 < lat * (1 - tol) and t2 > thr * (1 + tol) for l2, t2 in feas)
    for lat, thr in feas:             # every plan is matched or beaten by a front point
        assert any(l2 <= lat * (1 + tol) and t2 >= thr * (1 - tol) for l2, t2 in front)
    lats = [f[0] for f in front]
    thrs = [f[1] for f in front]
    assert lats == sorted(lats) and thrs == sorted(thrs)
    assert len(front) >= 2


def test_limits_are_respected_and_latency_objective():
    base = optimize("llama-2-13b", "a100-sxm-80gb", 4, **SMALL)
    limit = float(np.median(base.candidates["tpot_s"]))
    res = optimize("llama-2-13b", "a100-sxm-80gb", 4, max_tpot_s=limit, **SMALL)
    assert (res.candidates["tpot_s"] <= limit).all()
    assert res.feasible == int((base.candidates["tpot_s"] <= limit).sum())
    ttft_limit = float(np.median(base.candidates["ttft_s"]))
    res2 = optimize("llama-2-13b", "a100-sxm-80gb", 4, max_ttft_s=ttft_limit, **SMALL)
    assert (res2.candidates["ttft_s"] <= ttft_limit).all() and res2.best["ttft_s"] <= ttft_limit
    lat = optimize("llama-2-13b", "a100-sxm-80gb", 4, objective="latency", **SMALL)
    assert lat.best["tpot_s"] == base.candidates["tpot_s"].min()


def test_no_replicas_uses_every_gpu():
    res = optimize("llama-2-13b", "a100-sxm-80gb", 4, replicas=False, **SMALL)
    assert (res.candidates["num_gpus"] == 4).all() and res.best["replicas"] == 1


def test_moe_searches_expert_parallelism():
    res = optimize("mixtral-8x7b", "h100-sxm", 8, batch=(32,), weight_bits=(16,), kv_bits=(16,),
                   overlap=(0.0,))
    assert (res.candidates["ep"] > 1).any()
    sc = res.scenario
    assert km.simulate(sc).output_tokens_per_s / sc.num_gpus == pytest.approx(
        res.best["tokens_per_s_per_gpu"], rel=1e-9)


def test_infeasible_reports_why():
    res = optimize("llama-3-70b", "rtx-4090", 1, weight_bits=(16,))
    assert res.best is None and res.feasible == 0
    assert "fits in memory" in res.reason and "24 GiB" in res.reason
    assert "no feasible plan" in res.summary()
    tight = optimize("llama-2-13b", "a100-sxm-80gb", 4, max_tpot_s=1e-6, **SMALL)
    assert tight.best is None and "TPOT" in tight.reason


def test_bad_input():
    with pytest.raises(ValueError, match="objective='speed'.*throughput, latency"):
        optimize("llama-2-7b", "h100-sxm", 8, objective="speed")
    with pytest.raises(ValueError, match="num_gpus=0"):
        optimize("llama-2-7b", "h100-sxm", 0)
    with pytest.raises(ValueError, match="max_tpot_s=-1"):
        optimize("llama-2-7b", "h100-sxm", 8, max_tpot_s=-1)
    with pytest.raises(ValueError, match="closest"):
        optimize("llama-2-7", "h100-sxm", 8)
    with pytest.raises(ValueError, match="batch: the list of values is empty"):
        optimize("llama-2-7b", "h100-sxm", 8, batch=())


def test_pareto_front_helper_keeps_first_of_equal_points():
    import pandas as pd
    df = pd.DataFrame({"tpot_s": [2.0, 1.0, 1.0, 3.0, 2.0], "tokens_per_s_per_gpu": [5.0, 1.0, 1.0, 9.0, 4.0],
                       "id": [0, 1, 2, 3, 4]})
    front = pareto_front(df)
    assert list(front["id"]) == [1, 0, 3]


def test_llama3_70b_on_8_gpus_answers_within_two_seconds():
    optimize("llama-2-7b", "h100-sxm", 2)          # warm imports
    t = time.perf_counter()
    res = optimize("llama-3-70b", "h100-sxm", 8)
    dt = time.perf_counter() - t
    assert res.best is not None and res.result.fits
    assert dt <= 2.0, dt
