"""capacity(), plan_capacity(), max_throughput(), validate_saturation()."""
import math

import numpy as np
import pandas as pd
import pytest

import kernel_model as km
from kernel_model.serving import (capacity, plan_capacity, max_throughput,
                                  validate_saturation, Workload, serve)
from kernel_model.serving.saturation import scenario_for_row

A100 = dict(model="llama-2-7b", gpu="a100-sxm-80gb", interconnect="none")
SHAPE = Workload(prompt=300, output=150, requests=400, seed=1)


def test_capacity_meets_the_slo_and_just_above_does_not():
    sc = km.Scenario(**A100)
    slo = {"ttft_p90_s": 0.5, "tpot_p99_s": 0.03}
    c = capacity(sc, SHAPE, slo, tol=0.02)
    assert c.rate_rps > 0 and c.summary["slo_met"]
    above = [r for r, ok, _ in c.points if not ok and r > c.rate_rps]
    assert above and min(above) <= c.rate_rps * 1.03          # bracketed to 2 %
    again = serve(sc, SHAPE.with_rate(c.rate_rps), slo=slo).summary
    assert again["slo_met"]
    curve = c.curve()
    assert list(curve["rate_rps"]) == sorted(curve["rate_rps"])


def test_looser_slo_more_capacity_and_replicas_scale_it():
    sc = km.Scenario(**A100)
    tight = capacity(sc, SHAPE, {"ttft_p90_s": 0.2}, tol=0.02).rate_rps
    loose = capacity(sc, SHAPE, {"ttft_p90_s": 2.0}, tol=0.02).rate_rps
    assert loose > tight > 0
    two = capacity(sc, SHAPE, {"ttft_p90_s": 0.2}, replicas=2, tol=0.02)
    assert two.rate_rps == pytest.approx(2 * tight)
    assert two.rate_rps_per_gpu == pytest.approx(tight)


def test_impossible_slo_gives_zero_with_the_reason():
    sc = km.Scenario(**A100)
    c = capacity(sc, SHAPE, {"tpot_p99_s": 1e-4})
    assert c.rate_rps == 0 and "tpot_p99_s" in c.reason
    with pytest.raises(ValueError, match="open-loop workload"):
        capacity(sc, Workload(users=2))
    with pytest.raises(ValueError, match="tol"):
        capacity(sc, SHAPE, tol=0)


def test_plan_capacity_sorted_with_cost_and_gpus_for_a_target():
    df = plan_capacity("llama-2-7b", "a100-sxm-80gb", 2, slo={"ttft_p90_s": 1.0},
                       workload=SHAPE, weight_bits=(16,), schedulers=("chunked",),
                       gpu_hour_usd=2.0, target_rps=30, requests=300)
    assert set(zip(df["tp"], df["pp"], df["replicas"])) == {(1, 1, 2), (2, 1, 1), (1, 2, 1)}
    g = df["goodput_rps_per_gpu"].to_numpy()
    assert (np.diff(g) <= 0).all()
    r = df.iloc[0]
    assert r["usd_per_m_output_tokens"] == pytest.approx(2.0 * 2 / 3600 / r["output_tokens_per_s"] * 1e6)
    per_replica = r["capacity_rps"] / r["replicas"]
    assert r["gpus_for_target"] == math.ceil(30 / per_replica) * r["tp"] * r["pp"]


def test_plan_capacity_refuses_a_model_that_does_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        plan_capacity("llama-2-70b", "rtx-4090", 1, weight_bits=(16,))


def test_max_throughput_limited_by_max_batch_and_by_memory():
    sc = km.Scenario(**A100)
    small = max_throughput(sc, 500, 200, max_batch=8)
    big = max_throughput(sc, 500, 200, max_batch=256)
    assert big > 2 * small
    # the batch can never exceed what the KV cache holds
    _, res = max_throughput(sc, 500, 200, max_batch=4096, detail=True)
    kv = res.config["kv_cache_tokens"]
    assert res.steps["decode_seqs"].max() <= kv / 500
    # max_batch=1: one sequence after another, e2e of simulate(batch=1) each
    one = km.simulate(sc, batch=1, prompt_tokens=500, output_tokens=200)
    assert max_throughput(sc, 500, 200, max_batch=1, requests=20) == pytest.approx(
        200 / one.e2e_s, rel=2e-3)


def _rows():
    base = dict(source="t", trust="B", framework="vLLM 0.9.1", num_gpus=1, interconnect="none",
                weight_bits=16, tp=1, pp=1, ep=1, batch=0, metric="max_output_tokens_per_s")
    return pd.DataFrame([
        dict(base, id="a", gpu="a100-sxm-80gb", model="llama-2-7b", prompt_tokens=500,
             output_tokens=200, value=3000.0, notes="offline; max_batch=64 (Max Num Seqs)"),
        dict(base, id="b", gpu="a100-sxm-80gb", model="llama-2-7b", prompt_tokens=500,
             output_tokens=200, value=2000.0, notes="offline"),
        dict(base, id="c", gpu="no-such-gpu", model="llama-2-7b", prompt_tokens=500,
             output_tokens=200, value=1.0, notes=""),
        dict(base, id="d", gpu="a100-sxm-80gb", model="llama-2-7b", prompt_tokens=500,
             output_tokens=200, value=1.0, notes="", batch=8),
    ])


def test_validate_saturation_rows_errors_and_mape():
    out = validate_saturation(_rows())
    assert list(out["id"]) == ["a", "b", "c"]                 # batch=8 row is not saturation
    a, b, c = out.iloc[0], out.iloc[1], out.iloc[2]
    assert a["max_batch"] == 64 and b["max_batch"] == 2048
    sc, opts = scenario_for_row(_rows().iloc[0])
    assert (sc.model, sc.gpu, sc.interconnect, sc.tp) == ("llama-2-7b", "a100-sxm-80gb", "none", 1)
    assert a["predicted"] == pytest.approx(max_throughput(sc, 500, 200, **opts))
    assert a["admission"] == "optimistic"
    assert a["error"] == pytest.approx(a["predicted"] / 3000.0 - 1)
    assert c["status"].startswith("gpu='no-such-gpu'") and math.isnan(c["predicted"])
    assert out.attrs["mape"] == pytest.approx((abs(a["error"]) + abs(b["error"])) / 2)


def test_saturation_row_scenario_precision():
    row = dict(_rows().iloc[0], weight_bits=8, gpu="h100-sxm")
    sc, opts = scenario_for_row(row)
    assert sc.weight_bits == 8 and sc.kv_bits == 8
    assert opts == {"max_batch": 64, "admission": "optimistic"}
    sc2, _ = scenario_for_row(dict(row, pp=float("nan"), ep=""))
    assert sc2.pp == 1 and sc2.ep == 1
    with pytest.raises(ValueError, match="tp=2.5"):
        scenario_for_row(dict(row, tp=2.5))
    _, trt = scenario_for_row(dict(row, framework="TensorRT-LLM v1.0", notes=""))
    assert trt == {"max_batch": 2048, "admission": "reserve"}


class _FakeClient:
    """The two dask.distributed Client methods the searches use, run in process."""

    def __init__(self):
        self.mapped = 0

    def map(self, fn, items, pure=True):
        items = list(items)
        self.mapped += len(items)
        return [fn(x) for x in items]

    def gather(self, futures):
        return list(futures)


def test_searches_hand_their_work_to_a_dask_client():
    c = _FakeClient()
    kw = dict(slo={"ttft_p90_s": 1.0}, workload=SHAPE, weight_bits=(16,),
              schedulers=("chunked",), requests=200)
    a = plan_capacity("llama-2-7b", "a100-sxm-80gb", 2, client=c, **kw)
    assert c.mapped == 3                                   # the three splits of 2 GPUs
    b = plan_capacity("llama-2-7b", "a100-sxm-80gb", 2, **kw)
    pd.testing.assert_frame_equal(a, b)
    v = validate_saturation(_rows(), client=c)
    assert c.mapped == 6 and v.attrs["mape"] == validate_saturation(_rows()).attrs["mape"]


def test_engine_side_never_imports_widget_libraries(python_ok):
    python_ok("import sys, kernel_model.serving, kernel_model.serving.model_object, "
              "kernel_model.serving.cli; "
              "bad = [m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'bqplot')]; "
              "assert not bad, bad")
