"""Scenario rules (issue 12 items 11, 13, 14, 19, 20): bounds, booleans, immutability,
plain values, and the rules gemm shares with Scenario."""
import dataclasses
import json

import numpy as np
import pytest

import kernel_model as km
from kernel_model import rules
from kernel_model.sweep import sweep


# ---- item 11: documented upper bounds; huge values are a clear ValueError ----------------------
@pytest.mark.parametrize("field, value", [("batch", 10 ** 20), ("prompt_tokens", 10 ** 29),
                                          ("output_tokens", 2 ** 64), ("tp", 2 ** 40),
                                          ("micro_batches", 2_000_000), ("layers", 10 ** 12),
                                          ("gpus_per_node", 10 ** 9)])
def test_huge_integers_are_a_value_error_naming_the_bound(field, value):
    with pytest.raises(ValueError) as e:
        km.Scenario(**{field: value})
    msg = str(e.value)
    assert f"{field}={value!r}" in msg and "<=" in msg
    hi = {**rules.INT_BOUNDS, **rules.OPTIONAL_INT_BOUNDS}[field][1]
    assert f"{hi:,}" in msg
    with pytest.raises(ValueError, match=field):
        sweep({field: [1, value]}, progress=False)


def test_bounds_are_documented_and_the_largest_allowed_values_simulate_finite():
    doc = km.Scenario.__doc__
    for text in ("1..65,536", "1..1,048,576", "1..10,000,000", "1..10,000"):
        assert text in doc
    r = km.simulate(batch=1_048_576, prompt_tokens=10_000_000, output_tokens=10_000_000,
                    micro_batches=1024)
    assert np.isfinite([r.tpot_s, r.ttft_s, r.e2e_s, r.memory["total"]]).all()
    assert json.loads(r.to_json())["tpot_s"] == r.tpot_s


# ---- item 13: booleans take only bools ----------------------------------------------------------
@pytest.mark.parametrize("value", ["false", "no", 0, 1, None, 1.0])
def test_flash_attention_accepts_only_bools(value):
    with pytest.raises(ValueError, match="flash_attention=.*must be True or False"):
        km.Scenario(flash_attention=value)
    with pytest.raises(ValueError, match="flash_attention"):
        sweep({"flash_attention": [True, value]}, progress=False)


def test_numpy_bool_is_a_bool():
    assert km.Scenario(flash_attention=np.bool_(False)).flash_attention is False


@pytest.mark.parametrize("kw", [{"backward": "no"}, {"backward": 0}, {"gather": "true"}])
def test_gemm_booleans_accept_only_bools(kw):
    with pytest.raises(ValueError, match=f"{next(iter(kw))}=.*True or False"):
        km.gemm(1024, 1024, 1024, tp=2, **kw)


# ---- item 14: immutable scenarios ---------------------------------------------------------------
def test_scenario_is_immutable_and_replace_validates():
    sc = km.Scenario(model="llama-2-70b", tp=8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sc.tp = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        sc.prompt_tokens = -100
    with pytest.raises(ValueError, match="tp=3 does not divide"):
        sc.replace(tp=3)
    eff = km.Scenario(efficiency={"hbm_efficiency": 0.7})
    with pytest.raises(TypeError, match="immutable"):
        eff.efficiency["hbm_efficiency"] = 5.0
    assert sc.replace(tp=4).tp == 4 and sc.tp == 8
    assert dataclasses.replace(sc, batch=4).batch == 4
    with pytest.raises(ValueError, match="batch=-1"):
        dataclasses.replace(sc, batch=-1)


def test_caller_dict_changes_do_not_reach_a_scenario():
    d = {"hbm_efficiency": 0.7}
    sc = km.Scenario(efficiency=d)
    d["hbm_efficiency"] = 0.1
    assert sc.efficiency["hbm_efficiency"] == 0.7
    assert km.simulate(sc).tpot_s == km.simulate(efficiency={"hbm_efficiency": 0.7}).tpot_s


def test_scenario_model_still_edits_a_frozen_scenario():
    m = km.ScenarioModel(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)
    before = m.result.tpot_s
    m.batch = 16
    assert m.scenario.batch == 16 and m.result.tpot_s != before
    assert hash(m.scenario) == hash(km.Scenario(**m.to_dict()))


# ---- item 19: numpy scalars normalised, JSON-ready, round trip of every accepted input ----------
def test_numpy_scalars_become_python_values_and_json_round_trips():
    sc = km.Scenario(layers=np.int64(4), batch=np.int32(8), tp=np.uint8(2), overlap=np.float64(0.5),
                     flash_attention=np.bool_(True), model=np.str_("llama-2-7b"),
                     efficiency={"hbm_efficiency": np.float32(0.5)})
    d = sc.to_dict()
    assert type(d["layers"]) is int and type(d["batch"]) is int and type(d["tp"]) is int
    assert type(d["overlap"]) is float and type(d["flash_attention"]) is bool
    assert type(d["model"]) is str and type(d["efficiency"]["hbm_efficiency"]) is float
    back = km.Scenario.from_dict(json.loads(json.dumps(d)))
    assert back == sc and km.simulate(back).tpot_s == km.simulate(sc).tpot_s


def test_a_scenario_built_from_a_model_spec_round_trips():
    spec = dataclasses.replace(km.get_model("llama-2-7b"), name="my-7b", layers=20)
    sc = km.Scenario(model=spec, tp=2)
    d = json.loads(json.dumps(sc.to_dict()))
    assert d["model"]["name"] == "my-7b" and d["model"]["layers"] == 20
    back = km.Scenario.from_dict(d)
    assert back == sc and back.model_spec() == spec
    assert km.simulate(back).tpot_s == km.simulate(sc).tpot_s
    odd = dataclasses.replace(spec, name="np-7b", layers=np.int64(12), hidden=np.int32(4096))
    assert json.loads(json.dumps(km.Scenario(model=odd).to_dict()))["model"]["layers"] == 12
    df = sweep({"model": [spec, "llama-2-7b"], "tp": [1, 2]}, progress=False)
    assert list(df["model"]) == ["my-7b", "my-7b", "llama-2-7b", "llama-2-7b"]
    assert df["tpot_s"].iloc[1] == pytest.approx(km.simulate(sc).tpot_s, rel=1e-12)


# ---- item 20: gemm and Scenario share the rules --------------------------------------------------
@pytest.mark.parametrize("value", [-8, None, 0, "8", 10 ** 6])
def test_gemm_gpus_per_node_follows_the_scenario_rule(value):
    with pytest.raises(ValueError) as g:
        km.gemm(4096, 4096, 4096, tp=2, gpus_per_node=value)
    with pytest.raises(ValueError) as s:
        km.Scenario(gpus_per_node=value)
    assert str(g.value) == str(s.value)


def test_in_switch_on_a100_is_refused_by_gemm_as_by_scenario():
    with pytest.raises(ValueError) as g:
        km.gemm(4096, 4096, 4096, gpu="a100-sxm-80gb", tp=2, algorithm="in_switch")
    with pytest.raises(ValueError) as s:
        km.Scenario(gpu="a100-sxm-80gb", interconnect="nvlink", tp=2, algorithm="in_switch")
    assert str(g.value) == str(s.value) and "in-switch" in str(g.value)
    ok = km.gemm(4096, 4096, 4096, gpu="h100-sxm", tp=2, algorithm="in_switch")
    assert ok.comm_s > 0


def test_gemm_tp_follows_the_scenario_bound():
    with pytest.raises(ValueError, match="tp=100000 .*<= 65,536"):
        km.gemm(4096, 4096, 4096, tp=100_000)


def test_optimize_bounds_num_gpus_and_answers_fast():
    import time
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"num_gpus=1000000000000 .*<= 1,000,000"):
        km.optimize("llama-2-7b", "h100-sxm", 10 ** 12)
    res = km.optimize("llama-2-7b", "h100-sxm", 2 ** 19, batch=(1,), weight_bits=(16,),
                      kv_bits=(16,), overlap=(0.0,))
    assert time.perf_counter() - t0 < 30 and res.best is not None
    from kernel_model.optimize import _divisors
    assert _divisors(360) == [d for d in range(1, 361) if 360 % d == 0]


@pytest.mark.parametrize("kw", [dict(model="mixtral-8x7b", gpu="h100-sxm", interconnect="nvlink4",
                                     tp=2, ep=2, batch=4, pp=2, micro_batches=2),
                                dict(model="llama-2-70b", interconnect="none"),
                                dict(model="deepseek-v2-lite", batch=3, layers=5)])
def test_allowed_values_by_the_vectorised_rules_equal_trying_each_scenario(kw):
    from kernel_model.model_object import CANDIDATES, _valid
    m = km.ScenarioModel(**kw)
    for name in ("tp", "ep", "pp", "micro_batches", "algorithm"):
        base = m._values()
        if name == "tp":
            base["ep"] = 1
        assert m.allowed(name) == [v for v in CANDIDATES[name] if _valid({**base, name: v})]


def test_weight_format_and_bits_one_rule_for_scenario_and_sweep():
    sc = km.Scenario(weight_format="awq")                    # alias; 16 -> the format's bits
    assert sc.weight_format == "int4-awq" and sc.weight_bits == 4
    with pytest.raises(ValueError, match=r"weight_bits=8 disagrees with weight_format='int4-awq'"):
        km.Scenario(weight_format="int4-awq", weight_bits=8)
    with pytest.raises(ValueError, match="weight_format=3"):
        km.Scenario(weight_format=3)
    df = sweep({"weight_format": ["auto", "fp8"], "weight_bits": [16, 8, 4]}, progress=False)
    assert list(df["valid"]) == [True, True, True, True, True, False]
    assert "disagrees" in df["error"].iloc[5]
    for i in range(5):
        row = df.iloc[i]
        r = km.simulate(weight_format=row["weight_format"], weight_bits=int(row["weight_bits"]))
        assert row["tpot_s"] == pytest.approx(r.tpot_s, rel=1e-12)
