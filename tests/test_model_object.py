"""ScenarioModel: traits mirror Scenario, validation by the engine, one recompute per change."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from traitlets import TraitError

import kernel_model as km
from kernel_model.model_object import FIELDS, ScenarioModel, adapt_changes, adapt_scenario

BIG = dict(model="llama-2-70b", gpu="h100-sxm", interconnect="nvlink4", tp=8)


def results(m):
    seen = []
    m.observe(lambda ch: seen.append(ch.new), "result")
    return seen


def test_one_trait_per_scenario_field_with_the_same_defaults():
    m = ScenarioModel()
    assert set(FIELDS) == set(km.Scenario.field_names())
    assert all(m.has_trait(f) for f in FIELDS)
    assert m.to_scenario() == km.Scenario()


def test_result_is_simulate_of_the_scenario():
    m = ScenarioModel(**BIG)
    ref = km.simulate(km.Scenario(**BIG))
    assert m.result.scenario == ref.scenario
    assert m.result.tpot_s == pytest.approx(ref.tpot_s, rel=1e-12)
    assert m.result.ttft_s == pytest.approx(ref.ttft_s, rel=1e-12)
    assert m.result.breakdown == pytest.approx(ref.breakdown, rel=1e-12)


def test_result_is_read_only():
    m = ScenarioModel()
    with pytest.raises(TraitError):
        m.result = km.simulate(km.Scenario())


def test_each_change_recomputes_once_and_batches_recompute_once():
    m = ScenarioModel(**BIG)
    seen = results(m)
    m.batch = 4
    assert len(seen) == 1 and seen[-1].scenario.batch == 4
    assert seen[-1].tpot_s == pytest.approx(km.simulate(km.Scenario(**BIG, batch=4)).tpot_s)
    with m.hold_trait_notifications():
        m.batch, m.prompt_tokens, m.interconnect = 8, 512, "pcie4_bad"
    assert len(seen) == 2
    sc = seen[-1].scenario
    assert (sc.batch, sc.prompt_tokens, sc.interconnect) == (8, 512, "pcie4_bad")
    m.set(batch=1, overlap=0.5)
    assert len(seen) == 3 and m.result.scenario.overlap == 0.5
    m.batch = 1                                      # no change: no recomputation
    assert len(seen) == 3


def test_invalid_value_raises_names_field_and_keeps_last_good_state():
    m = ScenarioModel(**BIG)
    good = m.result
    seen = results(m)
    with pytest.raises(TraitError) as e:
        m.tp = 3
    msg = str(e.value)
    assert "tp=3" in msg and "64" in msg and "allowed" in msg
    assert m.tp == 8 and m.result is good and seen == []
    assert m.error == msg
    m.batch = 2                                      # a good change clears the message
    assert m.error == "" and m.result.scenario.batch == 2


def test_unknown_model_names_the_closest_presets():
    m = ScenarioModel()
    with pytest.raises(TraitError) as e:
        m.model = "llama-2-71b"
    assert "model='llama-2-71b'" in str(e.value) and "llama-2-70b" in str(e.value)
    assert m.model == "llama-2-7b"


def test_invalid_batch_rolls_back_every_change():
    m = ScenarioModel(**BIG)
    good = m.result
    with pytest.raises(TraitError):
        with m.hold_trait_notifications():
            m.batch = 16
            m.tp = 3
    assert (m.batch, m.tp) == (1, 8) and m.result is good
    with pytest.raises(TraitError):
        m.set(batch=16, tp=3)
    assert (m.batch, m.tp) == (1, 8) and "tp=3" in m.error


def test_changes_that_are_only_valid_together_go_through_set():
    m = ScenarioModel(**BIG)                         # tp=8 does not fit qwen2.5-7b's 4 KV heads
    with pytest.raises(TraitError):
        m.model = "qwen2.5-7b"
    m.set(model="qwen2.5-7b", tp=4)
    assert (m.result.scenario.model, m.result.scenario.tp) == ("qwen2.5-7b", 4)


def test_adapt_moves_dependent_fields_to_the_nearest_valid_value():
    m = ScenarioModel(**BIG)
    notes = m.set(adapt=True, model="qwen2.5-7b")
    spec = km.get_model("qwen2.5-7b")
    valid = [t for t in range(1, 9) if spec.heads % t == 0 and (spec.kv_heads % t == 0 or t % spec.kv_heads == 0)]
    assert m.tp == max(valid) and len(notes) == 1 and "tp 8 ->" in notes[0]
    # requested fields are never altered: an impossible request is refused
    with pytest.raises(TraitError):
        m.set(adapt=True, tp=3)
    assert m.tp == max(valid)
    # micro-batches follow the batch down; ep drops to 1 on a dense model
    m.set(model="mixtral-8x7b", tp=2, ep=8, batch=8, micro_batches=8, pp=2)
    notes = m.set(adapt=True, batch=2, model="llama-2-7b")
    assert (m.micro_batches, m.ep, m.batch) == (2, 1, 2) and len(notes) == 2


def test_adapt_changes_is_pure_and_validates():
    cur = km.Scenario(**BIG).to_dict()
    out, notes = adapt_changes(cur, {"interconnect": "pcie4_bad"})
    assert out == {"interconnect": "pcie4_bad"} and notes == []
    cur["algorithm"] = "in_switch"
    out, notes = adapt_changes(cur, {"interconnect": "pcie4_bad"})
    assert out["algorithm"] == "auto" and notes
    with pytest.raises(ValueError):
        adapt_changes(cur, {"tp": 3})


def test_adapt_scenario_is_the_scenario_adapt_changes_describes():
    cur = km.Scenario(**BIG, algorithm="in_switch").to_dict()
    for ch in ({"model": "qwen2.5-7b"}, {"interconnect": "pcie4_bad"}, {"batch": 4}):
        out, notes = adapt_changes(cur, ch)
        assert adapt_scenario(cur, ch) == km.Scenario(**{**cur, **out})
    assert adapt_scenario(cur, {"model": "qwen2.5-7b"}).tp == 4       # moved: 4 KV heads
    with pytest.raises(ValueError):
        adapt_scenario(cur, {"tp": 3})


def test_allowed_lists_exactly_what_the_engine_accepts():
    m = ScenarioModel(**BIG)
    spec = km.get_model("llama-2-70b")
    expect = [t for t in range(1, 65) if spec.heads % t == 0
              and (spec.kv_heads % t == 0 or t % spec.kv_heads == 0)]
    assert m.allowed("tp") == expect
    assert m.allowed("ep") == [1]                     # dense model
    m.set(model="mixtral-8x7b", tp=2)
    assert m.allowed("ep") == [e for e in (1, 2, 4, 8) if 8 % e == 0]
    assert "in_switch" in m.allowed("algorithm")
    m.interconnect = "pcie4_bad"
    assert "in_switch" not in m.allowed("algorithm")
    m.allowed("ep").append(3)                          # a copy: what is remembered stays intact
    assert 3 not in m.allowed("ep")


def test_aliases_become_canonical_names():
    m = ScenarioModel(model="llama-70b", gpu="h100", interconnect="nvlink3")
    assert (m.model, m.gpu, m.interconnect) == ("llama-2-70b", "h100-sxm", "nvlink")


def test_json_and_scenario_round_trip():
    m = ScenarioModel(**BIG, batch=4, overlap=0.25, efficiency={"hbm_efficiency": 0.7})
    text = m.to_json()
    assert json.loads(text) == m.to_scenario().to_dict()
    back = ScenarioModel.from_json(text)
    assert back.to_scenario() == m.to_scenario()
    assert back.result.tpot_s == pytest.approx(m.result.tpot_s)
    assert ScenarioModel.from_scenario(m.to_scenario()).to_dict() == m.to_dict()
    with pytest.raises(ValueError, match="unknown"):
        ScenarioModel.from_json('{"tpp": 2}')


def test_bad_efficiency_override_is_refused_with_the_closest_name():
    m = ScenarioModel()
    with pytest.raises(TraitError, match="hbm_efficiency"):
        m.efficiency = {"hbm": 0.7}
    assert m.efficiency is None


def test_importing_the_model_object_imports_no_widgets():
    code = ("import sys, kernel_model.model_object as mo; mo.ScenarioModel(tp=2);"
            "print('ipywidgets' in sys.modules or 'bqplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- issue 13 item 5: one stacked evaluate() for the result and the views' plans ---------------
import numpy as np                                                     # noqa: E402
import pandas as pd                                                    # noqa: E402

from kernel_model import stack                                         # noqa: E402

_sim = sys.modules["kernel_model.simulate"]


def _count_evaluate(monkeypatch):
    calls = []
    ev = _sim.evaluate
    monkeypatch.setattr(_sim, "evaluate", lambda P: calls.append(1) or ev(P))
    return calls


def _assert_same_result(a, b):
    da, db = a.to_dict(), b.to_dict()
    assert da.keys() == db.keys()
    for k in da:
        if isinstance(da[k], float):
            assert da[k] == pytest.approx(db[k], rel=1e-12, abs=0), k
        elif isinstance(da[k], dict) and k != "scenario":
            for kk in da[k]:
                assert da[k][kk] == pytest.approx(db[k][kk], rel=1e-12, abs=0), (k, kk)
        else:
            assert da[k] == db[k], k
    assert a.insight == b.insight and a.warnings == b.warnings
    pd.testing.assert_frame_equal(a.timeline, b.timeline, rtol=1e-12, atol=0)


def _tp_plans(sc):
    """Other tensor-parallel degrees of ``sc`` the engine accepts (a scaling view's plans)."""
    return [adapt_scenario(sc.to_dict(), {"tp": t}) for t in (1, 2, 4) if t != sc.tp]


@pytest.mark.parametrize("fields", [
    dict(BIG, batch=4),
    dict(BIG, tp=4, pp=2, micro_batches=1, batch=4),                  # pipeline-bubble warning
    dict(BIG, tp=1, interconnect="none", batch=64, prompt_tokens=4096),   # does not fit
    dict(model="mixtral-8x7b", gpu="h100-sxm", interconnect="nvlink4", tp=2, ep=4),
])
def test_result_built_from_the_stacked_evaluation_equals_simulate(monkeypatch, fields):
    m = ScenarioModel(**fields)
    m.add_plan_provider(_tp_plans)
    calls = _count_evaluate(monkeypatch)
    m.batch = m.batch + 1                                # one change: ONE evaluate()
    assert len(calls) == 1
    ref = km.simulate(m.to_scenario())
    _assert_same_result(m.result, ref)
    assert m.result.fits == ref.fits and m.result.bottleneck == ref.bottleneck
    ev = m.plan_evaluation(_tp_plans, m.result)
    plans = _tp_plans(m.to_scenario())
    assert [s.tp for s in ev["scenarios"]] == [s.tp for s in plans]
    for i, sc in enumerate(plans):
        r = km.simulate(sc)
        assert ev["tpot_s"][i] == pytest.approx(r.tpot_s, rel=1e-12, abs=0)
        assert ev["ttft_s"][i] == pytest.approx(r.ttft_s, rel=1e-12, abs=0)
        assert ev["breakdown"]["communication"][i] == pytest.approx(r.breakdown["communication"], rel=1e-12, abs=0)
        assert bool(ev["fits"][i]) == r.fits and ev["bottleneck"][i] == r.bottleneck


def test_stacked_fields_warn_like_simulate():
    m = ScenarioModel(**dict(BIG, tp=4, pp=2, micro_batches=1, batch=4))
    m.add_plan_provider(_tp_plans)
    m.batch = 2
    assert any("pipeline bubble" in w for w in m.result.warnings)
    assert m.result.warnings == km.simulate(m.to_scenario()).warnings


def test_plan_evaluation_belongs_to_its_result_and_survives_a_refused_change():
    m = ScenarioModel(**BIG)
    assert m.plan_evaluation(_tp_plans, m.result) is None       # not registered yet
    m.add_plan_provider(_tp_plans)
    m.batch = 2
    res, ev = m.result, m.plan_evaluation(_tp_plans, m.result)
    assert ev is not None and [s.tp for s in ev["scenarios"]] == [1, 2, 4]
    with pytest.raises(TraitError):
        m.tp = 3                                             # 3 does not divide 64 heads
    assert m.result is res and m.plan_evaluation(_tp_plans, res) is ev
    m.batch = 3
    assert m.plan_evaluation(_tp_plans, res) is None           # an older result: not these rows
    assert m.plan_evaluation(_tp_plans, m.result) is not None


def test_a_failing_or_removed_provider_leaves_the_result_alone(monkeypatch):
    def broken(sc):
        raise ValueError("no plans today")
    seen = []
    m = ScenarioModel(**BIG)
    m.add_plan_provider(broken)
    m.add_plan_provider(lambda sc: seen.append(sc) or [])
    m.batch = 2
    assert m.error == "" and m.plan_evaluation(broken, m.result) is None
    _assert_same_result(m.result, km.simulate(m.to_scenario()))
    assert len(seen) == 1
    m.remove_plan_provider(broken)
    m.add_plan_provider(_tp_plans)
    m.remove_plan_provider(_tp_plans)
    calls = _count_evaluate(monkeypatch)
    m.batch = 3                                    # only simulate's own (scalar) evaluate
    assert len(calls) == 1 and m.result.scenario.batch == 3 and len(seen) == 2


def test_row_takes_one_row_of_nested_stacked_arrays_as_python_scalars():
    tree = {"a": np.array([1.5, 2.5]), "b": (np.array([True, False]), 3.0),
            "c": [np.array([4, 5]), "x"], "d": {"e": np.float64(7.0), "f": np.array(6.0)}}
    r = stack.row(tree, 1)
    assert r == {"a": 2.5, "b": (False, 3.0), "c": [5, "x"], "d": {"e": 7.0, "f": 6.0}}
    assert type(r["a"]) is float and type(r["b"][0]) is bool and type(r["c"][0]) is int
    assert type(r["b"]) is tuple and type(r["c"]) is list and type(r["d"]["f"]) is float


def test_a_non_finite_stacked_row_falls_back_to_simulate(monkeypatch):
    import dataclasses
    from kernel_model import model_object as mo
    real = mo.result_of
    monkeypatch.setattr(mo, "result_of", lambda ev, i: dataclasses.replace(real(ev, i), tpot_s=float("nan")))
    m = ScenarioModel(**BIG)
    m.add_plan_provider(_tp_plans)
    m.batch = 2
    assert m.result.tpot_s == km.simulate(m.to_scenario()).tpot_s > 0
    assert m.plan_evaluation(_tp_plans, m.result) is not None
